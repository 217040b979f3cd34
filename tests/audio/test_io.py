"""Tests for seqtasks.audio.io: decoding, downmixing, resampling and one-line errors for bad files."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from seqtasks.audio.io import load_audio, resample_waveform
from seqtasks.errors import DataError


def _tone(rate: int, seconds: float = 0.5, freq: float = 440.0) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.5 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_reads_wav_at_native_rate(tmp_path):
    tone = _tone(8000)
    soundfile.write(tmp_path / "a.wav", tone, 8000, subtype="FLOAT")
    out = load_audio(tmp_path / "a.wav", 8000)
    assert out.dtype == np.float32 and out.ndim == 1
    np.testing.assert_allclose(out, tone, atol=1e-6)


@pytest.mark.parametrize("native_rate", [8000, 11025, 22050, 44100])
def test_resamples_any_rate_to_config_rate(tmp_path, native_rate):
    soundfile.write(tmp_path / "a.flac", _tone(native_rate), native_rate)
    out = load_audio(tmp_path / "a.flac", 16000)
    assert abs(out.size - 8000) <= 2
    # The 440 Hz tone survives resampling: its spectral peak stays at 440 Hz.
    spectrum = np.abs(np.fft.rfft(out))
    assert abs(np.argmax(spectrum) * 16000 / out.size - 440.0) < 5.0


def test_stereo_is_averaged_to_mono(tmp_path):
    left, right = _tone(8000), np.zeros(4000, np.float32)
    soundfile.write(tmp_path / "s.wav", np.stack([left, right], axis=1), 8000, subtype="FLOAT")
    np.testing.assert_allclose(load_audio(tmp_path / "s.wav", 8000), left / 2, atol=1e-6)


def test_missing_file_names_it(tmp_path):
    with pytest.raises(DataError, match="nope.wav does not exist"):
        load_audio(tmp_path / "nope.wav", 8000)


def test_empty_file_names_it(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    with pytest.raises(DataError, match=r"empty\.wav is empty"):
        load_audio(tmp_path / "empty.wav", 8000)


def test_wav_without_samples_names_it(tmp_path):
    soundfile.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 8000)
    with pytest.raises(DataError, match=r"zero\.wav holds no samples"):
        load_audio(tmp_path / "zero.wav", 8000)


def test_unreadable_file_gives_one_line_error(tmp_path):
    (tmp_path / "junk.wav").write_bytes(b"this is not audio at all" * 10)
    with pytest.raises(DataError) as info:
        load_audio(tmp_path / "junk.wav", 8000)
    message = str(info.value)
    assert "junk.wav" in message and "\n" not in message and "Fix:" in message


def test_invalid_sample_rate():
    with pytest.raises(ValueError, match="sample_rate"):
        resample_waveform(np.zeros(10, np.float32), 8000, 0)
