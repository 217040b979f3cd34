"""Sentiment classification: labelled text -> sentencepiece -> bidirectional recurrent encoder -> classes.

Modules: `config` (the run config), `data` (TSV/CSV/folder readers, validation split, bucketed tf.data),
`preprocessor` (the sentencepiece model and class names; in-graph cleaning, tokenization, truncation), `model`
(the classifier), `task` (the runtime's `sentiment` task), `export` (the raw-string SavedModel). IMDB itself is
found by `seqtasks.data.imdb`.
"""

from seqtasks.tasks.sentiment.config import SentimentConfig
from seqtasks.tasks.sentiment.task import SentimentTask

__all__ = ["SentimentConfig", "SentimentTask"]
