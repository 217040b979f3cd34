"""Sentiment classification: labelled text -> sentencepiece -> bidirectional recurrent encoder -> classes.

Modules: `data` (readers, IMDB, validation split, bucketed tf.data), `preprocessor` (in-graph cleaning,
tokenization, truncation), `model` (the classifier), `export` (raw-string SavedModel), `task` (the runtime's
`sentiment` task and its config).
"""

from seqtasks.tasks.sentiment.task import SentimentConfig, SentimentTask

__all__ = ["SentimentConfig", "SentimentTask"]
