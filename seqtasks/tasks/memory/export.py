"""SavedModel export of a memory-task model; it loads with `tf.saved_model.load` without seqtasks.

    import tensorflow as tf
    served = tf.saved_model.load("RUN/export")
    # adding: sequences (batch, T, 2) = (value, marker) -> {"sum": (batch,)}
    served.signatures["serving_default"](sequence=tf.constant(x, tf.float32))["sum"]
    # copy: one-hot sequences (batch, T + 2L, K + 2) -> {"symbols": (batch, L), "logits": (batch, T + 2L, K + 1)}
"""

from __future__ import annotations

import os
from pathlib import Path

import keras
import tensorflow as tf


class MemoryServing(tf.Module):
    """The exported module.

    Args:
        model: The trained memory model.
        problem: `"adding"` or `"copy"`.
        num_features: Input width.
        copy_length: Number of recalled symbols (copy task).
    """

    def __init__(self, model: keras.Model, problem: str, num_features: int, copy_length: int):
        super().__init__(name="memory_serving")
        self.model = model
        self.problem = problem
        self.copy_length = copy_length
        self.serve = tf.function(
            self._serve, input_signature=[tf.TensorSpec([None, None, num_features], tf.float32, name="sequence")]
        )

    def _serve(self, sequence: tf.Tensor) -> dict[str, tf.Tensor]:
        out = tf.cast(self.model(sequence, training=False), tf.float32)
        if self.problem == "adding":
            return {"sum": out[:, 0]}
        symbols = tf.argmax(out[:, -self.copy_length :], axis=-1, output_type=tf.int32)
        return {"symbols": symbols, "logits": out}


def export_memory_model(
    model: keras.Model, problem: str, num_features: int, copy_length: int, export_dir: str | os.PathLike
) -> Path:
    """Writes the SavedModel (`serving_default`: `sequence` -> `sum`, or `symbols` and `logits`)."""
    module = MemoryServing(model, problem, num_features, copy_length)
    export_dir = Path(export_dir)
    export_dir.parent.mkdir(parents=True, exist_ok=True)
    tf.saved_model.save(module, str(export_dir), signatures={"serving_default": module.serve})
    return export_dir
