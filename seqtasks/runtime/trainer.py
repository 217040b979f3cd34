"""The training loop every task shares: Keras `fit` per epoch, plus checkpoints, resume, early stopping,
best-model selection, a time budget and reporting.

Resume works at the batch level: a checkpoint stores the model, the optimizer (its step counter and slots) and
the position `(epoch, batches done in that epoch)`. Because `task.train_dataset(epoch)` is deterministic given
`(seed, epoch)`, a resumed run rebuilds that epoch's dataset and skips the batches already trained on, so it
sees exactly the data the uninterrupted run would have seen.

Checkpoint writes are safe to interrupt: `tf.train.CheckpointManager` writes the data files first and then
replaces the `checkpoint` index file atomically, so "latest" always names a complete checkpoint.
"""

from __future__ import annotations

import contextlib
import errno
import math
import os
import re
import shutil
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import keras
import tensorflow as tf

from seqtasks import errors as seqtasks_errors
from seqtasks.errors import CheckpointError, ConfigError, TrainingError
from seqtasks.runtime import keras_compat
from seqtasks.runtime.optimizers import time_progress_variable
from seqtasks.runtime.reporting import History
from seqtasks.runtime.run_dir import RunDir, commit_attempt
from seqtasks.runtime.strategy import is_chief, write_dir
from seqtasks.runtime.task import weight_key

if TYPE_CHECKING:
    from seqtasks.runtime.task import Task


@dataclass
class FitResult:
    """What `fit` did: the last step, the best monitored value and why it stopped."""

    step: int
    epochs_done: int
    best: float | None
    monitor: str
    stopped: str  # "epochs" | "early_stopping" | "time_budget"
    history: History = field(repr=False)


def dataset_size(ds: tf.data.Dataset) -> int | None:
    """Number of batches of a dataset when tf.data knows it, else None."""
    n = int(ds.cardinality())
    return n if n >= 0 else None


def epoch_dataset(task: Task, epoch: int, offset: int = 0) -> tuple[tf.data.Dataset, int | None]:
    """The task's dataset for `epoch` after its first `offset` batches (resume), cut to `train.steps_per_epoch`
    when set, and the epoch's number of batches (including the skipped ones)."""
    steps = task.config.train.steps_per_epoch
    if offset and steps <= 0:
        rest = task.resumed_train_dataset(epoch, offset)
        if rest is not None:
            left = dataset_size(rest)
            return rest, (None if left is None else offset + left)
    ds = task.train_dataset(epoch)
    if steps > 0:
        ds = ds.repeat().take(steps)
        return (ds.skip(offset) if offset else ds), steps
    n = dataset_size(ds)
    if n is None:
        n = task.steps_per_epoch()
    if n is not None and n <= 0:
        raise ConfigError(
            f"task {task.name!r}: the training data gives no batch (batch size {task.config.train.batch_size}); "
            "use more data or a smaller train.batch_size"
        )
    return (ds.skip(offset) if offset else ds), n


_WRAPPED_ERROR = re.compile(r"seqtasks\.errors\.(\w+): (.+)")


def _unwrap_input_error(error: tf.errors.OpError) -> None:
    """Re-raises a seqtasks error raised inside a tf.data generator (which TensorFlow wraps in an OpError and a
    traceback) as itself, so the user gets its one line; returns when `error` wraps none."""
    match = _WRAPPED_ERROR.search(error.message or "")
    if match is None:
        return
    error_class = getattr(seqtasks_errors, match[1], None)
    if isinstance(error_class, type) and issubclass(error_class, seqtasks_errors.SeqtasksError):
        raise error_class(match[2].strip().splitlines()[0]) from None


def _distribute_options(ds: tf.data.Dataset) -> tf.data.Dataset:
    options = tf.data.Options()
    # In-memory datasets have no files to shard by; every worker builds the same batches and takes its share.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options)


def model_variables(model: keras.Model) -> dict[str, Any]:
    """The model's weights keyed by position and normalised path (`0001/backbone/embedding/embeddings`, ...).

    Checkpoints store this mapping rather than the model object: Keras 3 layers kept in Python lists (as in
    deep stacks) are invisible to `tf.train.Checkpoint`'s object graph, and keys free of the model's name and
    of Keras' automatic layer numbering let another build of the same architecture (a fine-tuned copy, an
    export copy) restore the same checkpoint, while a different architecture fails to match.
    """
    return {f"{i:04d}/{weight_key(v.path)}": v for i, v in enumerate(model.weights)}


def random_states(model: keras.Model) -> dict[str, Any]:
    """The state variables of every `keras.random.SeedGenerator` in the model's layers (dropout, recurrent
    dropout, SpecAugment), keyed by position.

    Keras keeps them out of `model.weights`; checkpointing them makes a resumed run draw the same dropout
    masks as an uninterrupted one.
    """
    states = {}
    for i, layer in enumerate(model._flatten_layers(include_self=True, recursive=True)):
        for j, generator in enumerate(getattr(layer, "_seed_generators", None) or []):
            states[f"{i:04d}/{j}"] = generator.state
    return states


class WeightAverage:
    """The optimizer's exponential moving average of the weights (`train.ema_momentum`), swapped into the model
    for validation and the best checkpoint, then swapped back for training."""

    def __init__(self, model: keras.Model):
        optimizer = getattr(model.optimizer, "inner_optimizer", model.optimizer)
        self.optimizer = optimizer if getattr(optimizer, "use_ema", False) else None
        if self.optimizer is not None:
            # Keras' fit() ends by copying the average into the model; the loop calls fit() once per epoch, which
            # would restart every epoch from the average instead of averaging one trajectory.
            self.optimizer.finalize_variable_values = lambda var_list: None

    @property
    def active(self) -> bool:
        return self.optimizer is not None

    def _pairs(self) -> list[tuple[Any, Any]]:
        if self.optimizer is None:
            return []
        # Keras keeps no average (None) for variables it overwrites with their gradient.
        return [(var, average) for var, average in zip(self.optimizer._trainable_variables,
                                                         self.optimizer._model_variables_moving_average, strict=True)
                if average is not None]

    def swap(self) -> None:
        for var, average in self._pairs():
            value = tf.identity(var.value)
            var.assign(average.value)
            average.assign(value)

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        self.swap()
        try:
            yield
        finally:
            self.swap()

    def finalize(self) -> None:
        """Leaves the average in the model (its training weights are no longer needed)."""
        for var, average in self._pairs():
            var.assign(average.value)


class TrainingState:
    """The checkpointed training position and early-stopping state, besides the model and optimizer."""

    def __init__(self, monitor_mode: str):
        self.epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="epoch")
        self.batch_in_epoch = tf.Variable(0, dtype=tf.int64, trainable=False, name="batch_in_epoch")
        initial = math.inf if monitor_mode == "min" else -math.inf
        self.best = tf.Variable(initial, dtype=tf.float64, trainable=False, name="best")
        self.bad_epochs = tf.Variable(0, dtype=tf.int64, trainable=False, name="bad_epochs")
        self.elapsed_seconds = tf.Variable(0.0, dtype=tf.float64, trainable=False, name="elapsed_seconds")

    def trackables(self) -> dict[str, tf.Variable]:
        return {
            "epoch": self.epoch,
            "batch_in_epoch": self.batch_in_epoch,
            "best": self.best,
            "bad_epochs": self.bad_epochs,
            "elapsed_seconds": self.elapsed_seconds,
        }


class Checkpoints:
    """Periodic checkpoints (model + optimizer + training state) and the best model of a run."""

    def __init__(self, run: RunDir, model: keras.Model, state: TrainingState, strategy, keep: int):
        self.run = run
        self.chief = is_chief(strategy)
        weights = model_variables(model)
        self.checkpoint = tf.train.Checkpoint(
            model=weights, optimizer=model.optimizer, random=random_states(model), **state.trackables()
        )
        # Checkpoints written before the random states were saved restore without them.
        self._without_random = tf.train.Checkpoint(model=weights, optimizer=model.optimizer, **state.trackables())
        self.best_checkpoint = tf.train.Checkpoint(model=weights)
        self._dir = write_dir(run.checkpoints, strategy)
        self._best_dir = write_dir(run.best, strategy)
        self.manager = tf.train.CheckpointManager(self.checkpoint, str(self._dir), max_to_keep=max(keep, 1))
        self.best_manager = tf.train.CheckpointManager(self.best_checkpoint, str(self._best_dir), max_to_keep=1)

    def restore_latest(self) -> str | None:
        """Restores the newest readable checkpoint of the run (model, optimizer, position); returns its path or
        None. An unreadable one (e.g. truncated by a full disk) is skipped with a warning line."""
        candidates = checkpoint_paths(self.run.checkpoints)
        if not candidates:
            return None
        return _restore_first_readable(
            candidates,
            lambda path: self._restore(path).assert_existing_objects_matched(),
            "resume with the run's own config.yaml, or train in a new --workdir",
        )

    def _restore(self, path: str):
        names = {name for name, _ in tf.train.list_variables(path)}
        with_random = any(name.startswith("random/") for name in names)
        return (self.checkpoint if with_random else self._without_random).restore(path)

    def save(self, step: int) -> None:
        self.manager.save(checkpoint_number=step)

    def save_best(self, step: int) -> None:
        self.best_manager.save(checkpoint_number=step)

    def close(self) -> None:
        for path in (self._dir, self._best_dir):
            if not self.chief and path not in (self.run.checkpoints, self.run.best):
                shutil.rmtree(path, ignore_errors=True)


def checkpoint_paths(directory: Path) -> list[str]:
    """The checkpoints that `directory`'s 'checkpoint' index lists, newest first."""
    state = tf.train.get_checkpoint_state(str(directory))
    if state is None or not state.model_checkpoint_path:
        return []
    listed = [p for p in reversed(state.all_model_checkpoint_paths) if p != state.model_checkpoint_path]
    return [os.path.join(str(directory), p) for p in [state.model_checkpoint_path, *listed]]


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0][:200] if text else type(error).__name__


def _restore_first_readable(candidates: list[str], restore, fix: str) -> str:
    """Runs `restore(path)` on the first readable checkpoint of `candidates` (newest first) and returns it.

    A checkpoint that does not fit the model stops with a one-line CheckpointError (an older one would not fit
    either); an unreadable one (truncated, missing files) is skipped with one warning line.
    """
    unreadable = []
    for path in candidates:
        try:
            restore(path)
        except (AssertionError, ValueError, tf.errors.InvalidArgumentError) as e:
            raise CheckpointError(
                f"checkpoint {path} does not fit the model built from the current config ({_first_line(e)}); {fix}"
            ) from None
        except (IndexError, OSError, tf.errors.OpError) as e:
            unreadable.append((path, e))
            continue
        if unreadable:
            bad = ", ".join(Path(p).name for p, _ in unreadable)
            print(
                f"warning: checkpoint {bad} in {Path(path).parent} is unreadable ({_first_line(unreadable[0][1])}); "
                f"using {Path(path).name} instead",
                file=sys.stderr,
                flush=True,
            )
        return path
    first, error = unreadable[0]
    raise CheckpointError(
        f"no checkpoint of {Path(first).parent} is readable (newest: {Path(first).name}, {_first_line(error)}); "
        "train again in a new --workdir"
    )


def restore_model_weights(run: RunDir, model: keras.Model, prefer_best: bool = True) -> str:
    """Loads a trained run's weights into `model` (the best model if there is one, else the latest checkpoint;
    an unreadable checkpoint falls back to the next one with a warning line)."""
    dirs = [run.best, run.checkpoints] if prefer_best else [run.checkpoints, run.best]
    candidates = [path for d in dirs for path in checkpoint_paths(d)]
    if not candidates:
        raise CheckpointError(
            f"run directory {run.root} holds no checkpoint; train it first with `seqtasks train`"
        )
    checkpoint = tf.train.Checkpoint(model=model_variables(model))
    return _restore_first_readable(
        candidates,
        lambda path: checkpoint.restore(path).expect_partial().assert_existing_objects_matched(),
        f"use the run's own config ({run.config})",
    )


class _LoopCallback(keras.callbacks.Callback):
    """Counts batches, logs the loss, saves periodic checkpoints and enforces the time budget."""

    def __init__(self, loop: _Loop, epoch: int, offset: int, num_batches: int | None):
        super().__init__()
        self.loop, self.epoch, self.offset, self.num_batches = loop, epoch, offset, num_batches
        self.done = offset
        self.epoch_logs: dict[str, Any] = {}

    def on_train_batch_end(self, batch, logs=None):
        loop = self.loop
        self.done = self.offset + batch + 1
        loop.update_time_progress()
        step = int(loop.step_var.numpy())
        if loop.log_every and step % loop.log_every == 0 and logs:
            loop.history.log_step(step, logs)
        # The last batch of an epoch is saved by the epoch-end checkpoint (same step, next position); saving it
        # here too would rewrite that checkpoint's files in place.
        if loop.ckpt_every and step % loop.ckpt_every == 0 and self.done != self.num_batches:
            loop.save(self.epoch, self.done, step)
        if loop.out_of_time():
            loop.stopped = "time_budget"
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None):
        self.epoch_logs = dict(logs or {})


class _FiniteLossGuard(keras.callbacks.Callback):
    """Stops training at the first non-finite loss, before that step can be checkpointed (it runs first)."""

    def __init__(self, loop: _Loop):
        super().__init__()
        self.loop = loop

    def on_train_batch_end(self, batch, logs=None):
        loss = (logs or {}).get("loss")
        if loss is None:
            return
        value = float(loss)
        if not math.isfinite(value):
            step = int(self.loop.step_var.numpy())
            last = tf.train.latest_checkpoint(str(self.loop.run.checkpoints))
            kept = f"the run keeps its last checkpoint {Path(last).name}" if last else "nothing was saved"
            raise TrainingError(
                f"the training loss became {value} at step {step} ({kept}). Fix: lower train.learning_rate "
                "or clip gradients harder (train.clip_global_norm), then run the command again"
            )


def _disk_full(error: BaseException) -> bool:
    if isinstance(error, OSError):
        return error.errno == errno.ENOSPC
    return isinstance(error, tf.errors.OpError) and "no space left" in (error.message or "").lower()


class _Loop:
    def __init__(self, task: Task, model: keras.Model, run: RunDir, strategy):
        cfg = task.config.train
        self.task, self.model, self.run, self.cfg = task, model, run, cfg
        self.state = TrainingState(task.monitor_mode)
        self.checkpoints = Checkpoints(run, model, self.state, strategy, cfg.keep_checkpoints)
        self.step_var = model.optimizer.iterations
        self.log_every = max(cfg.log_every_steps, 0)
        self.ckpt_every = max(cfg.checkpoint_every_steps, 0)
        self.started = time.monotonic()
        self.elapsed_before = 0.0
        self.stopped = "epochs"
        self.last_saved: tuple[int, int, int] | None = None
        self.recorded = False
        self.history: History | None = None
        # Workers of a multi-worker run must agree on the learning rate: there the schedule follows steps only.
        progress = time_progress_variable(model.optimizer)
        self.time_progress = None if keras_compat.is_multi_worker(strategy) else progress

    def update_time_progress(self) -> None:
        if self.time_progress is not None and self.cfg.max_minutes > 0:
            self.time_progress.assign(min(self.elapsed() / (self.cfg.max_minutes * 60.0), 1.0))

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.started

    def out_of_time(self) -> bool:
        return self.cfg.max_minutes > 0 and self.elapsed() >= self.cfg.max_minutes * 60.0

    def save(self, epoch: int, batch_in_epoch: int, step: int) -> None:
        if self.last_saved == (step, epoch, batch_in_epoch):
            return  # e.g. the time budget ran out right after a periodic checkpoint
        self.last_saved = (step, epoch, batch_in_epoch)
        self.state.epoch.assign(epoch)
        self.state.batch_in_epoch.assign(batch_in_epoch)
        self.state.elapsed_seconds.assign(self.elapsed())
        previous = tf.train.latest_checkpoint(str(self.run.checkpoints))
        try:
            if not self.recorded and self.checkpoints.chief:
                # The command is known to proceed: its settings become the run's (see run_dir.begin_attempt).
                self.run.record(self.task.config, self.task.name)
                self.recorded = True
            self.checkpoints.save(step)
            commit_attempt(self.run)
            # The step log must reach the checkpoint's step, or a resume would leave a gap in it.
            self.history.save(plot=False)
        except (OSError, tf.errors.OpError) as e:
            if not _disk_full(e):
                raise
            # The 'checkpoint' index is replaced last, so it still names the previous complete checkpoint.
            kept = f"the previous checkpoint {Path(previous).name} is intact" if previous else "no checkpoint was kept"
            raise CheckpointError(
                f"no space left on the disk of {self.run.root} while saving the checkpoint of step {step} ({kept}). "
                "Fix: free disk space (or lower train.keep_checkpoints), then run the same command to resume"
            ) from None


def _verbosity(setting: str) -> int:
    if setting == "auto":
        return 1 if sys.stdout.isatty() else 2
    return {"bar": 1, "epoch": 2, "none": 0}[setting]


def _improved(value: float, best: float, mode: str) -> bool:
    if math.isnan(value):
        return False
    return value < best if mode == "min" else value > best


def fit(task: Task, model: keras.Model, run: RunDir, strategy: tf.distribute.Strategy, resume: bool = True) -> FitResult:
    """Trains a compiled `model` on `task`'s data, resuming from the run's latest checkpoint when there is one.

    Args:
        task: The task (its `prepare_data` has run).
        model: The task's model, built and compiled inside `strategy.scope()`.
        run: The run directory (checkpoints, best model, metrics.json, curves.png, tensorboard/).
        strategy: The distribution strategy the model was built under.
        resume: Restore the latest checkpoint if the run has one (False starts from the current weights; the
            caller must then use an empty run directory).

    Returns:
        A `FitResult`; the model holds the weights of the last step, or their moving average with
        `train.ema_momentum` (see `restore_model_weights` for the best).
    """
    cfg = task.config.train
    loop = _Loop(task, model, run, strategy)
    chief = is_chief(strategy)
    with strategy.scope():
        model.optimizer.build(model.trainable_variables)
    restored = loop.checkpoints.restore_latest() if resume else None
    step = int(loop.step_var.numpy())
    loop.elapsed_before = float(loop.state.elapsed_seconds.numpy())
    loop.update_time_progress()
    history = History(run, writer=chief, restored_step=step if restored else 0)
    loop.history = history
    if restored:
        print(
            f"Resuming {run.root} from {Path(restored).name}: step {step}, epoch {int(loop.state.epoch.numpy()) + 1}, "
            f"batch {int(loop.state.batch_in_epoch.numpy())}",
            flush=True,
        )
    if keras_compat.is_multi_worker(strategy):
        keras_compat.patch_scalar_reduction()
        keras_compat.build_from_local_batch(model, next(iter(task.train_dataset(0).take(1))))
    val_ds = task.validation_dataset()
    if val_ds is not None:
        val_ds = _distribute_options(val_ds)
    average = WeightAverage(model)
    monitor = task.monitor if val_ds is not None else "loss"
    mode = task.monitor_mode if val_ds is not None else "min"
    history.info["monitor"] = monitor  # the curves mark it from the first epoch's plot on
    verbose = _verbosity(cfg.verbose)
    start_epoch = int(loop.state.epoch.numpy())
    offset = int(loop.state.batch_in_epoch.numpy())
    epochs_done = start_epoch
    if restored and loop.out_of_time():
        loop.stopped = "time_budget"  # a fresh run always trains at least one batch, so it has a checkpoint
    for epoch in range(start_epoch, cfg.epochs):
        if loop.stopped == "time_budget":
            break
        ds, n = epoch_dataset(task, epoch, offset)
        ds = _distribute_options(ds)
        if verbose:
            where = f" (resuming after batch {offset}/{n if n is not None else '?'})" if offset else ""
            print(f"Epoch {epoch + 1}/{cfg.epochs}{where}", flush=True)
        callback = _LoopCallback(loop, epoch, offset, n)
        try:
            logs = {}
            if n is None or offset < n:
                # With a weight average, Keras would validate the raw weights: the loop validates the average below.
                model.fit(ds, epochs=1, shuffle=False, validation_data=None if average.active else val_ds,
                          verbose=verbose, callbacks=[_FiniteLossGuard(loop), callback])
                logs = dict(callback.epoch_logs)
            if val_ds is not None and (average.active or (n is not None and offset >= n)):
                with average.swapped():
                    val = model.evaluate(val_ds, verbose=0, return_dict=True)
                logs.update({f"val_{k}": v for k, v in val.items()})
                if average.active and verbose:
                    print("validation (weight average): "
                          + " - ".join(f"{k}: {float(v):.4f}" for k, v in logs.items() if k.startswith("val_")),
                          flush=True)
        except tf.errors.OpError as error:
            _unwrap_input_error(error)
            raise
        step = int(loop.step_var.numpy())
        finished_epoch = loop.stopped != "time_budget" or (n is not None and callback.done >= n)
        value = logs.get(monitor)
        if value is not None:
            value = float(value)
            if _improved(value, float(loop.state.best.numpy()), mode):
                loop.state.best.assign(value)
                loop.state.bad_epochs.assign(0)
                with average.swapped():
                    loop.checkpoints.save_best(step)
            elif finished_epoch:
                loop.state.bad_epochs.assign_add(1)
        history.log_epoch(epoch + 1, step, {**logs, "elapsed_seconds": loop.elapsed()})
        if finished_epoch:
            loop.save(epoch + 1, 0, step)
            epochs_done = epoch + 1
        else:
            loop.save(epoch, callback.done, step)
        history.save()
        offset = 0
        patience = cfg.early_stopping_patience
        if patience > 0 and int(loop.state.bad_epochs.numpy()) >= patience:
            loop.stopped = "early_stopping"
            print(f"Early stopping: {monitor} has not improved for {patience} epochs.", flush=True)
            break
    if loop.stopped == "time_budget":
        print(f"Time budget of {cfg.max_minutes} minutes reached at step {step}.", flush=True)
    best = float(loop.state.best.numpy())
    history.info.update(
        {"task": task.name, "monitor": monitor, "best": None if math.isinf(best) else best, "steps": step,
         "stopped": loop.stopped, "elapsed_seconds": round(loop.elapsed(), 1)}
    )
    history.save()
    loop.checkpoints.close()
    average.finalize()
    return FitResult(step, epochs_done, None if math.isinf(best) else best, monitor, loop.stopped, history)
