"""The memory-task model: a seqtasks `RecurrentStack` and a Dense head, plus the copy task's recall metric.

Adding problem: the stack's last output -> `Dense(1)` (the predicted sum). Copy task: the stack's output at every
step -> `Dense(K + 1)` logits (blank or one of the K symbols).
"""

from __future__ import annotations

import keras
import tensorflow as tf

from seqtasks.layers import RecurrentStack


def build_memory_model(
    problem: str,
    num_features: int,
    *,
    num_symbols: int = 8,
    cell_type: str = "lstm",
    units: int = 128,
    num_layers: int = 1,
    activation: str | None = None,
    seed: int | None = None,
    name: str = "memory_model",
) -> keras.Model:
    """Builds the model of `problem`.

    Args:
        problem: `"adding"` or `"copy"`.
        num_features: Input width (2 for adding, K + 2 for copy).
        num_symbols: K, the copy task's number of symbols (the head has K + 1 classes, blank included).
        cell_type: `"simple_rnn"`, `"lstm"` or `"gru"`.
        units: Units of every recurrent layer.
        num_layers: Number of stacked recurrent layers.
        activation: Cell activation (None: the cell's default, tanh).
        seed: Seed of the stack's dropout (weights are seeded by the runtime's global seed).
        name: Model name.

    Returns:
        A functional model from float32 `(batch, time, num_features)` to float32 `(batch, 1)` (adding) or logits
        `(batch, time, K + 1)` (copy); any sequence length is accepted.

    Example:

    >>> model = build_memory_model("adding", 2, cell_type="gru", units=32)
    >>> model(np.zeros((4, 50, 2), "float32")).shape
    TensorShape([4, 1])
    """
    if problem not in ("adding", "copy"):
        raise ValueError(f"Received an invalid value for argument `problem`, expected 'adding' or 'copy', got {problem!r}.")
    inputs = keras.Input(shape=(None, num_features), dtype="float32", name="sequence")
    x = RecurrentStack(
        cell_type=cell_type,
        units=units,
        num_layers=num_layers,
        return_sequences=problem == "copy",
        activation=activation or None,
        seed=seed,
        name="encoder",
    )(inputs)
    outputs = keras.layers.Dense(1 if problem == "adding" else num_symbols + 1, dtype="float32", name="head")(x)
    return keras.Model(inputs, outputs, name=name)


def recall_accuracy(copy_length: int):
    """Per-sequence share of the last `copy_length` steps (the recalled symbols) predicted right.

    Returns a function `(y_true ids (batch, time), logits (batch, time, classes)) -> (batch,)` usable as a Keras
    metric through `keras.metrics.MeanMetricWrapper`.
    """

    def accuracy(y_true, y_pred):
        true = tf.cast(y_true[:, -copy_length:], tf.int32)
        pred = tf.argmax(y_pred[:, -copy_length:], axis=-1, output_type=tf.int32)
        return tf.reduce_mean(tf.cast(tf.equal(true, pred), tf.float32), axis=-1)

    return accuracy


def copy_accuracy_metric(copy_length: int) -> keras.metrics.Metric:
    """Keras metric `copy_accuracy`: accuracy on the recalled symbols only (blanks are not counted)."""
    return keras.metrics.MeanMetricWrapper(recall_accuracy(copy_length), name="copy_accuracy")
