"""seqtasks.decoding."""
