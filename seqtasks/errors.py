"""Errors that seqtasks raises for bad user input.

Each error carries a one-line message that names the offending file or key and says how to fix it, so that a
user never has to read a TensorFlow traceback to learn that a path was wrong.
"""

from __future__ import annotations


class SeqtasksError(Exception):
    """Base class of every user-facing seqtasks error (the CLI prints the message, not a traceback)."""


class ConfigError(SeqtasksError, ValueError):
    """An unknown config key, a value of the wrong type, or an unreadable config file."""


class DataError(SeqtasksError, ValueError):
    """A missing, empty, undecodable or malformed data file, or a dataset that cannot be found."""


class CheckpointError(SeqtasksError, ValueError):
    """A checkpoint or run directory that does not exist or does not fit the model being built."""
