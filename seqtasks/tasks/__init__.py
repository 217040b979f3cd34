"""The built-in tasks, one package each with the same modules: `config`, `data`, `preprocessor`, `model`, `task`,
`export` (see the README's "Adding a task").

`Task`, `register_task` and the registry live in the runtime (`seqtasks.runtime.task`,
`seqtasks.runtime.registry`) and are re-exported here for task authors.
"""

from seqtasks.runtime.preprocessor import Preprocessor, StatelessPreprocessor
from seqtasks.runtime.registry import BUILTIN_TASKS, get_task, list_tasks, register_task
from seqtasks.runtime.task import Task, copy_matching_weights, weight_key

__all__ = [
    "BUILTIN_TASKS",
    "Preprocessor",
    "StatelessPreprocessor",
    "Task",
    "copy_matching_weights",
    "get_task",
    "list_tasks",
    "register_task",
    "weight_key",
]
