-- Back to manifests and a status column; status changes and addenda stay visible only as their
-- effect (a deprecated set, an extra set).
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
INSERT INTO manifests (release_id, body, sha256)
SELECT release_id, body, sha256 FROM statements WHERE kind = 'release';
INSERT INTO manifest_signatures (release_id, key_fingerprint, signature, signed_at, verified_at)
SELECT st.release_id, s.key_fingerprint, s.signature, s.signed_at, s.verified_at
FROM statement_signatures s JOIN statements st ON st.id = s.statement_id AND st.kind = 'release'
ORDER BY s.id;
CREATE TRIGGER manifest_signatures_changed AFTER INSERT OR UPDATE OR DELETE ON manifest_signatures
    FOR EACH STATEMENT EXECUTE FUNCTION registry_changed();

ALTER TABLE measurement_sets ADD COLUMN status text, ADD COLUMN deprecated_at timestamptz;
ALTER TABLE measurement_sets DISABLE TRIGGER USER;
UPDATE measurement_sets s SET status = v.status,
    deprecated_at = CASE WHEN v.status = 'deprecated' THEN st.created_at END
FROM measurement_set_status v LEFT JOIN statements st ON st.id = v.status_statement_id
WHERE v.set_id = s.id;
ALTER TABLE measurement_sets ENABLE TRIGGER USER;
ALTER TABLE measurement_sets ALTER COLUMN status SET NOT NULL,
    ADD CHECK (status IN ('active', 'deprecated')),
    ADD CHECK ((status = 'deprecated') = (deprecated_at IS NOT NULL));

DROP VIEW measurement_set_status;
DROP TABLE set_status_changes;
ALTER TABLE measurement_sets DROP COLUMN statement_id;
DROP TABLE statement_signatures, statements;
DROP FUNCTION statements_are_immutable();
