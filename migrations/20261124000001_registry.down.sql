DROP TABLE IF EXISTS publisher_tokens, manifest_signatures, manifests, signing_keys, measurement_values,
    measurements, measurement_sets, artifacts, builds, releases, recipes, sources;
DROP FUNCTION IF EXISTS registry_changed();
