"""Errors that seqtasks raises for bad user input.

Each error carries a one-line message that names the offending file or key and says how to fix it, so that a
user never has to read a TensorFlow traceback to learn that a path was wrong.
"""

from __future__ import annotations

import sys
from collections.abc import Callable


class SeqtasksError(Exception):
    """Base class of every user-facing seqtasks error (the CLI prints the message, not a traceback)."""


class ConfigError(SeqtasksError, ValueError):
    """An unknown config key, a value of the wrong type, or an unreadable config file."""


class DataError(SeqtasksError, ValueError):
    """A missing, empty, undecodable or malformed data file, or a dataset that cannot be found."""


class CheckpointError(SeqtasksError, ValueError):
    """A checkpoint or run directory that does not exist or does not fit the model being built."""


class TrainingError(SeqtasksError, RuntimeError):
    """Training cannot go on: a non-finite loss, or no room left to write a checkpoint."""


_failure_hooks: list[Callable[[], None]] = []


def on_failure(hook: Callable[[], None]) -> None:
    """Registers `hook` to run when an entry point ends with an error (e.g. to undo a failed first attempt)."""
    if hook not in _failure_hooks:
        _failure_hooks.append(hook)


def report_errors(main: Callable[[], int]) -> int:
    """Runs an entry point (`seqtasks ...`, `python recipes/<task>.py`) and returns its exit status.

    A `SeqtasksError` is printed as one line `error: ...` on stderr with status 2, never a traceback; Ctrl-C
    gives status 130. Either way the `on_failure` hooks run first.
    """
    try:
        return main()
    except SeqtasksError as e:
        _run_failure_hooks()
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        _run_failure_hooks()
        print("interrupted (the run resumes from its last checkpoint when started again)", file=sys.stderr)
        return 130
    except BaseException:
        _run_failure_hooks()
        raise


def _run_failure_hooks() -> None:
    for hook in _failure_hooks:
        hook()
