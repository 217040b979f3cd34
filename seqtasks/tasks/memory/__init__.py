"""Long-range memory task `memory`: the adding problem and the copy task on seqtasks' recurrent cells.

Modules: `data` (seeded generators), `model` (RecurrentStack + Dense, copy accuracy metric), `export`
(SavedModel), `config` (the config schema), `task` (the runtime's `memory` task). The sweep over cells and
sequence lengths is `seqtasks.diagnostics.sweep`.
"""

from seqtasks.tasks.memory.config import MemoryConfig
from seqtasks.tasks.memory.task import MemoryTask

__all__ = ["MemoryConfig", "MemoryTask"]
