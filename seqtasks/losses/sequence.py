"""Token-level cross-entropy for padded target sequences (sequence-to-sequence training).

Padding positions (label `pad_id`) carry no loss, and the mean is over the real tokens of the whole batch, so a
batch of short sentences and one of long sentences weigh each token alike. Optional label smoothing spreads part
of the target probability uniformly over the vocabulary (Szegedy et al., 2016).
"""

from __future__ import annotations

import keras
import tensorflow as tf


def masked_sequence_loss(labels, logits, label_smoothing: float = 0.0, pad_id: int = 0):
    """Mean token cross-entropy over non-padding labels, with optional label smoothing.

    With smoothing `e`, the target distribution puts `1 - e` on the label and spreads `e` uniformly over the
    vocabulary.

    Args:
        labels: int `(batch, T)`, padded with `pad_id`.
        logits: float `(batch, T, V)`.
        label_smoothing: float in [0, 1).
        pad_id: the padding label, excluded from the mean.

    Returns:
        A float32 scalar.

    Example:

    >>> logits = tf.zeros([1, 3, 5])
    >>> float(masked_sequence_loss(tf.constant([[4, 1, 0]]), logits))  # log(5) over the 2 real tokens
    1.609...
    """
    labels = tf.cast(labels, tf.int32)
    log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32))
    nll = -tf.gather(log_probs, labels, batch_dims=2)
    if label_smoothing:
        nll = (1.0 - label_smoothing) * nll - label_smoothing * tf.reduce_mean(log_probs, axis=-1)
    mask = tf.cast(tf.not_equal(labels, pad_id), tf.float32)
    return tf.reduce_sum(nll * mask) / tf.maximum(tf.reduce_sum(mask), 1.0)


@keras.saving.register_keras_serializable(package="seqtasks")
class MaskedSequenceLoss(keras.losses.Loss):
    """Keras loss wrapping `masked_sequence_loss` (padding labels ignored, optional label smoothing).

    Registered as `seqtasks>MaskedSequenceLoss`, the name saved `.keras` translation models refer to.

    Args:
        label_smoothing: float in [0, 1).
        pad_id: the padding label.
        name: loss name.

    Example:

    >>> model.compile(keras.optimizers.Adam(1e-3), MaskedSequenceLoss(label_smoothing=0.1))
    """

    def __init__(
        self,
        label_smoothing: float = 0.0,
        pad_id: int = 0,
        name: str = "masked_sequence_loss",
        **kwargs,
    ):
        super().__init__(name=name, **kwargs)
        if isinstance(label_smoothing, bool) or not 0.0 <= float(label_smoothing) < 1.0:
            raise ValueError(
                "Received an invalid value for argument `label_smoothing`, expected a float in [0, 1), "
                f"got {label_smoothing!r}."
            )
        self.label_smoothing = float(label_smoothing)
        self.pad_id = int(pad_id)

    def call(self, y_true, y_pred):
        return masked_sequence_loss(y_true, y_pred, self.label_smoothing, self.pad_id)

    def get_config(self):
        base_config = super().get_config()
        config = {"label_smoothing": self.label_smoothing, "pad_id": self.pad_id}
        return {**base_config, **config}
