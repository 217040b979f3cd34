"""Tests for seqtasks.audio.perturb: speed perturbation lengths, pitch, identity and argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from seqtasks.audio.perturb import speed_perturb, speed_perturbed_length


def _tone(rate: int, seconds: float = 1.0, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_factor_one_returns_the_input():
    wave = _tone(8000, 0.1)
    assert speed_perturb(wave, 1.0, 8000) is wave
    assert speed_perturbed_length(wave.size, 1.0, 8000) == wave.size


@pytest.mark.parametrize("factor", [0.9, 0.95, 1.05, 1.1, 1.234, 0.5, 2.0])
@pytest.mark.parametrize("num_samples", [1, 2, 7, 801, 16000])
def test_length_matches_speed_perturbed_length(factor, num_samples):
    wave = np.random.default_rng(num_samples).standard_normal(num_samples).astype(np.float32)
    out = speed_perturb(wave, factor, 16000)
    assert out.dtype == np.float32 and out.ndim == 1
    assert out.size == speed_perturbed_length(num_samples, factor, 16000)
    assert abs(out.size - num_samples / factor) <= 1


def test_faster_is_shorter_and_higher():
    tone = _tone(16000)
    fast, slow = speed_perturb(tone, 1.1, 16000), speed_perturb(tone, 0.9, 16000)
    assert fast.size == 14546 and slow.size == 17778
    for out, factor in ((fast, 1.1), (slow, 0.9)):
        peak = np.argmax(np.abs(np.fft.rfft(out))) * 16000 / out.size
        assert abs(peak - 440.0 * factor) < 3.0  # the pitch moves with the speed (Kaldi's sox `speed`)


def test_empty_waveform_stays_empty():
    assert speed_perturb(np.zeros(0, np.float32), 1.1, 8000).size == 0
    assert speed_perturbed_length(0, 1.1, 8000) == 0


@pytest.mark.parametrize("factor", [0, -1.0, 2.5, float("nan"), float("inf"), True, "1.1", None])
def test_invalid_factor(factor):
    with pytest.raises(ValueError, match=r"Received an invalid value for argument `factor`, expected a number in \(0, 2\]"):
        speed_perturb(np.zeros(10, np.float32), factor, 8000)
    with pytest.raises(ValueError, match="argument `factor`"):
        speed_perturbed_length(10, factor, 8000)


def test_invalid_sample_rate_and_shape():
    with pytest.raises(ValueError, match="argument `sample_rate`, expected a positive integer, got 0"):
        speed_perturb(np.zeros(10, np.float32), 1.1, 0)
    with pytest.raises(ValueError, match="argument `waveform`, expected a 1-D array"):
        speed_perturb(np.zeros((2, 10), np.float32), 1.1, 8000)
