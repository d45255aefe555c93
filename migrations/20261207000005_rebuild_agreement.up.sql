-- k of n in one place: per release, how many rebuilders (distinct registered keys) reported, and
-- how many of them agree with the official build in their latest report. The release pages and
-- the wallets' measurement queries (min_rebuilds=k) read it.
CREATE VIEW release_rebuild_agreement AS
SELECT r.id AS release_id,
       (SELECT count(DISTINCT b.builder_name) FROM builds b
         WHERE b.release_id = r.id AND b.builder_kind = 'rebuilder') AS rebuilders,
       (SELECT count(DISTINCT b.builder_name) FROM builds b
         WHERE b.release_id = r.id AND b.builder_kind = 'rebuilder' AND b.status = 'GOOD'
           AND NOT EXISTS (SELECT 1 FROM builds later WHERE later.release_id = r.id
                           AND later.builder_name = b.builder_name AND later.id > b.id)) AS agreeing
FROM releases r;
