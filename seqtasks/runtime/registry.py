"""Task registry: each task (text generation, sentiment, ...) registers a `Task` subclass under its name.

Built-in tasks are imported lazily, so `seqtasks train --task sentiment` does not import the speech code. A
third-party task registers itself with `@register_task` (or `register_task(MyTask)`) before the CLI runs.
"""

from __future__ import annotations

import difflib
import importlib

from seqtasks.errors import ConfigError
from seqtasks.runtime.task import Task

# name -> module that defines and registers it (named, not imported: the runtime does not depend on the tasks)
BUILTIN_TASKS = {
    "text_generation": "seqtasks.tasks.text_generation",
    "sentiment": "seqtasks.tasks.sentiment",
    "translation": "seqtasks.tasks.translation",
    "speech_recognition": "seqtasks.tasks.speech_recognition",
    "memory": "seqtasks.tasks.memory",
    "language_identification": "seqtasks.tasks.language_identification",
}

_REGISTRY: dict[str, type[Task]] = {}


def register_task(cls: type[Task]) -> type[Task]:
    """Class decorator: makes `cls` available as `--task cls.name`."""
    if not (isinstance(cls, type) and issubclass(cls, Task)) or not cls.name:
        raise TypeError(f"register_task needs a Task subclass with a `name`, got {cls!r}")
    _REGISTRY[cls.name] = cls
    return cls


def get_task(name: str) -> type[Task]:
    """The Task class registered under `name` (importing the built-in module on first use)."""
    if name not in _REGISTRY and name in BUILTIN_TASKS:
        try:
            importlib.import_module(BUILTIN_TASKS[name])
        except ModuleNotFoundError as e:
            if e.name and BUILTIN_TASKS[name].startswith(e.name):
                raise ConfigError(f"task {name!r} is not available in this installation of seqtasks") from None
            raise
    if name not in _REGISTRY:
        names = list_tasks()
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise ConfigError(f"unknown task {name!r} (known tasks: {', '.join(names)}){hint}")
    return _REGISTRY[name]


def list_tasks() -> list[str]:
    """Names of the registered and built-in tasks."""
    return sorted(set(_REGISTRY) | set(BUILTIN_TASKS))


__all__ = ["BUILTIN_TASKS", "get_task", "list_tasks", "register_task"]
