"""The `Preprocessor` protocol: what a task learns from its training data and needs again at inference time.

A preprocessor is the part of a trained run that is not weights: a character vocabulary, a SentencePiece model
and class names, source and target tokenizers, a CTC alphabet. Its life cycle is the same for every task and is
driven by `Task.ready_preprocessor` (see `seqtasks.runtime.task`):

    saved in the run's assets?      -> load(assets, config)                      (resume, evaluate, predict, export)
    else fine-tuning from a run?    -> adapt_from(source_preprocessor, config, data)   (keep ids, maybe extend)
    else                            -> build(config, data)                       (a new run)
    new and this process is chief   -> save(assets)

`build` and `adapt_from` only compute: they write nothing into the run directory (a tool that insists on a file,
like the SentencePiece trainer, works in a temporary folder). They must be deterministic given the config and
the data, because in a multi-worker run every worker builds its own copy and only the chief saves it; the
copies must be equal so that every worker encodes the data the same way.

Example:

```python
class CharPreprocessor(Preprocessor):
    files = ("chars.json",)

    def __init__(self, chars):
        self.chars = chars

    @classmethod
    def build(cls, config, data):
        return cls(sorted(set(data)))

    def save(self, directory):
        write_text_atomic(directory / "chars.json", json.dumps(self.chars))

    @classmethod
    def load(cls, directory, config):
        return cls(json.loads((directory / "chars.json").read_text()))
```
"""

from __future__ import annotations

import abc
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

if TYPE_CHECKING:
    from seqtasks.config import RunConfig

P = TypeVar("P", bound="Preprocessor")


class Preprocessor(abc.ABC):
    """Base class of every task's preprocessor.

    Class attributes:
        files: The file names (relative to the run's assets folder) that `save` writes and `load` reads; a
            run holds a saved preprocessor when all of them exist. Empty for a task without preprocessing state.
    """

    files: ClassVar[tuple[str, ...]] = ()

    @classmethod
    @abc.abstractmethod
    def build(cls: type[P], config: RunConfig, data: Any) -> P:
        """A new preprocessor learnt from the training `data` (whatever the task's `prepare_data` passes)."""

    @classmethod
    def adapt_from(cls: type[P], source: P, config: RunConfig, data: Any) -> P:
        """The preprocessor of a fine-tuning run, from the `source` run's and the new training `data`.

        The default keeps the source's unchanged, so every id the trained weights know keeps its meaning. A task
        that can extend its vocabulary overrides this under the policy its config documents.
        """
        return source

    @abc.abstractmethod
    def save(self, directory: Path) -> None:
        """Writes `files` into `directory` (which exists); each file replaced atomically."""

    @classmethod
    @abc.abstractmethod
    def load(cls: type[P], directory: Path, config: RunConfig) -> P:
        """The preprocessor saved in `directory` (every name of `files` exists there)."""

    @classmethod
    def is_saved(cls, directory: Path) -> bool:
        """Whether `directory` holds every file of a saved preprocessor of this class."""
        return all((directory / name).is_file() for name in cls.files)


class StatelessPreprocessor(Preprocessor):
    """The preprocessor of a task that learns nothing from its data (e.g. generated data): nothing to save."""

    @classmethod
    def build(cls, config: RunConfig, data: Any) -> StatelessPreprocessor:
        return cls()

    def save(self, directory: Path) -> None:
        pass

    @classmethod
    def load(cls, directory: Path, config: RunConfig) -> StatelessPreprocessor:
        return cls()


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Writes `data` to `path` through a temporary sibling and a rename, so a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def write_text_atomic(path: Path, text: str) -> Path:
    """`write_bytes_atomic` of UTF-8 `text`."""
    return write_bytes_atomic(path, text.encode("utf-8"))


__all__ = ["Preprocessor", "StatelessPreprocessor", "write_bytes_atomic", "write_text_atomic"]
