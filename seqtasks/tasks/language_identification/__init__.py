"""Language identification: which language is a sentence in? The README's "Adding a task" example, built only
from shared pieces (runtime, data, bucketing, layers, metrics) in the same modules as every task."""

from seqtasks.tasks.language_identification.task import LanguageIdentificationTask

__all__ = ["LanguageIdentificationTask"]
