"""Reading audio files into float32 mono waveforms at a fixed sample rate.

Every reader in the speech recipe goes through `load_audio`, so that one place decides how files are decoded,
downmixed and resampled, and one place turns a bad file into a one-line error that names it.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np

from seqtasks.errors import DataError

AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".opus", ".mp3", ".m4a", ".aiff", ".aif", ".au")


def _validate_sample_rate(sample_rate: int) -> None:
    if not isinstance(sample_rate, int | np.integer) or isinstance(sample_rate, bool) or sample_rate <= 0:
        raise ValueError(
            "Received an invalid value for argument `sample_rate`, expected a positive integer, "
            f"got {sample_rate!r}."
        )


def _decode(path: Path) -> tuple[np.ndarray, int]:
    """Decodes `path` to a float32 array (frames, channels) and its native sample rate."""
    import soundfile

    try:
        data, rate = soundfile.read(str(path), dtype="float32", always_2d=True)
        return data, int(rate)
    except Exception as sf_error:  # any decoder failure falls through to librosa
        first_error = sf_error
    # soundfile (libsndfile) cannot read every codec (e.g. some mp3/m4a); librosa falls back to audioread.
    import librosa

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            data, rate = librosa.load(str(path), sr=None, mono=False, dtype=np.float32)
    except Exception as lr_error:
        reason = str(first_error).splitlines()[0] if str(first_error) else type(lr_error).__name__
        raise DataError(
            f"Cannot decode audio file {path}: {reason}. Fix: check that it is a valid audio file "
            f"({', '.join(AUDIO_EXTENSIONS)}) or remove it from the data."
        ) from None
    data = np.asarray(data, dtype=np.float32)
    data = data[:, None] if data.ndim == 1 else data.T
    return data, int(rate)


def resample_waveform(waveform: np.ndarray, orig_sample_rate: int, sample_rate: int) -> np.ndarray:
    """Resamples a 1-D float32 waveform with librosa's default (soxr high quality) resampler.

    Args:
        waveform: 1-D float array.
        orig_sample_rate: the rate `waveform` was recorded at.
        sample_rate: the wanted rate.

    Returns:
        A float32 1-D array at `sample_rate` (the input itself when the rates are equal).
    """
    _validate_sample_rate(orig_sample_rate)
    _validate_sample_rate(sample_rate)
    waveform = np.asarray(waveform, dtype=np.float32)
    if orig_sample_rate == sample_rate or waveform.size == 0:
        return waveform
    import librosa

    return librosa.resample(waveform, orig_sr=int(orig_sample_rate), target_sr=int(sample_rate)).astype(
        np.float32
    )


def load_audio(path: str | os.PathLike, sample_rate: int) -> np.ndarray:
    """Reads an audio file as a float32 mono waveform at `sample_rate`.

    Multi-channel audio is averaged to mono; any native rate is resampled to `sample_rate` (librosa's soxr
    resampler), so an 8 kHz file and a 44.1 kHz file both come back at the configured rate.

    Args:
        path: an audio file (wav, flac, ogg always; mp3/m4a where the system has the codec).
        sample_rate: the sample rate of the returned waveform.

    Returns:
        A 1-D float32 array of samples in [-1, 1].

    Raises:
        DataError: the file does not exist, cannot be decoded, or holds no samples (the message names the file).

    Example:

    >>> wave = load_audio("recordings/7_jackson_32.wav", sample_rate=16000)  # doctest: +SKIP
    """
    _validate_sample_rate(sample_rate)
    path = Path(path)
    if not path.is_file():
        raise DataError(f"Audio file {path} does not exist. Fix: check the path (manifest paths are relative to the manifest).")
    if path.stat().st_size == 0:
        raise DataError(f"Audio file {path} is empty (0 bytes). Fix: re-export the recording or remove it from the data.")
    data, native_rate = _decode(path)
    if data.shape[0] == 0:
        raise DataError(f"Audio file {path} holds no samples. Fix: re-export the recording or remove it from the data.")
    mono = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(mono)):
        raise DataError(f"Audio file {path} contains NaN or infinite samples. Fix: re-export the recording.")
    return resample_waveform(mono, native_rate, sample_rate)


def audio_duration(path: str | os.PathLike) -> float:
    """Returns the duration of an audio file in seconds without decoding all of it (where the format allows)."""
    import soundfile

    try:
        return float(soundfile.info(str(path)).duration)
    except Exception:
        import librosa

        try:
            return float(librosa.get_duration(path=str(path)))
        except Exception as error:
            raise DataError(f"Cannot read the duration of audio file {path}: {error}.") from None
