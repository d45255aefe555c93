-- Who may do what, and what nobody may undo.
--
-- Tokens carry a role: admin (registers keys, creates and revokes tokens), publisher (records
-- releases and statements signed by a registered release key), rebuilder (submits rebuild
-- reports signed by a registered rebuilder key). Keys carry a role too, and every row a request
-- writes names the token that wrote it and, where a signature vouches for it, the key.
--
-- Recorded history is immutable here, in the database, not only in the API: the tables below
-- refuse UPDATE, DELETE and TRUNCATE, and the foreign keys between them no longer cascade.
-- The only changes left are revocations (a token's or a key's revoked_at, set once) and a
-- key's certificate update (new expiry, new subkeys, a revocation signature: all self-signed
-- by the same primary key, whose fingerprint cannot change).

-- Tokens ---------------------------------------------------------------------------------------

ALTER TABLE publisher_tokens
    ADD COLUMN role text NOT NULL DEFAULT 'publisher'
        CHECK (role IN ('admin', 'publisher', 'rebuilder')),
    -- NULL: made with database access (`mpr registry token create`, `mpr serve --token-file`).
    ADD COLUMN created_by_token text REFERENCES publisher_tokens (name);
-- Tokens made before roles existed were publisher tokens; new ones must say what they are.
ALTER TABLE publisher_tokens ALTER COLUMN role DROP DEFAULT;

-- Keys -----------------------------------------------------------------------------------------

ALTER TABLE signing_keys
    ADD COLUMN role text NOT NULL DEFAULT 'release' CHECK (role IN ('release', 'rebuilder')),
    ADD COLUMN registered_by_token text REFERENCES publisher_tokens (name);
ALTER TABLE signing_keys ALTER COLUMN role DROP DEFAULT;

-- Who wrote each row ---------------------------------------------------------------------------

ALTER TABLE releases ADD COLUMN created_by_token text REFERENCES publisher_tokens (name);
ALTER TABLE measurement_sets ADD COLUMN created_by_token text REFERENCES publisher_tokens (name);
-- statements and statement_signatures name their token already (created_by, submitted_by).

-- A rebuild report is the exact bytes its rebuilder signed, the signature, and the key that
-- made it; the key is the rebuilder's identity, so builder_name is its fingerprint and "k of n"
-- counts distinct keys. Reports recorded before this migration had no signature and keep their
-- names (the constraint checks new rows only).
ALTER TABLE builds
    ADD COLUMN created_by_token text REFERENCES publisher_tokens (name),
    ADD COLUMN signed_by_key text REFERENCES signing_keys (fingerprint),
    ADD COLUMN signed_at timestamptz,
    ADD COLUMN report bytea CHECK (length(report) <= 1048576),
    ADD COLUMN report_signature text CHECK (length(report_signature) <= 65536);
ALTER TABLE builds ADD CONSTRAINT builds_rebuilder_is_its_key CHECK (
    (builder_kind = 'official' AND signed_by_key IS NULL AND report IS NULL)
    OR (builder_kind = 'rebuilder' AND signed_by_key IS NOT NULL AND builder_name = signed_by_key
        AND signed_at IS NOT NULL AND report IS NOT NULL AND report_signature IS NOT NULL)
) NOT VALID;
-- One report per key and signature time: a replayed report is refused, not counted again.
CREATE UNIQUE INDEX builds_one_report_per_signature
    ON builds (release_id, signed_by_key, signed_at) WHERE signed_by_key IS NOT NULL;

-- No cascading deletes on recorded history ------------------------------------------------------

ALTER TABLE builds DROP CONSTRAINT builds_release_id_fkey,
    ADD CONSTRAINT builds_release_id_fkey FOREIGN KEY (release_id) REFERENCES releases (id);
ALTER TABLE artifacts DROP CONSTRAINT artifacts_build_id_fkey,
    ADD CONSTRAINT artifacts_build_id_fkey FOREIGN KEY (build_id) REFERENCES builds (id);
ALTER TABLE measurement_sets DROP CONSTRAINT measurement_sets_release_id_fkey,
    ADD CONSTRAINT measurement_sets_release_id_fkey FOREIGN KEY (release_id) REFERENCES releases (id);
ALTER TABLE measurements DROP CONSTRAINT measurements_set_id_fkey,
    ADD CONSTRAINT measurements_set_id_fkey FOREIGN KEY (set_id) REFERENCES measurement_sets (id);
ALTER TABLE measurement_values DROP CONSTRAINT measurement_values_measurement_id_fkey,
    ADD CONSTRAINT measurement_values_measurement_id_fkey
        FOREIGN KEY (measurement_id) REFERENCES measurements (id);

-- Immutability ---------------------------------------------------------------------------------

CREATE FUNCTION mpr_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'mpr: % on % refused: recorded history is immutable', TG_OP, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'record a new row (a new release, report or signed statement) instead of changing one';
END $$;

-- sources and recipes are shared by releases and written with INSERT ... ON CONFLICT DO UPDATE:
-- an update that changes nothing is let through, and a recipe's missing text may be filled in
-- once with text whose SHA-256 is the recipe's digest (the digest is what releases bind).
CREATE FUNCTION mpr_refuse_source_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW IS NOT DISTINCT FROM OLD THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'mpr: % on sources refused: recorded history is immutable', TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'a release names its source by repository and commit; record a new one instead';
END $$;

CREATE FUNCTION mpr_refuse_recipe_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.id = OLD.id AND NEW.sha256 = OLD.sha256
        AND (NEW.body IS NOT DISTINCT FROM OLD.body
             OR (OLD.body IS NULL
                 AND encode(sha256(convert_to(NEW.body, 'UTF8')), 'hex') = NEW.sha256)) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'mpr: % on recipes refused: recorded history is immutable', TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'only a missing recipe text may be added, and only text with the recipe''s SHA-256';
END $$;

-- A token may only be revoked, once.
CREATE FUNCTION mpr_token_revocation_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE' AND OLD.revoked_at IS NULL
        AND (NEW.id, NEW.name, NEW.token_sha256, NEW.created_at, NEW.role, NEW.created_by_token)
            IS NOT DISTINCT FROM
            (OLD.id, OLD.name, OLD.token_sha256, OLD.created_at, OLD.role, OLD.created_by_token) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'mpr: % on publisher_tokens refused: a token can only be revoked (revoked_at, once)', TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'revoke the token and create another one';
END $$;

-- A key may be revoked once, and its certificate updated (the same primary key's new expiry,
-- subkeys or revocation signature); who registered it, when, and for which role stay.
CREATE FUNCTION mpr_key_update_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'UPDATE'
        AND (OLD.revoked_at IS NULL OR NEW.revoked_at IS NOT DISTINCT FROM OLD.revoked_at)
        AND (NEW.fingerprint, NEW.algorithm, NEW.created_at, NEW.registered_at, NEW.role,
             NEW.registered_by_token)
            IS NOT DISTINCT FROM
            (OLD.fingerprint, OLD.algorithm, OLD.created_at, OLD.registered_at, OLD.role,
             OLD.registered_by_token) THEN
        RETURN NEW;
    END IF;
    RAISE EXCEPTION 'mpr: % on signing_keys refused: a registered key can only be revoked or have its certificate updated', TG_OP
        USING ERRCODE = 'integrity_constraint_violation',
              HINT = 'register another key for another role; revocation is final';
END $$;

CREATE TRIGGER releases_immutable BEFORE UPDATE OR DELETE ON releases
    FOR EACH ROW EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER builds_immutable BEFORE UPDATE OR DELETE ON builds
    FOR EACH ROW EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER artifacts_immutable BEFORE UPDATE OR DELETE ON artifacts
    FOR EACH ROW EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER measurement_sets_immutable BEFORE UPDATE OR DELETE ON measurement_sets
    FOR EACH ROW EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER measurements_immutable BEFORE UPDATE OR DELETE ON measurements
    FOR EACH ROW EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER measurement_values_immutable BEFORE UPDATE OR DELETE ON measurement_values
    FOR EACH ROW EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER sources_immutable BEFORE UPDATE OR DELETE ON sources
    FOR EACH ROW EXECUTE FUNCTION mpr_refuse_source_change();
CREATE TRIGGER recipes_immutable BEFORE UPDATE OR DELETE ON recipes
    FOR EACH ROW EXECUTE FUNCTION mpr_refuse_recipe_change();
CREATE TRIGGER publisher_tokens_revocation_only BEFORE UPDATE OR DELETE ON publisher_tokens
    FOR EACH ROW EXECUTE FUNCTION mpr_token_revocation_only();
CREATE TRIGGER signing_keys_update_only BEFORE UPDATE OR DELETE ON signing_keys
    FOR EACH ROW EXECUTE FUNCTION mpr_key_update_only();

-- TRUNCATE deletes without row triggers.
CREATE TRIGGER releases_no_truncate BEFORE TRUNCATE ON releases
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER sources_no_truncate BEFORE TRUNCATE ON sources
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER recipes_no_truncate BEFORE TRUNCATE ON recipes
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER builds_no_truncate BEFORE TRUNCATE ON builds
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER artifacts_no_truncate BEFORE TRUNCATE ON artifacts
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER measurement_sets_no_truncate BEFORE TRUNCATE ON measurement_sets
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER measurements_no_truncate BEFORE TRUNCATE ON measurements
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER measurement_values_no_truncate BEFORE TRUNCATE ON measurement_values
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
-- statements, statement_signatures and set_status_changes refuse UPDATE and DELETE since their
-- own migration; TRUNCATE too from here.
CREATE TRIGGER statements_no_truncate BEFORE TRUNCATE ON statements
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER statement_signatures_no_truncate BEFORE TRUNCATE ON statement_signatures
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER set_status_changes_no_truncate BEFORE TRUNCATE ON set_status_changes
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER publisher_tokens_no_truncate BEFORE TRUNCATE ON publisher_tokens
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
CREATE TRIGGER signing_keys_no_truncate BEFORE TRUNCATE ON signing_keys
    FOR EACH STATEMENT EXECUTE FUNCTION mpr_refuse_change();
