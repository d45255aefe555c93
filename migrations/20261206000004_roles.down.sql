-- Back to one kind of token, unattributed rows, and history that cascades and can be edited.
DROP TRIGGER IF EXISTS releases_immutable ON releases;
DROP TRIGGER IF EXISTS builds_immutable ON builds;
DROP TRIGGER IF EXISTS artifacts_immutable ON artifacts;
DROP TRIGGER IF EXISTS measurement_sets_immutable ON measurement_sets;
DROP TRIGGER IF EXISTS measurements_immutable ON measurements;
DROP TRIGGER IF EXISTS measurement_values_immutable ON measurement_values;
DROP TRIGGER IF EXISTS sources_immutable ON sources;
DROP TRIGGER IF EXISTS recipes_immutable ON recipes;
DROP TRIGGER IF EXISTS publisher_tokens_revocation_only ON publisher_tokens;
DROP TRIGGER IF EXISTS signing_keys_update_only ON signing_keys;
DROP TRIGGER IF EXISTS releases_no_truncate ON releases;
DROP TRIGGER IF EXISTS sources_no_truncate ON sources;
DROP TRIGGER IF EXISTS recipes_no_truncate ON recipes;
DROP TRIGGER IF EXISTS builds_no_truncate ON builds;
DROP TRIGGER IF EXISTS artifacts_no_truncate ON artifacts;
DROP TRIGGER IF EXISTS measurement_sets_no_truncate ON measurement_sets;
DROP TRIGGER IF EXISTS measurements_no_truncate ON measurements;
DROP TRIGGER IF EXISTS measurement_values_no_truncate ON measurement_values;
DROP TRIGGER IF EXISTS statements_no_truncate ON statements;
DROP TRIGGER IF EXISTS statement_signatures_no_truncate ON statement_signatures;
DROP TRIGGER IF EXISTS set_status_changes_no_truncate ON set_status_changes;
DROP TRIGGER IF EXISTS publisher_tokens_no_truncate ON publisher_tokens;
DROP TRIGGER IF EXISTS signing_keys_no_truncate ON signing_keys;
DROP FUNCTION IF EXISTS mpr_refuse_change(), mpr_refuse_source_change(), mpr_refuse_recipe_change(),
    mpr_token_revocation_only(), mpr_key_update_only();

ALTER TABLE builds DROP CONSTRAINT builds_release_id_fkey,
    ADD CONSTRAINT builds_release_id_fkey FOREIGN KEY (release_id) REFERENCES releases (id) ON DELETE CASCADE;
ALTER TABLE artifacts DROP CONSTRAINT artifacts_build_id_fkey,
    ADD CONSTRAINT artifacts_build_id_fkey FOREIGN KEY (build_id) REFERENCES builds (id) ON DELETE CASCADE;
ALTER TABLE measurement_sets DROP CONSTRAINT measurement_sets_release_id_fkey,
    ADD CONSTRAINT measurement_sets_release_id_fkey FOREIGN KEY (release_id) REFERENCES releases (id) ON DELETE CASCADE;
ALTER TABLE measurements DROP CONSTRAINT measurements_set_id_fkey,
    ADD CONSTRAINT measurements_set_id_fkey FOREIGN KEY (set_id) REFERENCES measurement_sets (id) ON DELETE CASCADE;
ALTER TABLE measurement_values DROP CONSTRAINT measurement_values_measurement_id_fkey,
    ADD CONSTRAINT measurement_values_measurement_id_fkey
        FOREIGN KEY (measurement_id) REFERENCES measurements (id) ON DELETE CASCADE;

DROP INDEX IF EXISTS builds_one_report_per_signature;
ALTER TABLE builds DROP CONSTRAINT IF EXISTS builds_rebuilder_is_its_key;
ALTER TABLE builds DROP COLUMN created_by_token, DROP COLUMN signed_by_key, DROP COLUMN signed_at,
    DROP COLUMN report, DROP COLUMN report_signature;
ALTER TABLE measurement_sets DROP COLUMN created_by_token;
ALTER TABLE releases DROP COLUMN created_by_token;
ALTER TABLE signing_keys DROP COLUMN role, DROP COLUMN registered_by_token;
ALTER TABLE publisher_tokens DROP COLUMN role, DROP COLUMN created_by_token;
