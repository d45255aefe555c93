-- Everything the registry vouches for is a statement: the exact bytes of an in-toto Statement v1
-- (a release, a measurement set's status change, a measurement-set addendum), stored once and
-- never edited. A measurement set's status is no longer a column anyone can UPDATE: it is derived
-- from the latest status statement about the set.

CREATE TABLE statements (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    -- legacy-set-status: a deprecation made before statements existed (unsigned, kept so that a
    -- set deprecated then is not active again after the upgrade).
    kind        text NOT NULL CHECK (kind IN ('release', 'set-status', 'set-addendum', 'legacy-set-status')),
    release_id  bigint NOT NULL REFERENCES releases (id),
    sha256      text NOT NULL UNIQUE CHECK (sha256 ~ '^[0-9a-f]{64}$'),
    body        bytea NOT NULL CHECK (length(body) <= 1048576),
    created_at  timestamptz NOT NULL DEFAULT now(),
    -- The publisher token that submitted it; NULL for rows carried over from before statements.
    created_by  text
);
CREATE UNIQUE INDEX statements_one_release_statement ON statements (release_id) WHERE kind = 'release';
CREATE INDEX statements_release ON statements (release_id);

-- Detached OpenPGP signatures over a statement's exact bytes, each verified against a registered
-- key when it arrived. Status changes and addenda arrive with at least one.
CREATE TABLE statement_signatures (
    id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    statement_id     bigint NOT NULL REFERENCES statements (id),
    key_fingerprint  text NOT NULL REFERENCES signing_keys (fingerprint),
    signature        text NOT NULL,
    signed_at        timestamptz NOT NULL,
    verified_at      timestamptz NOT NULL DEFAULT now(),
    submitted_by     text,
    UNIQUE (statement_id, key_fingerprint)
);

-- The release's manifest becomes its release statement (its bytes, digest and signatures as signed).
INSERT INTO statements (kind, release_id, sha256, body, created_at)
SELECT 'release', m.release_id, m.sha256, m.body, r.created_at
FROM manifests m JOIN releases r ON r.id = m.release_id ORDER BY m.release_id;
INSERT INTO statement_signatures (statement_id, key_fingerprint, signature, signed_at, verified_at)
SELECT st.id, s.key_fingerprint, s.signature, s.signed_at, s.verified_at
FROM manifest_signatures s JOIN statements st ON st.release_id = s.release_id AND st.kind = 'release'
ORDER BY s.id;

-- The statement a set comes from: its release's, or the addendum that added it.
ALTER TABLE measurement_sets ADD COLUMN statement_id bigint REFERENCES statements (id);
-- Other migrations may forbid updates of recorded rows; this one fills in a new column.
ALTER TABLE measurement_sets DISABLE TRIGGER USER;
UPDATE measurement_sets s SET statement_id = st.id
FROM statements st WHERE st.release_id = s.release_id AND st.kind = 'release';
ALTER TABLE measurement_sets ENABLE TRIGGER USER;
ALTER TABLE measurement_sets ALTER COLUMN statement_id SET NOT NULL;
CREATE INDEX measurement_sets_statement ON measurement_sets (statement_id);

-- One row per status statement, in the set's order: the highest sequence is the current status,
-- and two statements can never claim the same place.
CREATE TABLE set_status_changes (
    statement_id  bigint PRIMARY KEY REFERENCES statements (id),
    set_id        bigint NOT NULL REFERENCES measurement_sets (id),
    sequence      integer NOT NULL CHECK (sequence >= 1),
    status        text NOT NULL CHECK (status IN ('active', 'deprecated')),
    reason        text NOT NULL CHECK (length(reason) BETWEEN 1 AND 1024),
    UNIQUE (set_id, sequence)
);

WITH legacy AS (
    SELECT s.id AS set_id, s.release_id,
           convert_to(json_build_object('legacy', 'deprecated before statements existed; unsigned',
                                        'version', r.version, 'measurement_set', s.name,
                                        'status', 'deprecated', 'deprecated_at', s.deprecated_at)::text || E'\n',
                      'UTF8') AS body,
           s.deprecated_at
    FROM measurement_sets s JOIN releases r ON r.id = s.release_id
    WHERE s.status = 'deprecated'
), inserted AS (
    INSERT INTO statements (kind, release_id, sha256, body, created_at)
    SELECT 'legacy-set-status', release_id, encode(sha256(body), 'hex'), body, deprecated_at FROM legacy
    RETURNING id, sha256
)
INSERT INTO set_status_changes (statement_id, set_id, sequence, status, reason)
SELECT i.id, l.set_id, 1, 'deprecated', 'deprecated before statements existed (unsigned)'
FROM inserted i JOIN legacy l ON encode(sha256(l.body), 'hex') = i.sha256;

ALTER TABLE measurement_sets DROP COLUMN status, DROP COLUMN deprecated_at;

-- The current status of every set: that of its latest status statement, else active.
CREATE VIEW measurement_set_status AS
SELECT s.id AS set_id,
       coalesce(c.status, 'active') AS status,
       c.statement_id AS status_statement_id,
       coalesce(c.sequence, 0) AS sequence
FROM measurement_sets s
LEFT JOIN LATERAL (SELECT * FROM set_status_changes c WHERE c.set_id = s.id
                   ORDER BY c.sequence DESC LIMIT 1) c ON true;

DROP TABLE manifest_signatures, manifests;

-- Statements are the record: written once, never changed or removed.
CREATE FUNCTION statements_are_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mpr: % on % refused: recorded history is immutable (a change is a new statement)',
        TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'restrict_violation';
END $$;
CREATE TRIGGER statements_immutable BEFORE UPDATE OR DELETE ON statements
    FOR EACH ROW EXECUTE FUNCTION statements_are_immutable();
CREATE TRIGGER statement_signatures_immutable BEFORE UPDATE OR DELETE ON statement_signatures
    FOR EACH ROW EXECUTE FUNCTION statements_are_immutable();
CREATE TRIGGER set_status_changes_immutable BEFORE UPDATE OR DELETE ON set_status_changes
    FOR EACH ROW EXECUTE FUNCTION statements_are_immutable();

CREATE TRIGGER statements_changed AFTER INSERT ON statements
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
CREATE TRIGGER statement_signatures_changed AFTER INSERT ON statement_signatures
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
CREATE TRIGGER set_status_changes_changed AFTER INSERT ON set_status_changes
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();
