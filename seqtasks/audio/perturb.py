"""Speed perturbation of waveforms (Ko et al. 2015, "Audio augmentation for speech recognition").

The waveform is resampled as if it had been recorded at `factor * sample_rate` and is then played at
`sample_rate`: factor 1.1 makes speech 10 % faster and 10 % shorter (with its pitch raised), 0.9 slower and
longer. This is what Kaldi's `sox speed` augmentation does; a set like `[0.9, 1.0, 1.1]` drawn per utterance
and epoch triples the acoustic variety of a training set at no labelling cost.
"""

from __future__ import annotations

import math

import numpy as np

from seqtasks.audio.io import resampled_length

MAX_SPEED_FACTOR = 2.0


def _validate(factor: float, sample_rate: int) -> None:
    if (
        not isinstance(factor, int | float | np.floating | np.integer)
        or isinstance(factor, bool)
        or not math.isfinite(float(factor))
        or not 0.0 < float(factor) <= MAX_SPEED_FACTOR
    ):
        raise ValueError(
            "Received an invalid value for argument `factor`, expected a number in (0, "
            f"{MAX_SPEED_FACTOR:g}], got {factor!r}."
        )
    if not isinstance(sample_rate, int | np.integer) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ValueError(
            "Received an invalid value for argument `sample_rate`, expected a positive integer, "
            f"got {sample_rate!r}."
        )


def speed_perturbed_length(num_samples: int, factor: float, sample_rate: int) -> int:
    """The length of `speed_perturb` applied to `num_samples` samples (about `num_samples / factor`).

    Args:
        num_samples: length of the original waveform.
        factor: speed factor (> 1 = faster and shorter).
        sample_rate: rate of the waveform.
    """
    _validate(factor, sample_rate)
    if float(factor) == 1.0:
        return int(num_samples)
    return resampled_length(int(num_samples), float(factor) * sample_rate, sample_rate)


def speed_perturb(waveform: np.ndarray, factor: float, sample_rate: int) -> np.ndarray:
    """Changes the speed (and with it the pitch) of a waveform by `factor`, keeping its sample rate.

    Args:
        waveform: 1-D float waveform at `sample_rate`.
        factor: speed factor in (0, 2]: 1.1 = 10 % faster and shorter, 0.9 = slower and longer, 1.0 = unchanged.
        sample_rate: rate of `waveform` (and of the result).

    Returns:
        A float32 1-D array of `speed_perturbed_length(waveform.size, factor, sample_rate)` samples; the input
        itself for factor 1.0.

    Example:

    >>> wave = np.zeros(16000, np.float32)
    >>> speed_perturb(wave, 1.1, 16000).size, speed_perturb(wave, 0.9, 16000).size
    (14546, 17778)
    """
    _validate(factor, sample_rate)
    waveform = np.asarray(waveform, dtype=np.float32)
    if waveform.ndim != 1:
        raise ValueError(
            f"Received an invalid value for argument `waveform`, expected a 1-D array, got shape {waveform.shape}."
        )
    if float(factor) == 1.0 or waveform.size == 0:
        return waveform
    import librosa

    # soxr takes non-integer rates, so the factor is exact (no rounding of factor * sample_rate).
    out = librosa.resample(waveform, orig_sr=float(factor) * sample_rate, target_sr=float(sample_rate))
    return np.asarray(out, dtype=np.float32)
