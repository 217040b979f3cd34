"""The five commands (`train`, `evaluate`, `predict`, `export`, `finetune`) as library functions.

`seqtasks.cli` only parses arguments and calls these; `recipes/*.py` call the same building blocks in the same
order, written out top to bottom. Each function works for every registered task.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import keras
import tensorflow as tf

from seqtasks.config import RunConfig, config_to_dict, load_config, read_yaml
from seqtasks.errors import CheckpointError, ConfigError
from seqtasks.runtime.export import check_export_target, export_atomically
from seqtasks.runtime.optimizers import make_optimizer
from seqtasks.runtime.precision import resolve_policy
from seqtasks.runtime.registry import get_task
from seqtasks.runtime.reporting import History
from seqtasks.runtime.run_dir import (
    RunDir,
    abandon_attempt,
    begin_attempt,
    read_json,
    write_json_atomic,
)
from seqtasks.runtime.strategy import make_strategy
from seqtasks.runtime.task import Task
from seqtasks.runtime.trainer import FitResult, epoch_dataset, fit, restore_model_weights


@dataclass
class TrainOutcome:
    """Result of `train` / `finetune`."""

    run: RunDir
    fit: FitResult
    evaluation: dict[str, Any]
    export_dir: Path | None


# ------------------------------------------------------------------------------------------ config


def resolve_config(
    task_name: str,
    run: RunDir | None = None,
    config_files: Sequence[str | os.PathLike] = (),
    overrides: Sequence[str] = (),
    data_paths: Sequence[str] | None = None,
    data_dir: str | None = None,
    base: dict[str, Any] | None = None,
) -> RunConfig:
    """The config of a run: [saved run config or `base`] <- YAML files <- `--set` <- `--data` / `--data-dir`.

    When `run` already holds a `config.yaml` (resuming, or evaluating a trained run) that file is the starting
    point, so re-running a command needs no repeated flags.
    """
    cls = get_task(task_name)
    if run is not None and run.config.is_file():
        base = read_yaml(run.config)
    config = load_config(cls.config_class, config_files, overrides, base=base)
    # Saved absolute, so that commands run from another folder find the same files.
    if data_paths:
        config.data.path = [_absolute(p) for p in data_paths]
    if data_dir:
        config.data.data_dir = _absolute(data_dir)
    return config


def _absolute(path: str | os.PathLike) -> str:
    text = str(path)
    if "://" in text or text.startswith("tfds:"):  # not a local path
        return text
    return str(Path(text).expanduser().absolute())


def _check_run_task(run: RunDir, task_name: str) -> None:
    recorded = run.task_name()
    if recorded and recorded != task_name:
        raise ConfigError(
            f"run directory {run.root} belongs to task {recorded!r}, not {task_name!r}; "
            "use another --workdir or --task " + recorded
        )


def task_for_run(workdir: str | os.PathLike, task_name: str | None = None) -> tuple[RunDir, str]:
    """The run directory and its task name (from `task.txt` when `task_name` is None)."""
    run = RunDir.at(workdir)
    recorded = run.task_name()
    if task_name is None:
        if recorded is None:
            raise ConfigError(f"{run.root} is not a seqtasks run directory (no task.txt); pass --task and --workdir")
        return run, recorded
    _check_run_task(run, task_name)
    return run, task_name


# ------------------------------------------------------------------------------------------- train


@contextlib.contextmanager
def precision_policy(config: RunConfig) -> Iterator[None]:
    """Sets the Keras dtype policy of `train.mixed_precision` for building and training; float32 afterwards."""
    keras.mixed_precision.set_global_policy(resolve_policy(config.train.mixed_precision))
    try:
        yield
    finally:
        keras.mixed_precision.set_global_policy("float32")


def start_run(task_name: str, config: RunConfig, run: RunDir) -> Task:
    """Creates the task for `config` in `run` and seeds every generator.

    Nothing is written yet: `fit` records config.yaml and task.txt with the run's first checkpoint of this
    attempt, so a refused or failed command leaves no settings behind (and, on a run without a checkpoint,
    `abandon_attempt` removes whatever the attempt wrote).
    """
    cls = get_task(task_name)
    keras.utils.set_random_seed(config.train.seed)
    task = cls(config, run)
    if task.is_writer:
        begin_attempt(run)
    return task


def recipe_parser(description: str, task_name: str, data_help: str, data_dir_help: str) -> argparse.ArgumentParser:
    """The arguments every `recipes/<task>.py` takes: --config, --set, --workdir, --data, --data-dir (the same
    meaning as `seqtasks train`'s)."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--config", action="append", default=[], help="YAML applied after the default config")
    parser.add_argument("--set", action="append", default=[], help="section.key=value override")
    parser.add_argument("--workdir", default=f"runs/{task_name}")
    parser.add_argument("--data", nargs="+", help=data_help)
    parser.add_argument("--data-dir", help=data_dir_help)
    return parser


def build_for_training(task: Task, strategy: tf.distribute.Strategy) -> keras.Model:
    """Builds and compiles the task's model with the configured optimizer inside the strategy scope."""
    cfg = task.config.train
    _, steps_per_epoch = epoch_dataset(task, 0)
    total = (steps_per_epoch or 1) * cfg.epochs
    with strategy.scope():
        model = task.build_model()
        task.compile_model(model, make_optimizer(cfg, total))
    return model


def best_model(task: Task) -> keras.Model:
    """A float32 copy of the model with the run's best weights, outside any strategy (so that the export graph
    holds no distributed variables)."""
    model = task.build_model()
    restore_model_weights(task.run, model)
    return model


def train(
    task_name: str,
    workdir: str | os.PathLike,
    config_files: Sequence[str | os.PathLike] = (),
    overrides: Sequence[str] = (),
    data_paths: Sequence[str] | None = None,
    data_dir: str | None = None,
    resume: bool | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """`seqtasks train`: prepares data, builds the model, trains (resuming if possible), evaluates the best
    model and exports it.

    Args:
        task_name: Registered task name.
        workdir: Run directory (created; an existing run in it is resumed).
        config_files: YAML files merged left to right.
        overrides: `section.key=value` strings.
        data_paths: The user's own data files/folders (sets `data.path`).
        data_dir: Local folder with offline dataset copies (sets `data.data_dir`).
        resume: True: the run must have a checkpoint to resume; False: the run directory must be new;
            None (default): resume when there is a checkpoint.
        reporter: What to show after each step (a recipe's `Reporter`); the default shows nothing.
    """
    run = RunDir.at(workdir)
    _check_run_task(run, task_name)
    has_checkpoint = tf.train.latest_checkpoint(str(run.checkpoints)) is not None
    if resume is True and not has_checkpoint:
        raise CheckpointError(f"--resume: {run.root} has no checkpoint to resume from; drop --resume to start")
    if resume is False and has_checkpoint:
        raise CheckpointError(f"{run.root} already holds a trained run; choose a new --workdir")
    # Without a checkpoint there is nothing to resume: a config.yaml left there is not a base to build on.
    base_run = run if has_checkpoint else None
    config = resolve_config(task_name, base_run, config_files, overrides, data_paths, data_dir)
    if has_checkpoint and run.config.is_file():
        _check_resume(get_task(task_name), config, run)
    return run_training(get_task(task_name), config, run, source=None, reporter=reporter)


def _check_resume(cls: type[Task], config: RunConfig, run: RunDir) -> None:
    """Refuses (before anything is read or written) a resume whose model settings differ from the run's."""
    saved = cls(load_config(cls.config_class, base=read_yaml(run.config)), run)
    changed = cls(config, run).finetune_incompatibilities(saved)
    if changed:
        raise CheckpointError(
            f"{run.root} was trained with other settings: {', '.join(changed)}, so its checkpoint does not fit "
            "the model built from them. Fix: resume without those --set/--config values, or train in a new --workdir"
        )
    # The optimizer's slots are checkpointed by position: another optimizer, or the weight average switched on or
    # off, would shift them (a restore error at best, moments loaded into the wrong slots at worst).
    before, after = saved.config.train, config.train
    slots = [f"train.optimizer ({before.optimizer} -> {after.optimizer})"] if before.optimizer != after.optimizer else []
    if (before.ema_momentum > 0) != (after.ema_momentum > 0):
        slots.append(f"train.ema_momentum ({before.ema_momentum} -> {after.ema_momentum}: the weight average on/off)")
    if slots:
        raise CheckpointError(
            f"{run.root} was trained with other optimizer settings: {', '.join(slots)}, so its checkpoint's optimizer "
            "state does not fit. Fix: resume without those --set/--config values, or finetune into a new --workdir "
            "(`seqtasks finetune --from`)"
        )


def finetune(
    task_name: str | None,
    source_dir: str | os.PathLike,
    workdir: str | os.PathLike,
    config_files: Sequence[str | os.PathLike] = (),
    overrides: Sequence[str] = (),
    data_paths: Sequence[str] | None = None,
    data_dir: str | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """`seqtasks finetune --from SOURCE`: continues a trained run on new data in a new run directory.

    The new run starts from the source run's config (so the model matches), then the given files, `--set`
    and `--data` apply; with `--data`, the source's `data.validation_path` / `data.test_path` (they held out parts
    of the source's data) and `data.extra_train_path` (speech trained next to it) are not carried over. The task
    decides how its preprocessor carries over (`Task.prepare_data(source=...)`) and how weights are copied
    (`Task.finetune_from`).
    """
    src_run, task_name = task_for_run(source_dir, task_name)
    src_run.require_trained()
    run = RunDir.at(workdir)
    if run.root == src_run.root:
        raise ConfigError("finetune --workdir must differ from --from (the source run is left untouched)")
    _check_run_task(run, task_name)
    source_task, source_model = load_trained(src_run.root, task_name)
    base = config_to_dict(source_task.config)
    if data_paths:
        # The source's own held-out and extra files belong to its data, not to the new --data (set them again if
        # wanted).
        for key in ("validation_path", "test_path", "extra_train_path"):
            base.get("data", {}).pop(key, None)
    config = resolve_config(
        task_name, run if run.has_checkpoint() else None, config_files, overrides, data_paths, data_dir, base=base,
    )
    if not config.data.path and not config.data.dataset and not get_task(task_name).generates_data:
        raise ConfigError("finetune needs data: pass --data FILE_OR_FOLDER (or set data.path)")
    return run_training(get_task(task_name), config, run, source=(source_task, source_model), reporter=reporter)


class Reporter:
    """What a training command shows as the run goes through its steps: data -> model -> train -> evaluate ->
    export. `run_training` calls one hook after each step (on the chief; workers only train).

    The CLI uses this class as is (it prints the outcome when the command returns); each recipe subclasses it to
    show what is interesting about its task (vocabulary sizes, the model summary, a sample prediction), so that
    a recipe reads top to bottom without copying the sequence itself.
    """

    def data_ready(self, task: Task) -> None:
        """After `task.prepare_data`: the data is read and the preprocessor is ready."""

    def model_built(self, task: Task, model: keras.Model) -> None:
        """After the model is built and compiled (and, when fine-tuning, initialised from the source run)."""

    def trained(self, task: Task, result: FitResult) -> None:
        """After training stopped (budget, early stopping or the last epoch)."""

    def evaluated(self, task: Task, model: keras.Model, evaluation: dict[str, dict[str, Any]]) -> None:
        """After the best model was scored; `evaluation` maps split names to metrics (see `Task.final_evaluation`)
        and is saved to `metrics.json` after this hook, so a hook may add entries to it."""

    def exported(self, task: Task, model: keras.Model, export_dir: Path | None) -> None:
        """After the export (`export_dir` is None when `export.after_train` is off)."""


def run_training(
    cls: type[Task],
    config: RunConfig,
    run: RunDir,
    source: tuple[Task, keras.Model] | None = None,
    reporter: Reporter | None = None,
) -> TrainOutcome:
    """The one train -> evaluate -> export sequence behind `seqtasks train`, `seqtasks finetune` and every recipe.

    Data is read and the preprocessor made ready, the model built (and initialised from `source`'s when
    fine-tuning), trained with checkpoints (resuming the run's last one), the best weights scored with
    `Task.final_evaluation` into `metrics.json`, and exported atomically when `export.after_train`. A command that
    fails before the run's first checkpoint of this attempt leaves the run directory as it was.
    """
    reporter = reporter or Reporter()
    strategy = make_strategy(config.train.strategy)
    if source is not None:
        # Checked on a task object that writes nothing, before the run directory is touched.
        changed = cls(config, run).finetune_incompatibilities(source[0])
        if changed:
            raise ConfigError(
                f"finetune from {source[0].run.root}: {', '.join(changed)} differ from the source run, so its "
                "trained weights do not fit this model. Fix: keep the source run's model settings (drop those "
                "--set/--config values), or train a new model with `seqtasks train`"
            )
    task = start_run(cls.name, config, run)
    try:
        task.prepare_data(source=source[0] if source else None)
        if task.is_writer:
            reporter.data_ready(task)
        with precision_policy(config):
            model = build_for_training(task, strategy)
            if source is not None and tf.train.latest_checkpoint(str(run.checkpoints)) is None:
                task.finetune_from(model, source[0], source[1])
            if task.is_writer:
                reporter.model_built(task, model)
            result = fit(task, model, run, strategy)
    except BaseException:
        abandon_attempt(run)
        raise
    if not task.is_writer:
        return TrainOutcome(run, result, {}, None)
    reporter.trained(task, result)
    final = best_model(task)
    evaluation = task.final_evaluation(final)
    reporter.evaluated(task, final, evaluation)
    result.history.evaluation = evaluation
    result.history.save()
    export_dir = None
    if config.export.after_train:
        export_dir = export_atomically(task, final, run.export_dir(config.export.dir))
    reporter.exported(task, final, export_dir)
    primary = evaluation.get(task.evaluation_split(), next(iter(evaluation.values()), {}))
    return TrainOutcome(run, result, primary, export_dir)


# ------------------------------------------------------------------------------- trained-run commands


def load_trained(
    workdir: str | os.PathLike,
    task_name: str | None = None,
    overrides: Sequence[str] = (),
    prefer_latest: bool = False,
) -> tuple[Task, keras.Model]:
    """A trained run's task (with its preprocessor) and model (float32, no strategy) with the best weights,
    or with the latest checkpoint's when `prefer_latest`."""
    run, task_name = task_for_run(workdir, task_name)
    run.require_trained()
    config = resolve_config(task_name, run, (), overrides)
    task = get_task(task_name)(config, run)
    task.load_preprocessor()
    model = task.build_model()
    restore_model_weights(run, model, prefer_best=not prefer_latest)
    return task, model


def evaluate(
    workdir: str | os.PathLike,
    task_name: str | None = None,
    paths: Sequence[str] | None = None,
    overrides: Sequence[str] = (),
    out: TextIO | None = None,
) -> dict[str, Any]:
    """`seqtasks evaluate`: scores the best model on `paths` (or the task's evaluation split)."""
    out = out or sys.stdout
    task, model = load_trained(workdir, task_name, overrides)
    if not paths:
        task.prepare_evaluation_data()
    metrics = task.evaluate(model, list(paths) if paths else None)
    label = ", ".join(str(p) for p in paths) if paths else task.evaluation_split()
    for key, value in metrics.items():
        print(f"{key}: {value:.4f}" if isinstance(value, float) else f"{key}: {value}", file=out)
    data = read_json(task.run.metrics, default={}) or {}
    data.setdefault("evaluation", {})[label] = metrics
    write_json_atomic(task.run.metrics, data)
    return metrics


def predict(
    workdir: str | os.PathLike,
    inputs: Sequence[str],
    task_name: str | None = None,
    overrides: Sequence[str] = (),
    out: TextIO | None = None,
) -> list[Any]:
    """`seqtasks predict`: runs the best model on raw inputs and writes the results to `out`."""
    task, model = load_trained(workdir, task_name, overrides)
    return task.predict(model, list(inputs), out or sys.stdout)


def export(
    workdir: str | os.PathLike,
    task_name: str | None = None,
    export_dir: str | os.PathLike | None = None,
    overrides: Sequence[str] = (),
    force: bool = False,
    fmt: str | None = None,
    quantize: str | None = None,
) -> Path:
    """`seqtasks export`: writes the best model as a SavedModel, LiteRT or ONNX export.

    `fmt` and `quantize` default to the config's `export.format` / `export.quantize`. The default folder is
    `RUN/<export.dir>` for the config's format and `RUN/<export.dir>-<format>` for another one, so exporting a
    run in a second format never replaces its first export. The target is replaced only when it is missing,
    empty or a previous seqtasks export of this run (`force`: of any run); see `seqtasks.runtime.export`. It is
    checked before the model is loaded.
    """
    run, task_name = task_for_run(workdir, task_name)
    run.require_trained()
    config = resolve_config(task_name, run, (), overrides).export
    fmt = fmt or config.format
    quantize = quantize or (config.quantize if fmt == config.format else "none")
    own_dir = run.export_dir(config.dir if fmt == config.format else f"{config.dir}-{fmt}").resolve()
    target = Path(export_dir).expanduser().resolve() if export_dir else own_dir
    check_export_target(target, run.root, own_dir, force)  # before the (slow) model load
    task, model = load_trained(run.root, task_name, overrides)
    return export_atomically(task, model, target, force=force, fmt=fmt, quantize=quantize, own_dir=own_dir)


__all__ = [
    "History",
    "TrainOutcome",
    "Reporter",
    "best_model",
    "build_for_training",
    "precision_policy",
    "run_training",
    "start_run",
    "evaluate",
    "export",
    "finetune",
    "load_trained",
    "predict",
    "resolve_config",
    "task_for_run",
    "train",
]
