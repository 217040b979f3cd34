"""Language identification (sentence -> language): the README's "Adding a task" example, from shared pieces only."""

from seqtasks.tasks.language_identification.task import LanguageIdentificationTask

__all__ = ["LanguageIdentificationTask"]
