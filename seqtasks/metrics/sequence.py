"""Token accuracy of padded target sequences, as a streaming Keras metric (teacher-forced training)."""

from __future__ import annotations

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable(package="seqtasks")
class MaskedTokenAccuracy(keras.metrics.Metric):
    """Share of non-padding target tokens whose most likely prediction is the label (teacher forcing).

    Counts are summed over every batch since the last reset, so the result is per token, not a mean of batch
    means. Registered as `seqtasks>MaskedTokenAccuracy`, the name saved `.keras` translation models refer to.

    Args:
        pad_id: the padding label.
        name: metric name.

    Example:

    >>> metric = MaskedTokenAccuracy()
    >>> metric.update_state([[1, 2, 0]], tf.one_hot([[1, 3, 3]], 4))
    >>> float(metric.result())
    0.5
    """

    def __init__(self, pad_id: int = 0, name: str = "token_accuracy", **kwargs):
        super().__init__(name=name, **kwargs)
        self.pad_id = int(pad_id)
        self.correct = self.add_variable(shape=(), initializer="zeros", name="correct")
        self.total = self.add_variable(shape=(), initializer="zeros", name="total")

    def update_state(self, y_true, y_pred, sample_weight=None):
        labels = tf.cast(y_true, tf.int32)
        mask = tf.cast(tf.not_equal(labels, self.pad_id), tf.float32)
        hits = tf.cast(
            tf.equal(tf.argmax(y_pred, axis=-1, output_type=tf.int32), labels), tf.float32
        )
        self.correct.assign_add(tf.reduce_sum(hits * mask))
        self.total.assign_add(tf.reduce_sum(mask))

    def result(self):
        return self.correct / tf.maximum(self.total, 1.0)

    def reset_state(self):
        self.correct.assign(0.0)
        self.total.assign(0.0)

    def get_config(self):
        base_config = super().get_config()
        config = {"pad_id": self.pad_id}
        return {**base_config, **config}
