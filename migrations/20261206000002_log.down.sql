DROP TABLE IF EXISTS log_cosignatures, log_checkpoints, log_entries, log_head;
DROP FUNCTION IF EXISTS log_changed(), log_head_grows(), log_append_only();
