-- The registry's data: what was released, how it was built, what the hardware will report for it,
-- who vouches for it (rebuilders, signatures), and who may write.
-- Names of platforms, statuses and registers are checked here as well as in the API, so that no
-- other writer (psql, a future worker) can store a value the wallets do not understand.

CREATE TABLE sources (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    repository  text NOT NULL CHECK (length(repository) BETWEEN 1 AND 512),
    commit_sha  text NOT NULL CHECK (commit_sha ~ '^[0-9a-f]{40}$'),
    UNIQUE (repository, commit_sha)
);

CREATE TABLE recipes (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    sha256  text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    -- The recipe's text when the publisher sent it; rebuilders need it, the digest binds it.
    body    text CHECK (length(body) <= 65536)
);

CREATE TABLE releases (
    id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    version            text NOT NULL UNIQUE CHECK (length(version) BETWEEN 1 AND 64),
    package            text NOT NULL CHECK (length(package) BETWEEN 1 AND 128),
    source_id          bigint NOT NULL REFERENCES sources (id),
    recipe_id          bigint NOT NULL REFERENCES recipes (id),
    source_date_epoch  bigint NOT NULL CHECK (source_date_epoch >= 0),
    created_at         timestamptz NOT NULL DEFAULT now()
);

-- rebuilderd's vocabulary: GOOD all artifacts identical to the official build, BAD at least one
-- missing, different or extra, FAIL the build did not complete, UNKNOWN not compared.
CREATE TABLE builds (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    release_id     bigint NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    builder_kind   text NOT NULL CHECK (builder_kind IN ('official', 'rebuilder')),
    builder_name   text NOT NULL CHECK (builder_name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    status         text NOT NULL CHECK (status IN ('GOOD', 'BAD', 'FAIL', 'UNKNOWN')),
    record_sha256  text CHECK (record_sha256 ~ '^[0-9a-f]{64}$'),
    summary        text CHECK (length(summary) <= 4096),
    reported_at    timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX builds_one_official_per_release ON builds (release_id) WHERE builder_kind = 'official';
CREATE INDEX builds_release ON builds (release_id);

CREATE TABLE artifacts (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    build_id  bigint NOT NULL REFERENCES builds (id) ON DELETE CASCADE,
    name      text NOT NULL CHECK (length(name) BETWEEN 1 AND 256),
    size      bigint NOT NULL CHECK (size >= 0),
    sha256    text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    sha384    text CHECK (sha384 ~ '^[0-9a-f]{96}$'),
    -- A rebuilder's artifact compared with the official one of the same name.
    status    text NOT NULL CHECK (status IN ('GOOD', 'BAD', 'UNKNOWN')),
    UNIQUE (build_id, name)
);

-- Several sets can be valid at once (a rollout across vCPU counts or CPU generations); wallets accept
-- any active set. A deprecated set keeps its values for audit.
CREATE TABLE measurement_sets (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    release_id     bigint NOT NULL REFERENCES releases (id) ON DELETE CASCADE,
    name           text NOT NULL CHECK (name ~ '^[a-z0-9][a-z0-9._-]{0,63}$'),
    status         text NOT NULL CHECK (status IN ('active', 'deprecated')),
    created_at     timestamptz NOT NULL DEFAULT now(),
    deprecated_at  timestamptz,
    CHECK ((status = 'deprecated') = (deprecated_at IS NOT NULL)),
    UNIQUE (release_id, name)
);

CREATE TABLE measurements (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    set_id      bigint NOT NULL REFERENCES measurement_sets (id) ON DELETE CASCADE,
    platform    text NOT NULL CHECK (platform IN
                    ('aws-nitro', 'sev-snp', 'tdx', 'gcp-confidential-space', 'azure-cvm')),
    -- What the values depend on (vCPUs, vCPU type, VMM, firmware digest, ...): validated per platform
    -- by the API, matched by wallets with containment (@>).
    parameters  jsonb NOT NULL DEFAULT '{}' CHECK (jsonb_typeof(parameters) = 'object'),
    UNIQUE (set_id, platform, parameters)
);
CREATE INDEX measurements_parameters ON measurements USING gin (parameters jsonb_path_ops);

-- One row per register, so that "which release has this PCR0?" is an index lookup.
CREATE TABLE measurement_values (
    measurement_id  bigint NOT NULL REFERENCES measurements (id) ON DELETE CASCADE,
    register        text NOT NULL CHECK (register ~ '^[A-Za-z][A-Za-z0-9_]{0,31}$'),
    value           text NOT NULL CHECK (value ~ '^[0-9a-f]+$' AND length(value) BETWEEN 2 AND 256),
    PRIMARY KEY (measurement_id, register)
);
CREATE INDEX measurement_values_value ON measurement_values (value);

CREATE TABLE signing_keys (
    fingerprint    text PRIMARY KEY CHECK (fingerprint ~ '^[0-9A-F]{40}([0-9A-F]{24})?$'),
    armored        text NOT NULL,
    user_ids       text[] NOT NULL,
    algorithm      text NOT NULL,
    created_at     timestamptz NOT NULL,
    expires_at     timestamptz,
    registered_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz
);

-- The manifest is written once, with its release, from the release's own rows: the bytes that are
-- signed never change afterwards.
CREATE TABLE manifests (
    release_id  bigint PRIMARY KEY REFERENCES releases (id) ON DELETE CASCADE,
    body        bytea NOT NULL,
    sha256      text NOT NULL CHECK (sha256 ~ '^[0-9a-f]{64}$')
);

CREATE TABLE manifest_signatures (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    release_id       bigint NOT NULL REFERENCES manifests (release_id) ON DELETE CASCADE,
    key_fingerprint  text NOT NULL REFERENCES signing_keys (fingerprint),
    signature        text NOT NULL,
    signed_at        timestamptz NOT NULL,
    verified_at      timestamptz NOT NULL DEFAULT now(),
    UNIQUE (release_id, key_fingerprint)
);

CREATE TABLE publisher_tokens (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name          text NOT NULL UNIQUE CHECK (name ~ '^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$'),
    -- SHA-256 of the token: a leaked database does not leak write access.
    token_sha256  bytea NOT NULL UNIQUE CHECK (length(token_sha256) = 32),
    created_at    timestamptz NOT NULL DEFAULT now(),
    revoked_at    timestamptz
);

-- Every write tells the servers sharing this database to drop their cached answers.
CREATE FUNCTION registry_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mpr_registry_changed', TG_TABLE_NAME);
    RETURN NULL;
END $$;

CREATE TRIGGER releases_changed AFTER INSERT OR UPDATE OR DELETE ON releases
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
CREATE TRIGGER builds_changed AFTER INSERT OR UPDATE OR DELETE ON builds
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
CREATE TRIGGER measurement_sets_changed AFTER INSERT OR UPDATE OR DELETE ON measurement_sets
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
CREATE TRIGGER signing_keys_changed AFTER INSERT OR UPDATE OR DELETE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
CREATE TRIGGER manifest_signatures_changed AFTER INSERT OR UPDATE OR DELETE ON manifest_signatures
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
