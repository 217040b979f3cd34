"""Vocal tract length perturbation (Jaitly & Hinton 2013): a random stretch of each training utterance's frequency
axis, applied to mel-band features, active only in training.

A speaker's formants sit higher or lower by the length of their vocal tract; a recogniser trained on a few voices
learns those positions. Stretching the frequency axis by a random factor per utterance (0.9-1.1 covers most adult
voices) makes one voice sound like many, where speed perturbation also changes the tempo.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

_GRID = 41  # warp factors in [1 - max_warp, 1 + max_warp]: a lookup table instead of mel formulas in the graph


@keras.saving.register_keras_serializable(package="seqtasks")
class FrequencyWarp(keras.layers.Layer):
    """Stretches the frequency axis of mel features by a random factor per utterance while training.

    Output band `c` (centre frequency `f_c`) takes the input's value at frequency `f_c / alpha`, interpolated
    linearly between the two nearest bands (clamped at the edges), with `alpha` uniform in
    `[1 - max_warp, 1 + max_warp]` (one of 41 equally spaced values) per utterance: `alpha > 1` moves the
    spectrum's content up (a shorter vocal tract). At inference the layer is the identity.

    Args:
        center_frequencies: The centre frequency in Hz of each mel band, increasing (e.g.
            `librosa.mel_frequencies(n_mels + 2, fmin=fmin, fmax=fmax, htk=htk)[1:-1]`).
        max_warp: Largest relative stretch, in `[0, 0.5)`; 0 turns the layer off.
        seed: integer seed; the same seed gives the same sequence of factors.

    Call arguments:
        inputs: `(batch, frames, bands)` features (bands in the order of `center_frequencies`).
        training: warps only when `True`.

    Example:

    >>> warp = FrequencyWarp(np.geomspace(100.0, 4000.0, 40), max_warp=0.1, seed=1)
    >>> out = warp(tf.random.normal([2, 50, 40]), training=True)
    """

    def __init__(self, center_frequencies, max_warp: float = 0.1, seed: int | None = None, **kwargs):
        super().__init__(**kwargs)
        centers = np.asarray(center_frequencies, np.float64).reshape(-1)
        if centers.size < 2 or not np.all(np.isfinite(centers)) or np.any(np.diff(centers) <= 0):
            raise ValueError("Received an invalid value for argument `center_frequencies`, expected at least two "
                             "increasing frequencies.")
        if isinstance(max_warp, bool) or not isinstance(max_warp, int | float) or not 0.0 <= max_warp < 0.5:
            raise ValueError(f"Received an invalid value for argument `max_warp`, expected a number in [0, 0.5), "
                             f"got {max_warp!r}.")
        self.center_frequencies = [float(f) for f in centers]
        self.max_warp = float(max_warp)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        alphas = np.linspace(1.0 - self.max_warp, 1.0 + self.max_warp, _GRID)
        # Fractional input band of each (factor, output band): where f_c / alpha falls among the centres.
        positions = np.stack([np.interp(centers / a, centers, np.arange(centers.size)) for a in alphas])
        self._lower = positions.astype(np.int32).clip(0, centers.size - 2)
        self._fraction = (positions - self._lower).astype(np.float32)

    def call(self, inputs, training=None):
        if not training or self.max_warp == 0.0:
            return inputs
        features = tf.convert_to_tensor(inputs)
        batch = tf.shape(features)[0]
        choice = keras.random.randint([batch], 0, _GRID, seed=self.seed_generator)
        lower = tf.gather(tf.constant(self._lower), choice)  # (batch, bands)
        fraction = tf.cast(tf.gather(tf.constant(self._fraction), choice), features.dtype)[:, None, :]
        below = tf.gather(features, lower, axis=2, batch_dims=1)
        above = tf.gather(features, lower + 1, axis=2, batch_dims=1)
        return below + fraction * (above - below)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        base_config = super().get_config()
        config = {"center_frequencies": self.center_frequencies, "max_warp": self.max_warp, "seed": self.seed}
        return {**base_config, **config}


__all__ = ["FrequencyWarp"]
