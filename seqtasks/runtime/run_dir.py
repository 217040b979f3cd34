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
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqtasks.errors import CheckpointError


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
