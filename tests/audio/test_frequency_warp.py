"""Vocal tract length perturbation: each warped utterance equals an independent numpy interpolation at
f_c / alpha for one factor of the grid; identity at inference; config round trip; argument checks."""

from __future__ import annotations

import keras
import librosa
import numpy as np
import pytest
import tensorflow as tf

from seqtasks.audio.frequency_warp import FrequencyWarp

CENTERS = librosa.mel_frequencies(42, fmin=20.0, fmax=8000.0)[1:-1]


def numpy_warp(features: np.ndarray, alpha: float) -> np.ndarray:
    """Each output band's value at frequency f_c / alpha, linear between the neighbouring band centres."""
    out = np.empty_like(features)
    for t in range(features.shape[0]):
        out[t] = np.interp(CENTERS / alpha, CENTERS, features[t])
    return out


def test_each_utterance_is_the_input_read_at_f_over_alpha():
    rng = np.random.default_rng(0)
    features = rng.normal(size=(6, 5, CENTERS.size)).astype(np.float32)
    warp = FrequencyWarp(CENTERS, max_warp=0.15, seed=3)
    out = warp(tf.constant(features), training=True).numpy()
    alphas = np.linspace(0.85, 1.15, 41)
    chosen = []
    for b in range(features.shape[0]):
        errors = [np.abs(out[b] - numpy_warp(features[b], a)).max() for a in alphas]
        best = int(np.argmin(errors))
        assert errors[best] < 1e-4, errors[best]
        chosen.append(alphas[best])
    assert len(set(np.round(chosen, 4))) > 1  # factors differ between utterances


def test_a_stretch_moves_a_formant_up_and_a_squeeze_down():
    features = np.zeros((1, 1, CENTERS.size), np.float32)
    features[..., 20] = 1.0
    up = numpy_warp(features[0], 1.15)[0]
    down = numpy_warp(features[0], 0.85)[0]
    assert up.argmax() > 20 > down.argmax()


def test_identity_at_inference_and_when_off():
    x = tf.random.normal([2, 7, CENTERS.size])
    assert np.array_equal(FrequencyWarp(CENTERS, 0.1, seed=1)(x, training=False).numpy(), x.numpy())
    assert np.array_equal(FrequencyWarp(CENTERS, 0.0, seed=1)(x, training=True).numpy(), x.numpy())


def test_config_round_trip_and_invalid_arguments():
    layer = FrequencyWarp(CENTERS, max_warp=0.1, seed=4, name="warp")
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert isinstance(again, FrequencyWarp) and again.get_config() == layer.get_config()
    with pytest.raises(ValueError, match="max_warp"):
        FrequencyWarp(CENTERS, max_warp=0.5)
    with pytest.raises(ValueError, match="max_warp"):
        FrequencyWarp(CENTERS, max_warp=True)
    with pytest.raises(ValueError, match="center_frequencies"):
        FrequencyWarp(CENTERS[::-1])
