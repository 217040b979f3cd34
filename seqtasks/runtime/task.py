"""The `Task` protocol: what a recipe implements so that the shared runtime can train, evaluate, serve and
fine-tune it.

The runtime (`seqtasks.runtime`) owns everything that is the same for every task: config files and `--set`,
the run directory, the distribution strategy, the optimizer with gradient clipping, checkpoints and resume,
early stopping and best-model selection, progress bars, TensorBoard, `metrics.json` and the curves PNG. A task
owns what is specific to it: reading its data, its preprocessor (vocabulary, tokenizer, class names), its model,
its metrics, prediction and export.

Life cycle, as driven by `seqtasks.runtime.commands` (the CLI and the recipes call the same functions)::

    task = TaskClass(config, run)            # config: the task's RunConfig subclass; run: a RunDir
    task.prepare_data(source=None)           # read data; task.ready_preprocessor(training data, source)
    with strategy.scope():
        model = task.build_model()           # a keras.Model, built (its variables exist)
        task.compile_model(model, optimizer) # loss + metrics; the runtime gives the optimizer
    runtime.fit(task, model, ...)            # calls task.train_dataset(epoch) and task.validation_dataset()
    task.evaluate(model, paths)              # -> {"metric": value, ...}
    task.predict(model, inputs, out)         # writes human-readable results to `out`
    task.serving_module(model)               # what the SavedModel export holds (saved by export_atomically)

Preprocessing state (vocabulary, tokenizer, class names, alphabet) is the task's `preprocessor_class`, a
`seqtasks.runtime.preprocessor.Preprocessor`. The task never decides by itself whether to load, adapt, build or
save it: `prepare_data` reads the data and calls `ready_preprocessor(training_data, source)`, which loads it from
`run.assets` (resume, or a trained run), adapts the source run's (fine-tuning) or builds a new one, and saves a new
one on the chief only; `load_preprocessor()` (predict, export, evaluate on files) only loads.

Fine-tuning builds a new task object on a new run directory, calls `prepare_data(source=SOURCE_TASK)` so that the
preprocessor is taken over (and possibly extended) from the source run, builds the model, then
`finetune_from(model, source_task, source_model)` copies the weights over before training continues.

Determinism contract: `train_dataset(epoch)` must return the same batches in the same order every time it is
called with the same `(config.train.seed, epoch)`; the runtime resumes a run killed mid-epoch by skipping the
batches it already trained on. Batches use the global batch size `config.train.batch_size`; the strategy
splits them across replicas. A final partial batch is fine.
"""

from __future__ import annotations

import abc
import dataclasses
import re
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

import keras
import tensorflow as tf

from seqtasks.config import RunConfig
from seqtasks.errors import CheckpointError, ConfigError
from seqtasks.runtime.preprocessor import Preprocessor, StatelessPreprocessor

if TYPE_CHECKING:
    from seqtasks.portable import PortableExport
    from seqtasks.runtime.export import ServingModule
    from seqtasks.runtime.run_dir import RunDir


class Task(abc.ABC):
    """Base class of every task recipe (text generation, sentiment, translation, speech recognition, memory).

    Subclasses set the class attributes and implement the abstract methods; the default methods are fine for
    most tasks.

    Class attributes:
        name: Registry name used by `--task` (e.g. `"text_generation"`).
        config_class: The task's `RunConfig` subclass (its sections' dataclasses define every config key).
        monitor: Validation metric for early stopping and best-model selection, as Keras logs it
            (`"val_loss"`, `"val_accuracy"`, ...).
        monitor_mode: `"min"` or `"max"`.
        preprocessor_class: The task's `Preprocessor` subclass (`StatelessPreprocessor` when it learns nothing
            from its data).
        generates_data: True for a task that generates its data from the config (it reads no files, and a
            fine-tune needs no `--data`).

    Args:
        config: The resolved run config (an instance of `config_class`).
        run: The run directory; the task writes its preprocessing state under `run.assets`.
    """

    name: ClassVar[str] = ""
    config_class: ClassVar[type[RunConfig]] = RunConfig
    monitor: ClassVar[str] = "val_loss"
    monitor_mode: ClassVar[str] = "min"
    preprocessor_class: ClassVar[type[Preprocessor]] = StatelessPreprocessor
    generates_data: ClassVar[bool] = False

    def __init__(self, config: RunConfig, run: RunDir):
        if not isinstance(config, self.config_class):
            raise TypeError(f"{type(self).__name__} needs a {self.config_class.__name__}, got {type(config).__name__}")
        self.config = config
        self.run = run
        self.preprocessor: Preprocessor | None = None

    # ------------------------------------------------------------------------------------------- data

    @abc.abstractmethod
    def prepare_data(self, source: Task | None = None) -> None:
        """Reads the data named by `config.data` and gets the preprocessor ready with
        `self.ready_preprocessor(training_data, source)`.

        Commands that need no training data (predict, export, evaluate on a given file) call
        `load_preprocessor()` instead.
        """

    def prepare_evaluation_data(self) -> None:
        """Reads what `evaluate` needs to score the task's own evaluation split (`seqtasks evaluate` without
        files). The default is `prepare_data()`; a task whose training data is costly to read (or to make) reads
        less here."""
        self.prepare_data()

    def ready_preprocessor(self, data: Any, source: Task | None = None) -> Preprocessor:
        """Sets and returns `self.preprocessor`: loaded from `run.assets` when saved there, else adapted from the
        `source` task's (fine-tuning), else built from the training `data`.

        A new preprocessor is saved to `run.assets` by the chief only; the other workers of a multi-worker run
        build their own (builds are deterministic) and write nothing.
        """
        cls = self.preprocessor_class
        assets = self.run.assets
        if cls.files and cls.is_saved(assets):
            self.preprocessor = cls.load(assets, self.config)
            return self.preprocessor
        if source is not None:
            if not isinstance(source.preprocessor, cls):
                raise TypeError(f"the source task has no {cls.__name__} (prepare_data or load_preprocessor it first)")
            self.preprocessor = cls.adapt_from(source.preprocessor, self.config, data)
        else:
            self.preprocessor = cls.build(self.config, data)
        if cls.files and self.is_writer:
            assets.mkdir(parents=True, exist_ok=True)
            self.preprocessor.save(assets)
        return self.preprocessor

    def load_preprocessor(self) -> Preprocessor:
        """Sets and returns `self.preprocessor` from `run.assets` (no data is read)."""
        cls = self.preprocessor_class
        if not cls.is_saved(self.run.assets):
            missing = [name for name in cls.files if not (self.run.assets / name).is_file()]
            raise CheckpointError(
                f"run {self.run.root} has no saved preprocessor ({self.run.assets / missing[0]} is missing); "
                "the run directory is incomplete: train it (again) first"
            )
        self.preprocessor = cls.load(self.run.assets, self.config)
        return self.preprocessor

    @abc.abstractmethod
    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        """The training batches of `epoch` (0-based), deterministic given `(config.train.seed, epoch)`.

        Elements are `(inputs, targets)` or `(inputs, targets, sample_weights)` as `keras.Model.fit` takes them,
        batched with the global batch size `config.train.batch_size`.
        """

    def resumed_train_dataset(self, epoch: int, skip: int) -> tf.data.Dataset | None:
        """The batches of `epoch` after its first `skip`, for a run resumed mid-epoch, or None (the default).

        With None the runtime uses `train_dataset(epoch).skip(skip)`, and tf.data still produces the skipped
        batches. A task whose batches are expensive to produce (decoded audio) overrides this to leave them out
        of its plan instead; the result must equal that `skip`, batch for batch.
        """
        return None

    def validation_dataset(self) -> tf.data.Dataset | None:
        """Validation batches for the per-epoch `monitor` metric, or None (then no early stopping)."""
        return None

    def steps_per_epoch(self) -> int | None:
        """Number of batches per epoch when the dataset's cardinality is unknown (None: use the cardinality)."""
        return None

    # ------------------------------------------------------------------------------------------ model

    @abc.abstractmethod
    def build_model(self) -> keras.Model:
        """Builds the model (called inside the strategy scope); its variables must exist when it returns."""

    def loss(self) -> Any:
        """The Keras loss for `compile` (override, or override `compile_model`)."""
        raise NotImplementedError(f"task {self.name!r} must define loss() or compile_model()")

    def metrics(self) -> list[Any]:
        """Keras metrics reported during training (their `val_` versions can be the `monitor`)."""
        return []

    def compile_model(self, model: keras.Model, optimizer: keras.optimizers.Optimizer) -> None:
        """Compiles `model` with the runtime's optimizer (called inside the strategy scope)."""
        model.compile(
            optimizer=optimizer,
            loss=self.loss(),
            metrics=self.metrics(),
            jit_compile=self.config.train.jit_compile,
        )

    # ------------------------------------------------------------------------------- after training

    @abc.abstractmethod
    def evaluate(self, model: keras.Model, paths: Sequence[str] | None = None) -> dict[str, float]:
        """Scores the model on `paths` (user files in the task's format) or, when None, the task's evaluation
        split. Returns plain floats/ints keyed by metric name; the runtime stores them in `metrics.json`."""

    @abc.abstractmethod
    def predict(self, model: keras.Model, inputs: Sequence[str], out: TextIO) -> list[Any]:
        """Runs the model on raw `inputs` (strings: texts, prompts, audio paths...), writes readable results
        to `out` as they are produced, and returns them."""

    @abc.abstractmethod
    def serving_module(self, model: keras.Model) -> ServingModule:
        """What `seqtasks export` saves (through `seqtasks.runtime.export.export_atomically`): a `ServingModule`
        whose signatures take raw inputs (strings, waveforms, sequences) and which loads with
        `tf.saved_model.load` in a process that does not import seqtasks. Defined in the task's `export.py`."""

    def portable_export(self, model: keras.Model) -> PortableExport:
        """What `seqtasks export --format litert|onnx` converts: the model's numeric functions (ids, features or
        sequences in; logits and states out), with what runs around them described for the numpy runner
        (`seqtasks.portable`). Defined in the task's `export.py`; a task without one cannot leave TensorFlow."""
        raise ConfigError(f"task {self.name!r} has no LiteRT/ONNX export; use --format saved_model")

    def final_evaluation(self, model: keras.Model) -> dict[str, dict[str, Any]]:
        """What `seqtasks train` (and every recipe) scores after training, as `{split name: metrics}`, saved under
        `evaluation` in `metrics.json`. The default scores the evaluation split (`evaluation_split()`); a task
        whose dataset brings a test split too may add it."""
        return {self.evaluation_split(): self.evaluate(model)}

    def evaluation_split(self) -> str:
        """The name under which `evaluate(model, None)` results are filed in `metrics.json`: the `eval.split`
        config key when the task has one, else `"validation"`. Tasks whose default evaluation data is another
        split (e.g. a test split) override it."""
        return str(getattr(self.config.eval, "split", "validation"))

    # ---------------------------------------------------------------------------------- fine-tuning

    # Model keys a fine-tune may change besides every `*dropout` key: settings that act only while training.
    finetune_free_model_keys: ClassVar[frozenset[str]] = frozenset()

    def finetune_incompatibilities(self, source: Task) -> list[str]:
        """`section.key (old -> new)` for every setting of this run that makes the `source` run's trained weights
        unfit for its model; `seqtasks finetune` refuses to start when there is one.

        The default compares the `model` sections, except the `*dropout` keys and `finetune_free_model_keys`.
        """
        changed = []
        mine, theirs = self.config.model, source.config.model
        for f in dataclasses.fields(mine):
            if f.name.endswith("dropout") or f.name in self.finetune_free_model_keys:
                continue
            before, after = getattr(theirs, f.name, None), getattr(mine, f.name)
            if before != after:
                changed.append(f"model.{f.name} ({before!r} -> {after!r})")
        return changed

    def finetune_from(self, model: keras.Model, source: Task, source_model: keras.Model) -> None:
        """Initialises `model` (this task's freshly built model) from a trained `source_model`.

        The default copies the weights of every layer whose name and weight shapes match, and leaves the
        others as initialised (e.g. a new classifier head). Tasks that extend a vocabulary override it.
        """
        copy_matching_weights(source_model, model)

    # ---------------------------------------------------------------------------------- helpers

    @property
    def is_writer(self) -> bool:
        """Whether this process may write files (false on non-chief workers of a multi-worker run)."""
        from seqtasks.runtime.strategy import is_chief

        return is_chief(tf.distribute.get_strategy() if tf.distribute.has_strategy() else None)


def weight_key(path: str) -> str:
    """A weight's path below its model with Keras' automatic numbering removed (`dense_3/kernel` -> `dense/kernel`),
    so that two builds of the same architecture in one process name their weights alike."""
    parts = path.split("/")[1:] or path.split("/")
    return "/".join(re.sub(r"_\d+$", "", part) for part in parts)


def copy_matching_weights(source: keras.Model, target: keras.Model) -> list[str]:
    """Copies each weight of `source` into the weight of `target` with the same `weight_key` (the n-th of that
    key to the n-th) and the same shape.

    Returns the paths of the target weights that were left as initialised (e.g. a new classifier head).
    """
    by_key: dict[str, list[Any]] = defaultdict(list)
    for w in source.weights:
        by_key[weight_key(w.path)].append(w)
    seen: dict[str, int] = defaultdict(int)
    skipped = []
    for w in target.weights:
        key = weight_key(w.path)
        i = seen[key]
        seen[key] += 1
        candidates = by_key.get(key, [])
        if i < len(candidates) and tuple(candidates[i].shape) == tuple(w.shape):
            w.assign(candidates[i])
        else:
            skipped.append(w.path)
    return skipped
