"""seqtasks.losses."""
