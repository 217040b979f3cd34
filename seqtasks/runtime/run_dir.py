"""The run directory: one folder per training run, with a fixed layout that every command knows.

    RUN/
      config.yaml      resolved configuration (what was actually used)
      task.txt         the task name, so `evaluate/predict/export --workdir RUN` need no --task
      assets/          the task's preprocessing state (vocabulary, tokenizer model, class names)
      checkpoints/     periodic checkpoints (tf.train.CheckpointManager; 'checkpoint' index written last)
      best/            the best model on the validation metric
      tensorboard/     TensorBoard event files (train/ and validation/)
      metrics.json     training history and final evaluation
      curves.png       training and validation curves
      export/          SavedModel (default export folder)

A run is recorded (config.yaml, task.txt) together with its first checkpoint. Until then a training attempt
is pending (`begin_attempt`): when it fails, `abandon_attempt` removes what it added, so a refused or failed
first attempt leaves no settings, vocabulary or logs behind that a retry would pick up.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from seqtasks.errors import CheckpointError, on_failure

if TYPE_CHECKING:
    from seqtasks.config import RunConfig


@dataclass(frozen=True)
class RunDir:
    """Paths inside a run directory (nothing is created until a writer asks for it)."""

    root: Path

    @classmethod
    def at(cls, path: str | os.PathLike) -> RunDir:
        return cls(Path(path).expanduser().resolve())

    @property
    def config(self) -> Path:
        return self.root / "config.yaml"

    @property
    def task_file(self) -> Path:
        return self.root / "task.txt"

    @property
    def assets(self) -> Path:
        return self.root / "assets"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def best(self) -> Path:
        return self.root / "best"

    @property
    def tensorboard(self) -> Path:
        return self.root / "tensorboard"

    @property
    def metrics(self) -> Path:
        return self.root / "metrics.json"

    @property
    def curves(self) -> Path:
        return self.root / "curves.png"

    def export_dir(self, configured: str) -> Path:
        path = Path(configured).expanduser()
        return path if path.is_absolute() else self.root / path

    def has_checkpoint(self) -> bool:
        """Whether the run has a periodic checkpoint (the 'checkpoint' index file is written last)."""
        return (self.checkpoints / "checkpoint").is_file()

    def record(self, config: RunConfig, task_name: str) -> None:
        """Writes config.yaml and task.txt (atomically), once the run is known to train with `config`."""
        from seqtasks.config import save_config

        save_config(config, self.config, header=f"seqtasks {task_name} run config (resolved)")
        tmp = self.task_file.with_name(self.task_file.name + ".tmp")
        tmp.write_text(task_name + "\n", encoding="utf-8")
        os.replace(tmp, self.task_file)

    def task_name(self) -> str | None:
        """The task recorded in this run, or None for a folder that is not a run yet."""
        if self.task_file.is_file():
            return self.task_file.read_text(encoding="utf-8").strip() or None
        return None

    def require_trained(self) -> None:
        """Raises a one-line CheckpointError unless this folder holds a trained model."""
        if not self.root.is_dir():
            raise CheckpointError(
                f"run directory {self.root} does not exist; pass the --workdir of a `seqtasks train` run"
            )
        if not (self.best / "checkpoint").is_file() and not (self.checkpoints / "checkpoint").is_file():
            raise CheckpointError(
                f"run directory {self.root} holds no trained model (no best/ or checkpoints/); "
                "train first with `seqtasks train --workdir ...`"
            )


def write_json_atomic(path: Path, data: Any) -> None:
    """Writes JSON next to `path` and renames it into place, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n", encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path, default: Any = None) -> Any:
    if not path.is_file():
        return default
    return json.loads(path.read_text(encoding="utf-8"))


# Run root -> the paths it held when a training attempt began (None: the folder did not exist).
_pending: dict[Path, frozenset[Path] | None] = {}
# Folders of the layout that an attempt may add files to; any other folder that was there is left alone.
_LAYOUT_DIRS = ("assets", "checkpoints", "best", "tensorboard", "splits", "export")


def _listing(root: Path) -> frozenset[Path]:
    paths = set(root.iterdir())
    for name in _LAYOUT_DIRS:
        if (root / name).is_dir() and not (root / name).is_symlink():
            paths.update((root / name).rglob("*"))
    return frozenset(paths)


def begin_attempt(run: RunDir) -> None:
    """Notes what `run` holds before a training attempt, when it has no checkpoint yet (see the module doc)."""
    if not run.has_checkpoint():
        _pending[run.root] = _listing(run.root) if run.root.is_dir() else None


def commit_attempt(run: RunDir) -> None:
    """The attempt wrote its first checkpoint: what it wrote is the run now."""
    _pending.pop(run.root, None)


def abandon_attempt(run: RunDir) -> None:
    """Removes what a pending attempt on `run` added (nothing that was there before it began)."""
    if run.root not in _pending:
        return
    before = _pending.pop(run.root)
    if run.has_checkpoint() or not run.root.is_dir():
        return
    if before is None:
        shutil.rmtree(run.root, ignore_errors=True)  # the attempt created the folder: all of it is its own
        return
    for path in sorted(_listing(run.root) - before, reverse=True):  # children before their folders
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)


def abandon_pending_attempts() -> None:
    """`abandon_attempt` for every pending attempt of this process (an entry point's error handler calls it)."""
    for root in list(_pending):
        abandon_attempt(RunDir(root))


on_failure(abandon_pending_attempts)
