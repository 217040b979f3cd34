"""seqtasks.audio."""
