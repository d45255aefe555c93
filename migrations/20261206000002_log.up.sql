-- The transparency log: every statement the registry records (release, measurement-set status
-- change, addendum, rebuild report) gets one entry, in the same transaction as the statement.
-- The Merkle tree over `leaf_hash` is rebuilt in memory from these rows; checkpoints are signed
-- only over rows committed here, so a served checkpoint never names an entry the database lacks.

-- The next index. Appenders update this one row first, which serialises them: an appender waits
-- until the previous one commits or rolls back, so committed indexes never have gaps.
CREATE TABLE log_head (
    singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    size       bigint NOT NULL CHECK (size >= 0)
);
INSERT INTO log_head (size) VALUES (0);

CREATE TABLE log_entries (
    index             bigint PRIMARY KEY CHECK (index >= 0),
    kind              text NOT NULL CHECK (kind IN ('release', 'status', 'addendum', 'rebuild')),
    statement_sha256  text NOT NULL CHECK (statement_sha256 ~ '^[0-9a-f]{64}$'),
    -- The exact leaf bytes (mpr.dev/log-entry/v1 text); served in entry bundles.
    entry             bytea NOT NULL CHECK (length(entry) BETWEEN 1 AND 65535),
    -- RFC 6962 leaf hash of `entry`, stored so a restart loads the tree without rehashing.
    leaf_hash         bytea NOT NULL CHECK (length(leaf_hash) = 32),
    appended_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX log_entries_statement ON log_entries (statement_sha256);

-- Signed notes (C2SP tlog-checkpoint) with the log's own signature line.
CREATE TABLE log_checkpoints (
    size        bigint PRIMARY KEY CHECK (size >= 0),
    body        text NOT NULL CHECK (length(body) BETWEEN 1 AND 4096),
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Witness cosignature lines (C2SP tlog-cosignature), verified before they are stored.
CREATE TABLE log_cosignatures (
    checkpoint_size  bigint NOT NULL REFERENCES log_checkpoints (size),
    witness_name     text NOT NULL CHECK (length(witness_name) BETWEEN 1 AND 256),
    witness_key_id   text NOT NULL CHECK (witness_key_id ~ '^[0-9a-f]{8}$'),
    line             text NOT NULL CHECK (length(line) BETWEEN 1 AND 1024),
    received_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (checkpoint_size, witness_name, witness_key_id)
);

-- History cannot be rewritten from SQL either: no update, delete or truncate of log rows.
CREATE FUNCTION log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'transparency-log rows can only be added; publish a new statement instead';
END $$;

CREATE TRIGGER log_entries_append_only BEFORE UPDATE OR DELETE ON log_entries
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_entries_no_truncate BEFORE TRUNCATE ON log_entries
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_checkpoints_append_only BEFORE UPDATE OR DELETE ON log_checkpoints
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_checkpoints_no_truncate BEFORE TRUNCATE ON log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_cosignatures_append_only BEFORE UPDATE OR DELETE ON log_cosignatures
    FOR EACH ROW EXECUTE FUNCTION log_append_only();
CREATE TRIGGER log_cosignatures_no_truncate BEFORE TRUNCATE ON log_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();

-- The head only grows, and is never removed.
CREATE FUNCTION log_head_grows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'UPDATE' OR NEW.size < OLD.size THEN
        RAISE EXCEPTION 'log_head only grows: % refused', TG_OP
            USING ERRCODE = 'insufficient_privilege';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER log_head_grows BEFORE UPDATE OR DELETE ON log_head
    FOR EACH ROW EXECUTE FUNCTION log_head_grows();
CREATE TRIGGER log_head_no_truncate BEFORE TRUNCATE ON log_head
    FOR EACH STATEMENT EXECUTE FUNCTION log_append_only();

-- Wakes the integrator (and every server sharing the database) when entries or cosignatures commit.
CREATE FUNCTION log_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('mpr_log_changed', TG_TABLE_NAME);
    RETURN NULL;
END $$;
CREATE TRIGGER log_entries_changed AFTER INSERT ON log_entries
    FOR EACH STATEMENT EXECUTE FUNCTION log_changed();
CREATE TRIGGER log_checkpoints_changed AFTER INSERT ON log_checkpoints
    FOR EACH STATEMENT EXECUTE FUNCTION log_changed();
CREATE TRIGGER log_cosignatures_changed AFTER INSERT ON log_cosignatures
    FOR EACH STATEMENT EXECUTE FUNCTION log_changed();
