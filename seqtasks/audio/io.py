"""Reading audio files into float32 mono waveforms at a fixed sample rate.

Every reader in the speech recipe goes through `load_audio`, so that one place decides how files are decoded,
downmixed and resampled, and one place turns a bad file into a one-line error that names it. `num_samples_at`
tells the length `load_audio` would return from the file's header alone (no decoding), so large datasets can be
planned without reading their audio, and `AudioCache` keeps decoded waveforms within a memory bound.
"""

from __future__ import annotations

import math
import os
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable
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


def check_audio_file(path: Path) -> None:
    """One-line errors for a missing or 0-byte file (before any decoder sees it)."""
    if not path.is_file():
        raise DataError(f"Audio file {path} does not exist. Fix: check the path (manifest paths are relative to the manifest).")
    if path.stat().st_size == 0:
        raise DataError(f"Audio file {path} is empty (0 bytes). Fix: re-export the recording or remove it from the data.")


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
    check_audio_file(path)
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


def resampled_length(num_samples: int, orig_sample_rate: float, sample_rate: float) -> int:
    """The length `resample_waveform` (librosa) gives `num_samples` samples converted between the two rates.

    librosa computes `ceil(num_samples * (sample_rate / orig_sample_rate))` in floating point; the same formula
    is used here (not exact integer arithmetic), because for some rate pairs the two differ by one sample.
    """
    if num_samples <= 0 or orig_sample_rate == sample_rate:
        return max(int(num_samples), 0)
    return int(math.ceil(num_samples * (float(sample_rate) / orig_sample_rate)))


def audio_info(path: str | os.PathLike) -> tuple[int, int]:
    """The number of frames (samples per channel) and the native sample rate of an audio file.

    Read from the file's header by soundfile (libsndfile) without decoding the audio; only formats that
    soundfile cannot open (e.g. m4a, or mp3 with an old libsndfile) are decoded in full to count them.

    Args:
        path: an audio file.

    Returns:
        `(frames, sample_rate)`; `frames` may be 0 for a valid file without samples.

    Raises:
        DataError: the file does not exist, is empty (0 bytes) or cannot be read (the message names it).
    """
    import soundfile

    path = Path(path)
    check_audio_file(path)
    try:
        info = soundfile.info(str(path))
        frames, rate = int(info.frames), int(info.samplerate)
        if rate > 0 and frames >= 0:
            return frames, rate
    except Exception:  # unknown to libsndfile: decode it below (audioread), which also names the file on failure
        pass
    data, rate = _decode(path)
    return int(data.shape[0]), int(rate)


def num_samples_at(path: str | os.PathLike, sample_rate: int) -> int:
    """The length in samples of `load_audio(path, sample_rate)`, from the file's header (see `audio_info`).

    Args:
        path: an audio file.
        sample_rate: the rate the audio would be loaded at.

    Raises:
        DataError: the file does not exist, is empty, cannot be read, or holds no samples.
    """
    _validate_sample_rate(sample_rate)
    frames, native_rate = audio_info(path)
    if frames == 0:
        raise DataError(f"Audio file {path} holds no samples. Fix: re-export the recording or remove it from the data.")
    return resampled_length(frames, native_rate, sample_rate)


class AudioCache:
    """Decoded waveforms at one sample rate, kept in memory up to a size bound (least recently used go first).

    `load(path)` returns the cached waveform or reads it with `load_audio` (at call time, so a patched
    `load_audio` is seen); the arrays are read-only, shared between callers. Safe to use from several threads
    (tf.data runs generators on its own threads). A waveform bigger than the whole bound is never kept.

    Args:
        capacity_mb: memory bound in MiB (float32 samples, 4 bytes each); 0 = keep nothing.
        sample_rate: the rate every waveform is loaded at.
        loader: reads one file at a rate (default: `load_audio`).

    Example:

    >>> cache = AudioCache(capacity_mb=256, sample_rate=16000)  # doctest: +SKIP
    >>> wave = cache.load("a.flac")  # decoded once; later calls are served from memory  # doctest: +SKIP
    """

    def __init__(
        self,
        capacity_mb: float,
        sample_rate: int,
        loader: Callable[[Path, int], np.ndarray] | None = None,
    ):
        if not isinstance(capacity_mb, int | float) or isinstance(capacity_mb, bool) or capacity_mb < 0:
            raise ValueError(
                "Received an invalid value for argument `capacity_mb`, expected a number >= 0, "
                f"got {capacity_mb!r}."
            )
        _validate_sample_rate(sample_rate)
        self.capacity_bytes = int(capacity_mb * 1024 * 1024)
        self.sample_rate = int(sample_rate)
        self._loader = loader
        self._items: OrderedDict[str, np.ndarray] = OrderedDict()
        self._lock = threading.Lock()
        self.nbytes = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._items)

    def load(self, path: str | os.PathLike) -> np.ndarray:
        """The waveform of `path` at the cache's rate (read-only); raises `load_audio`'s `DataError`s."""
        key = str(path)
        with self._lock:
            wave = self._items.get(key)
            if wave is not None:
                self._items.move_to_end(key)
                self.hits += 1
                return wave
            self.misses += 1
        loader = self._loader or load_audio
        wave = np.asarray(loader(Path(path), self.sample_rate), dtype=np.float32)
        wave.setflags(write=False)
        if 0 < wave.nbytes <= self.capacity_bytes:
            with self._lock:
                if key not in self._items:
                    self._items[key] = wave
                    self.nbytes += wave.nbytes
                while self.nbytes > self.capacity_bytes:
                    _, old = self._items.popitem(last=False)
                    self.nbytes -= old.nbytes
        return wave

    def clear(self) -> None:
        """Drops every cached waveform."""
        with self._lock:
            self._items.clear()
            self.nbytes = 0
