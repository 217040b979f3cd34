"""Writing an export (SavedModel, LiteRT or ONNX) without ever deleting what seqtasks did not write.

A task describes its export as a `ServingModule` (`Task.serving_module(model)`: a `tf.Module` holding the model,
its assets and the signature functions that take raw inputs); the runtime saves it. Every export (the end of `seqtasks train`, `seqtasks export`, the recipes' export step) goes through
`export_atomically`: the task writes the SavedModel into a temporary folder next to the target, a marker file
(`seqtasks_export.json`, naming the run) is added, and the folder is renamed into place. So a failed export
leaves the target as it was, and a reader never sees half a SavedModel.

What may be replaced:
    * a missing or empty folder: always;
    * a previous seqtasks export of the same run (its marker names the run, or it is the run's own export
      folder): always, as re-running `train` or `export` expects;
    * a previous seqtasks export of another run (or one written before markers existed): only with `force`;
    * anything else (a file, a folder with other contents, e.g. `--out .`): never, not even with `force`.
"""

from __future__ import annotations

import abc
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import tensorflow as tf

from seqtasks.errors import ConfigError
from seqtasks.portable.spec import FORMATS, QUANTIZATIONS

if TYPE_CHECKING:
    import keras

    from seqtasks.runtime.task import Task

MARKER = "seqtasks_export.json"
# What `tf.saved_model.save` writes (plus the marker): a folder holding only these is a previous export.
_SAVEDMODEL_ENTRIES = frozenset({"saved_model.pb", "saved_model.pbtxt", "variables", "assets", "fingerprint.pb", MARKER})
# What a LiteRT/ONNX export holds (plus `*.onnx` files): see `seqtasks.portable.convert`.
_PORTABLE_ENTRIES = frozenset({"model.tflite", "export.json", "assets", "seqtasks_portable.py", MARKER})


class ServingModule(tf.Module, metaclass=abc.ABCMeta):
    """What a task exports: a `tf.Module` that tracks the model and its assets (vocabularies as
    `tf.saved_model.Asset` or constants) and whose `signatures()` are the SavedModel's serving signatures. The
    saved module loads with `tf.saved_model.load` in a process without seqtasks.
    """

    @abc.abstractmethod
    def signatures(self) -> dict[str, Any]:
        """Signature name -> `tf.function` with an input signature (or a concrete function)."""


def save_serving_module(module: ServingModule, export_dir: str | os.PathLike) -> Path:
    """`tf.saved_model.save` of `module` with its `signatures()` (no safety checks: see `export_atomically`)."""
    export_dir = Path(export_dir)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(module, str(export_dir), signatures=module.signatures())
    return export_dir


def read_marker(path: Path) -> dict[str, Any] | None:
    """The marker of a seqtasks export at `path`, or None when `path` is none."""
    try:
        data = json.loads((path / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def is_previous_export(path: Path) -> bool:
    """Whether `path` is a folder holding a SavedModel and nothing else (with or without a seqtasks marker), or
    a LiteRT/ONNX export of seqtasks (its export.json, model, assets, runner and marker, nothing else)."""
    if not path.is_dir():
        return False
    if (path / "saved_model.pb").is_file():
        return all(entry.name in _SAVEDMODEL_ENTRIES for entry in path.iterdir())
    if (path / "export.json").is_file() and (path / MARKER).is_file():
        return all(entry.name in _PORTABLE_ENTRIES or entry.suffix == ".onnx" for entry in path.iterdir())
    return False


def check_export_target(target: Path, run_root: Path, own_dir: Path | None = None, force: bool = False) -> None:
    """Raises a one-line ConfigError unless `export_atomically` may write `target` (see the module docstring)."""
    if target.exists() and not target.is_dir():
        raise ConfigError(f"export target {target} exists and is not a folder; pass another --out path")
    if not target.exists() or not any(target.iterdir()):
        return
    if target == run_root or run_root.is_relative_to(target):
        raise ConfigError(f"export folder {target} holds the run directory {run_root}; pass another --out path")
    if not is_previous_export(target):
        raise ConfigError(
            f"export folder {target} is not empty and is not a seqtasks export, so it is left alone "
            "(not even --force empties it); pass a new or empty --out path"
        )
    marker = read_marker(target) or {}
    if force or marker.get("run") == str(run_root) or (own_dir is not None and target == own_dir):
        return
    source = f"run {marker['run']}" if marker.get("run") else "an unknown run"
    raise ConfigError(
        f"export folder {target} holds an export of {source}; pass --force to replace it, or another --out path"
    )


def export_atomically(
    task: Task,
    model: keras.Model,
    target: str | os.PathLike,
    force: bool = False,
    fmt: str | None = None,
    quantize: str | None = None,
    own_dir: Path | None = None,
) -> Path:
    """Writes the export of `model` to `target` via a temporary sibling folder and a rename: the SavedModel of
    `task.serving_module(model)`, or the LiteRT/ONNX conversion of `task.portable_export(model)` (checked against
    TensorFlow in its own runtime, see `seqtasks.portable.convert`).

    Args:
        task: The trained run's task (its `run` is named in the marker).
        model: The model to export.
        target: The export folder (created; its parent too).
        force: Also replace a previous seqtasks export of another run.
        fmt: `"saved_model"`, `"litert"` or `"onnx"` (None = the config's `export.format`).
        quantize: `"none"`, `"float16"` or `"dynamic_int8"` for litert/onnx (None = the config's `export.quantize`).
        own_dir: The run's own folder for this export, replaced without `force` (None = `export.dir`).

    Returns:
        The export folder (absolute).

    Raises:
        ConfigError: `target` may not be replaced (one line naming it and what to do instead).
    """
    fmt = fmt or task.config.export.format
    quantize = quantize or (task.config.export.quantize if fmt != "saved_model" else "none")
    if fmt not in FORMATS:
        raise ConfigError(f"unknown export format {fmt!r}; use one of {', '.join(FORMATS)}")
    if quantize not in QUANTIZATIONS:
        raise ConfigError(f"unknown export quantization {quantize!r}; use one of {', '.join(QUANTIZATIONS)}")
    if fmt == "saved_model" and quantize != "none":
        raise ConfigError(f"--quantize {quantize} applies to --format litert or onnx, not saved_model")
    target = Path(target).expanduser().resolve()
    run_root = task.run.root
    own_dir = own_dir or task.run.export_dir(task.config.export.dir).resolve()
    check_export_target(target, run_root, own_dir, force)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.export-", dir=target.parent))
    old = None
    try:
        written = staging / "model"
        if fmt == "saved_model":
            save_serving_module(task.serving_module(model), written)
        else:
            from seqtasks.portable.convert import write_portable

            write_portable(task.portable_export(model), written, fmt, quantize, task.name)
        marker = {"format": "seqtasks-export", "task": task.name, "run": str(run_root), "export_format": fmt}
        (written / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if target.exists() and any(target.iterdir()):
            # A previous export (checked above) is moved aside, not deleted, until the new one is in place.
            old = staging / "previous"
            os.replace(target, old)
        os.replace(written, target)  # rename(2) also replaces an empty folder
    except BaseException:
        if old is not None and old.exists() and not target.exists():
            os.replace(old, target)
        raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target
