"""The `memory` task: the adding problem and the copy task, trained and scored through the shared runtime.

    seqtasks train --task memory --set model.cell_type=gru --set data.sequence_length=200
    seqtasks predict --workdir runs/memory "0.2 0.7* 0.1 0.4* 0.9"    (adding: * marks the two values to add)
    seqtasks predict --workdir runs/memory random                       (a random test-like example)

The data is generated (see `seqtasks.tasks.memory.data`), so the task has no assets (`MemoryPreprocessor` is
stateless) and nothing to fine-tune from but weights. Its evaluation is the fixed test set, filed as `test` in
`metrics.json`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

import keras
import numpy as np
import tensorflow as tf

from seqtasks.errors import ConfigError, DataError
from seqtasks.portable import PortableExport
from seqtasks.tasks import Task, register_task
from seqtasks.tasks.memory import data as md
from seqtasks.tasks.memory.config import MemoryConfig
from seqtasks.tasks.memory.export import MemoryServing, memory_portable
from seqtasks.tasks.memory.model import build_memory_model, copy_accuracy_metric
from seqtasks.tasks.memory.preprocessor import MemoryPreprocessor

DEFAULT_STEPS_PER_EPOCH = 100


@register_task
class MemoryTask(Task):
    """Long-range memory benchmark: can a recurrent cell carry information over T steps?

    Metrics: adding problem -> `test_mse` (solved below `eval.solved_mse`; `baseline_mse` is the MSE of always
    answering 1 on the same test set); copy task -> `copy_accuracy` on the recalled symbols (solved at or above
    `eval.solved_accuracy`; `baseline_accuracy` = 1/K).
    """

    name = "memory"
    config_class = MemoryConfig
    monitor = "val_loss"
    monitor_mode = "min"
    preprocessor_class = MemoryPreprocessor
    generates_data = True

    def __init__(self, config: MemoryConfig, run) -> None:
        super().__init__(config, run)
        _check_config(config)
        if config.data.problem == "copy":
            self.monitor, self.monitor_mode = "val_copy_accuracy", "max"
        self._validation: tuple[tf.Tensor, tf.Tensor] | None = None
        self._examples_drawn = 0
        self._forward = None

    # ------------------------------------------------------------------------------------------ data

    @property
    def problem(self) -> str:
        return self.config.data.problem

    @property
    def num_features(self) -> int:
        return md.num_features(self.problem, self.config.data.num_symbols)

    def _fixed_set(self, stream: int, num_samples: int) -> tuple[tf.Tensor, tf.Tensor]:
        d = self.config.data
        return md.fixed_set(self.problem, self.config.train.seed, stream, num_samples, d.sequence_length,
                            d.copy_length, d.num_symbols)

    def prepare_data(self, source: Task | None = None) -> None:
        self.ready_preprocessor(None, source)
        self._validation = self._fixed_set(md.VALIDATION, self.config.data.validation_samples)

    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        d, t = self.config.data, self.config.train
        steps = t.steps_per_epoch if t.steps_per_epoch > 0 else DEFAULT_STEPS_PER_EPOCH
        return md.training_dataset(self.problem, t.seed, epoch, steps, t.batch_size, d.sequence_length,
                                   d.copy_length, d.num_symbols)

    def validation_dataset(self) -> tf.data.Dataset | None:
        if self._validation is None:
            raise RuntimeError("prepare_data() must run before validation_dataset()")
        return tf.data.Dataset.from_tensor_slices(self._validation).batch(self.config.eval.batch_size)

    # ----------------------------------------------------------------------------------------- model

    def build_model(self) -> keras.Model:
        m, d = self.config.model, self.config.data
        model = build_memory_model(
            self.problem,
            self.num_features,
            num_symbols=d.num_symbols,
            cell_type=m.cell_type,
            units=m.units,
            num_layers=m.num_layers,
            activation=m.activation or None,
            seed=self.config.train.seed,
        )
        model(tf.zeros([1, 2, self.num_features]))
        return model

    def loss(self) -> Any:
        if self.problem == "adding":
            return keras.losses.MeanSquaredError()
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self) -> list[Any]:
        if self.problem == "adding":
            return []
        return [copy_accuracy_metric(self.config.data.copy_length)]

    # --------------------------------------------------------------------------------- inference

    def _outputs(self, model: keras.Model, x: tf.Tensor | np.ndarray) -> np.ndarray:
        if self._forward is None or self._forward[0] is not model:
            spec = tf.TensorSpec([None, None, self.num_features], tf.float32)
            self._forward = (model, tf.function(lambda s: model(s, training=False), input_signature=[spec]))
        size = self.config.eval.batch_size
        x = tf.convert_to_tensor(x, tf.float32)
        parts = [self._forward[1](x[i : i + size]).numpy() for i in range(0, int(x.shape[0]), size)]
        return np.concatenate(parts, 0)

    def evaluation_split(self) -> str:
        """`test`: `evaluate(model)` scores the fixed test set (`eval.test_samples`, its own random stream)."""
        return "test"

    def evaluate(self, model: keras.Model, paths: Sequence[str] | None = None) -> dict[str, Any]:
        if paths:
            raise ConfigError("the memory task generates its data and reads no files; run evaluate without --data")
        e = self.config.eval
        x, y = self._fixed_set(md.TEST, e.test_samples)
        out = self._outputs(model, x)
        y = y.numpy()
        if self.problem == "adding":
            mse = float(np.mean((out[:, 0] - y[:, 0]) ** 2))
            baseline = float(np.mean((1.0 - y[:, 0]) ** 2))
            return {"test_mse": mse, "baseline_mse": baseline, "solved": bool(mse < e.solved_mse)}
        length = self.config.data.copy_length
        accuracy = float(np.mean(out[:, -length:].argmax(-1) == y[:, -length:]))
        return {
            "copy_accuracy": accuracy,
            "baseline_accuracy": 1.0 / self.config.data.num_symbols,
            "solved": bool(accuracy >= e.solved_accuracy),
        }

    def _random_example(self) -> tuple[np.ndarray, np.ndarray]:
        d = self.config.data
        seed = md.batch_seed(self.config.train.seed, md.EXAMPLES, 0, self._examples_drawn)
        self._examples_drawn += 1
        x, y = md.make_batch(self.problem, seed, 1, d.sequence_length, d.copy_length, d.num_symbols)
        return x.numpy()[0], y.numpy()[0]

    def parse_input(self, text: str) -> tuple[np.ndarray, np.ndarray | None]:
        """The sequence (and, for `random`, the target) of one `predict` input.

        Adding: whitespace-separated numbers, the values to add marked with a trailing `*`
        (`"0.2 0.7* 0.1 0.4* 0.9"`). Copy: `copy_length` symbols in 1..K (`"3 1 4 1 5 8 2 6 5 3"`), run with the
        configured delay. Either: `random` draws an example like the test set's.
        """
        text = text.strip()
        if text == "random":
            return self._random_example()
        d = self.config.data
        tokens = text.split()
        if self.problem == "adding":
            rows = []
            for token in tokens:
                marked = token.endswith("*")
                try:
                    value = float(token.rstrip("*"))
                except ValueError:
                    raise DataError(
                        f"predict input {text!r}: {token!r} is not a number; give numbers separated by spaces, the two "
                        "to add marked with *, e.g. '0.2 0.7* 0.1 0.4* 0.9' (or 'random')"
                    ) from None
                rows.append((value, 1.0 if marked else 0.0))
            if len(rows) < 2:
                raise DataError(f"predict input {text!r}: the adding problem needs at least 2 numbers (or 'random')")
            return np.asarray(rows, np.float32), None
        try:
            symbols = [int(t) for t in tokens]
        except ValueError:
            symbols = []
        if len(symbols) != d.copy_length or not all(1 <= s <= d.num_symbols for s in symbols):
            raise DataError(
                f"predict input {text!r}: give {d.copy_length} integers in 1..{d.num_symbols} separated by spaces "
                "(data.copy_length, data.num_symbols), or 'random'"
            )
        ids = symbols + [0] * (d.sequence_length - 1) + [d.num_symbols + 1] + [0] * d.copy_length
        return np.eye(d.num_symbols + 2, dtype=np.float32)[ids], None

    def predict(self, model: keras.Model, inputs: Sequence[str], out: TextIO) -> list[dict[str, Any]]:
        results = []
        for text in inputs:
            x, target = self.parse_input(text)
            y = self._outputs(model, x[None])[0]
            if self.problem == "adding":
                marked = x[x[:, 1] > 0, 0]
                result: dict[str, Any] = {"input": text, "sum": float(y[0]), "steps": len(x),
                                          "marked": [float(v) for v in marked]}
                line = f"sum: {y[0]:.4f}  (T={len(x)}, marked: {' + '.join(f'{v:.4f}' for v in marked)}"
                if target is not None:
                    result["target"] = float(target[0])
                    line += f", target {target[0]:.4f}"
                line += ")"
            else:
                length = self.config.data.copy_length
                given = x[:length].argmax(-1).tolist()
                recalled = y[-length:].argmax(-1).tolist()
                right = sum(int(a == b) for a, b in zip(given, recalled, strict=True))
                result = {"input": " ".join(map(str, given)), "recalled": recalled, "right": right}
                line = (f"recalled: {' '.join(map(str, recalled))}  (given: {' '.join(map(str, given))}; "
                        f"{right}/{length} right after a delay of {self.config.data.sequence_length})")
            print(line, file=out, flush=True)
            results.append(result)
        return results

    def serving_module(self, model: keras.Model) -> MemoryServing:
        return MemoryServing(model, self.problem, self.num_features, self.config.data.copy_length)

    def portable_export(self, model: keras.Model) -> PortableExport:
        return memory_portable(model, self.problem, self.num_features, self.config.data.copy_length)


def _check_config(config: MemoryConfig) -> None:
    """What the schema cannot check on one key (its ranges and names are checked there): no data files, and the
    adding problem's minimum length."""
    d = config.data
    if d.path or d.dataset:
        raise ConfigError(
            "the memory task generates its data: leave data.path/--data and data.dataset empty "
            "(choose the problem with --set data.problem=adding|copy)"
        )
    if d.problem == "adding" and d.sequence_length < 2:
        raise ConfigError(f"data.sequence_length must be >= 2 for the adding problem, got {d.sequence_length}")
