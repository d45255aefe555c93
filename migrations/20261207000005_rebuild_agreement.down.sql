DROP VIEW IF EXISTS release_rebuild_agreement;
