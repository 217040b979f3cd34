"""SavedModel export of a memory-task model; it loads with `tf.saved_model.load` without seqtasks.

    import tensorflow as tf
    served = tf.saved_model.load("RUN/export")
    # adding: sequences (batch, T, 2) = (value, marker) -> {"sum": (batch,)}
    served.signatures["serving_default"](sequence=tf.constant(x, tf.float32))["sum"]
    # copy: one-hot sequences (batch, T + 2L, K + 2) -> {"symbols": (batch, L), "logits": (batch, T + 2L, K + 1)}
"""

from __future__ import annotations

from typing import Any

import keras
import numpy as np
import tensorflow as tf

from seqtasks.portable import PortableExport, PortableFunction
from seqtasks.runtime.export import ServingModule


class MemoryServing(ServingModule):
    """The exported module (signature `serving_default`).

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

    def signatures(self) -> dict[str, Any]:
        return {"serving_default": self.serve}

    def _serve(self, sequence: tf.Tensor) -> dict[str, tf.Tensor]:
        out = tf.cast(self.model(sequence, training=False), tf.float32)
        if self.problem == "adding":
            return {"sum": out[:, 0]}
        symbols = tf.argmax(out[:, -self.copy_length :], axis=-1, output_type=tf.int32)
        return {"symbols": symbols, "logits": out}


def memory_portable(model: keras.Model, problem: str, num_features: int, copy_length: int) -> PortableExport:
    """The LiteRT/ONNX export: the whole model runs inside (sequence -> sum, or per-step logits); the copy task's
    argmax over the last `copy_length` steps runs in the runner (`seqtasks_portable.MemoryPipeline`)."""

    def serve(sequence: tf.Tensor) -> dict[str, tf.Tensor]:
        out = tf.cast(model(sequence, training=False), tf.float32)
        return {"sum": out[:, 0]} if problem == "adding" else {"logits": out}

    steps = 5 + (2 * copy_length if problem == "copy" else 0)
    example = np.random.default_rng(0).uniform(0.0, 1.0, (3, steps, num_features)).astype(np.float32)
    return PortableExport(
        model=model,
        pipeline="memory",
        functions={"serving_default": PortableFunction(
            serve, [tf.TensorSpec([None, None, num_features], tf.float32, name="sequence")], {"sequence": example})},
        settings={"problem": problem, "num_features": num_features, "copy_length": copy_length},
        in_model="sequence (batch, T, features) float32 -> sum (adding) or logits (copy) per step",
        outside_model=[] if problem == "adding" else ["copy: argmax of the last copy_length steps' logits"],
    )
