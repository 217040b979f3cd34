"""SpecAugment (Park et al. 2019) time and frequency masking, active only in training."""

from __future__ import annotations

import keras
import tensorflow as tf


def _check_non_negative_int(name: str, value) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected a non-negative integer, got {value!r}."
        )


@keras.saving.register_keras_serializable(package="seqtasks")
class SpecAugment(keras.layers.Layer):
    """Masks random bands of feature channels and random spans of frames while training.

    Each utterance gets `num_freq_masks` bands of width uniform in `[0, freq_mask_param]` channels and
    `num_time_masks` spans of width uniform in `[0, min(time_mask_param, time_mask_ratio * length)]` frames, placed
    uniformly inside the utterance's valid frames (padding is never counted as maskable). Masked values are set to
    `mask_value` (0 = the mean after per-utterance normalisation). At inference the layer is the identity.

    Args:
        freq_mask_param: largest frequency mask width in channels (F in the paper).
        num_freq_masks: frequency masks per utterance.
        time_mask_param: largest time mask width in frames (T in the paper).
        num_time_masks: time masks per utterance.
        time_mask_ratio: upper bound on a time mask's width as a fraction of the utterance's length (p).
        mask_value: the value written into masked cells.
        seed: integer seed; the same seed gives the same sequence of masks.

    Call arguments:
        inputs: `(batch, frames, channels)` features.
        lengths: int `(batch,)` valid frames; `None` means all frames are valid.
        training: masks are applied only when `True`.

    Example:

    >>> aug = SpecAugment(freq_mask_param=8, time_mask_param=20, seed=1)
    >>> out = aug(tf.ones([2, 100, 40]), training=True)
    """

    def __init__(
        self,
        freq_mask_param: int = 15,
        num_freq_masks: int = 2,
        time_mask_param: int = 40,
        num_time_masks: int = 2,
        time_mask_ratio: float = 0.2,
        mask_value: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("freq_mask_param", freq_mask_param), ("num_freq_masks", num_freq_masks),
                            ("time_mask_param", time_mask_param), ("num_time_masks", num_time_masks)):
            _check_non_negative_int(name, value)
        if not 0.0 <= float(time_mask_ratio) <= 1.0:
            raise ValueError(
                "Received an invalid value for argument `time_mask_ratio`, expected a number in [0, 1], "
                f"got {time_mask_ratio!r}."
            )
        self.freq_mask_param = freq_mask_param
        self.num_freq_masks = num_freq_masks
        self.time_mask_param = time_mask_param
        self.num_time_masks = num_time_masks
        self.time_mask_ratio = float(time_mask_ratio)
        self.mask_value = float(mask_value)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def _span_mask(self, batch, num_masks: int, max_width, extent, size):
        """Boolean `(batch, size)`: True inside any of `num_masks` random spans of `extent` positions."""
        max_width = tf.cast(max_width, tf.float32)
        extent = tf.cast(extent, tf.float32)
        u_width = keras.random.uniform([batch, num_masks], seed=self.seed_generator)
        u_start = keras.random.uniform([batch, num_masks], seed=self.seed_generator)
        width = tf.minimum(tf.floor(u_width * (max_width + 1.0)), max_width)
        start = tf.floor(u_start * tf.maximum(extent - width + 1.0, 1.0))
        positions = tf.cast(tf.range(size), tf.float32)[None, None, :]
        inside = (positions >= start[..., None]) & (positions < (start + width)[..., None])
        return tf.reduce_any(inside, axis=1)

    def call(self, inputs, lengths=None, training=None):
        if not training:
            return inputs
        features = tf.convert_to_tensor(inputs)
        batch = tf.shape(features)[0]
        frames = tf.shape(features)[1]
        channels = tf.shape(features)[2]
        if lengths is None:
            lengths = tf.fill([batch], frames)
        lengths = tf.cast(lengths, tf.float32)
        keep = tf.ones([batch, frames, channels], tf.bool)
        if self.num_freq_masks and self.freq_mask_param:
            max_width = tf.minimum(float(self.freq_mask_param), tf.cast(channels, tf.float32))
            freq = self._span_mask(batch, self.num_freq_masks, max_width, channels, channels)
            keep &= ~freq[:, None, :]
        if self.num_time_masks and self.time_mask_param:
            max_width = tf.minimum(float(self.time_mask_param), tf.floor(self.time_mask_ratio * lengths))[:, None]
            time = self._span_mask(batch, self.num_time_masks, max_width, lengths[:, None], frames)
            keep &= ~time[:, :, None]
        return tf.where(keep, features, tf.cast(self.mask_value, features.dtype))

    def compute_output_shape(self, input_shape, lengths_shape=None):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {
            "freq_mask_param": self.freq_mask_param, "num_freq_masks": self.num_freq_masks,
            "time_mask_param": self.time_mask_param, "num_time_masks": self.num_time_masks,
            "time_mask_ratio": self.time_mask_ratio, "mask_value": self.mask_value, "seed": self.seed,
        }
        return {**base_config, **config}
