"""Long-range memory task `memory`: the adding problem and the copy task on seqtasks' recurrent cells.

Modules: `config` (the config schema), `data` (seeded generators), `preprocessor` (stateless: nothing is learnt),
`model` (RecurrentStack + Dense, copy accuracy metric), `task` (the runtime's `memory` task), `export`
(MemoryServing, the SavedModel). The sweep over cells and sequence lengths is `seqtasks.diagnostics.sweep`.
"""

from seqtasks.tasks.memory.config import MemoryConfig
from seqtasks.tasks.memory.export import MemoryServing
from seqtasks.tasks.memory.preprocessor import MemoryPreprocessor
from seqtasks.tasks.memory.task import MemoryTask

__all__ = ["MemoryConfig", "MemoryPreprocessor", "MemoryServing", "MemoryTask"]
