"""Pooling a sequence of vectors over its valid (unmasked) time steps."""

from __future__ import annotations

import keras
from keras import ops

_MODES = ("last", "mean", "max", "mean_max")


@keras.saving.register_keras_serializable(package="seqtasks")
class MaskedPooling(keras.layers.Layer):
    """Reduces `(batch, time, features)` to `(batch, features)` using only the valid time steps.

    Padding steps (mask `False`) never contribute: `"mean"` divides by the number of valid steps, `"max"`
    ignores padded positions even when every valid value is negative, and `"last"` takes the output at the
    last valid step (for right-padded sequences, the step before the padding starts), not at the last
    position of the padded tensor. A row without any valid step pools to zeros. Without a mask, every
    step is valid.

    Args:
        mode: `"last"`, `"mean"`, `"max"`, or `"mean_max"` (the mean and the max concatenated, which
            doubles the feature size).
        **kwargs: base layer keyword arguments, such as `name` and `dtype`.

    Call arguments:
        inputs: a float tensor of shape `(batch, time, features)`.
        mask: an optional boolean tensor of shape `(batch, time)`, `True` at valid steps.

    Example:

    >>> import numpy as np
    >>> x = np.arange(6, dtype="float32").reshape(1, 3, 2)
    >>> MaskedPooling("mean")(x, mask=np.array([[True, True, False]])).numpy()
    array([[1., 2.]], dtype=float32)
    """

    def __init__(self, mode: str = "mean", **kwargs) -> None:
        super().__init__(**kwargs)
        if mode not in _MODES:
            raise ValueError(
                "Received an invalid value for argument `mode`, expected one of "
                f"{', '.join(repr(m) for m in _MODES)}, got {mode!r}."
            )
        self.mode = mode
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if len(inputs.shape) != 3:
            raise ValueError(
                "MaskedPooling expects inputs of rank 3 (batch, time, features), "
                f"got shape {tuple(inputs.shape)}."
            )
        if mask is None:
            mask = ops.ones(ops.shape(inputs)[:2], dtype="bool")
        mask = ops.cast(mask, "bool")
        valid = ops.expand_dims(ops.cast(mask, inputs.dtype), -1)
        any_valid = ops.any(mask, axis=1, keepdims=True)
        if self.mode == "last":
            return self._last(inputs, mask, any_valid)
        if self.mode == "mean":
            return self._mean(inputs, valid)
        if self.mode == "max":
            return self._max(inputs, mask, any_valid)
        return ops.concatenate(
            [self._mean(inputs, valid), self._max(inputs, mask, any_valid)], axis=-1
        )

    @staticmethod
    def _mean(inputs, valid):
        total = ops.sum(inputs * valid, axis=1)
        count = ops.maximum(ops.sum(valid, axis=1), ops.cast(1, inputs.dtype))
        return total / count

    @staticmethod
    def _max(inputs, mask, any_valid):
        # The dtype's lowest value rather than -inf keeps float16 and the all-masked case finite.
        lowest = ops.cast(-65504.0 if inputs.dtype == "float16" else -3.0e38, inputs.dtype)
        masked = ops.where(ops.expand_dims(mask, -1), inputs, lowest)
        pooled = ops.max(masked, axis=1)
        return ops.where(any_valid, pooled, ops.zeros_like(pooled))

    @staticmethod
    def _last(inputs, mask, any_valid):
        steps = ops.shape(inputs)[1]
        # Position of the last True: the largest index where the mask holds, which for a right-padded
        # mask is `length - 1`.
        positions = ops.arange(steps, dtype="int32")
        scored = ops.where(mask, ops.expand_dims(positions, 0), -1)
        last = ops.maximum(ops.max(scored, axis=1), 0)
        select = ops.expand_dims(ops.one_hot(last, steps, dtype=inputs.dtype), -1)
        picked = ops.sum(inputs * select, axis=1)
        return ops.where(any_valid, picked, ops.zeros_like(picked))

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        features = input_shape[-1]
        if self.mode == "mean_max" and features is not None:
            features = 2 * features
        return (input_shape[0], features)

    def get_config(self):
        base_config = super().get_config()
        config = {"mode": self.mode}
        return {**base_config, **config}
