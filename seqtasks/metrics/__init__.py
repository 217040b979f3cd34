"""seqtasks.metrics."""
