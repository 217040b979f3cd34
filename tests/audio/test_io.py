"""Tests for seqtasks.audio.io: decoding, downmixing, resampling and one-line errors for bad files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile

from seqtasks.audio import io as io_module
from seqtasks.audio.io import (
    AudioCache,
    audio_info,
    load_audio,
    num_samples_at,
    resample_waveform,
    resampled_length,
)
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


# ------------------------------------------------------------------------------------------- lengths without decoding


@pytest.mark.parametrize(
    "native_rate, rate, frames",
    [
        (8000, 16000, 4001), (22050, 16000, 22050), (22050, 16000, 12345), (16000, 8000, 8001),
        (44100, 16000, 44101), (11025, 8000, 5513), (48000, 16000, 4799), (16000, 16000, 777),
    ],
)
def test_num_samples_at_equals_the_decoded_length(tmp_path, native_rate, rate, frames):
    wave = np.random.default_rng(frames).uniform(-0.5, 0.5, frames).astype(np.float32)
    soundfile.write(tmp_path / "a.flac", wave, native_rate)
    assert audio_info(tmp_path / "a.flac") == (frames, native_rate)
    assert num_samples_at(tmp_path / "a.flac", rate) == load_audio(tmp_path / "a.flac", rate).size


def test_resampled_length_follows_librosa_including_float_rounding():
    import librosa

    # 16 kHz -> 17.6 kHz is a pair where exact integer ceil and librosa's float formula disagree for some lengths.
    for n, a, b in [(1, 16000, 17600), (5, 16000, 17600), (250, 16000, 17600), (22050, 22050, 16000), (3, 8000, 16000)]:
        expected = librosa.resample(np.zeros(n, np.float32), orig_sr=a, target_sr=b).size
        assert resampled_length(n, a, b) == expected
    assert resampled_length(0, 8000, 16000) == 0 and resampled_length(10, 8000, 8000) == 10


def test_audio_info_reads_the_header_only(tmp_path, monkeypatch):
    soundfile.write(tmp_path / "a.wav", _tone(8000), 8000)
    stereo = np.stack([_tone(22050), _tone(22050)], axis=1)
    soundfile.write(tmp_path / "s.flac", stereo, 22050)

    def no_decoding(path):
        raise AssertionError(f"{path} was decoded")

    monkeypatch.setattr(io_module, "_decode", no_decoding)
    assert audio_info(tmp_path / "a.wav") == (4000, 8000)
    assert audio_info(tmp_path / "s.flac") == (11025, 22050)
    assert num_samples_at(tmp_path / "s.flac", 16000) == 8000


def test_num_samples_at_errors_are_one_line_and_name_the_file(tmp_path):
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_bytes(b"this is not audio at all" * 10)
    soundfile.write(tmp_path / "zero.wav", np.zeros(0, np.float32), 8000)
    for name, match in [("nope.wav", "does not exist"), ("empty.wav", "is empty"), ("junk.wav", "Cannot decode"),
                        ("zero.wav", "holds no samples")]:
        with pytest.raises(DataError, match=match) as info:
            num_samples_at(tmp_path / name, 8000)
        assert name in str(info.value) and "\n" not in str(info.value) and "Fix:" in str(info.value)


# ------------------------------------------------------------------------------------------- AudioCache


def _count_loads(monkeypatch):
    calls = []
    real = io_module.load_audio

    def counting(path, rate):
        calls.append(Path(path).name)
        return real(path, rate)

    monkeypatch.setattr(io_module, "load_audio", counting)
    return calls


def test_audio_cache_keeps_within_its_bound(tmp_path, monkeypatch):
    for i in range(4):
        soundfile.write(tmp_path / f"{i}.wav", _tone(8000, seconds=0.5), 8000)  # 4000 samples = 16000 bytes
    calls = _count_loads(monkeypatch)
    cache = AudioCache(capacity_mb=40000 / 2**20, sample_rate=8000)  # room for two files
    for _ in range(2):
        for i in range(4):
            wave = cache.load(tmp_path / f"{i}.wav")
            assert wave.size == 4000 and not wave.flags.writeable
            assert cache.nbytes <= cache.capacity_bytes and len(cache) <= 2
    assert len(calls) == 8  # cycling through 4 files with room for 2: every read misses (LRU)
    calls.clear()
    cache.load(tmp_path / "3.wav")
    cache.load(tmp_path / "2.wav")
    assert calls == [] and cache.hits == 2  # the two most recent stay


def test_audio_cache_unbounded_enough_and_disabled(tmp_path, monkeypatch):
    soundfile.write(tmp_path / "a.wav", _tone(8000), 8000)
    calls = _count_loads(monkeypatch)
    big = AudioCache(capacity_mb=1, sample_rate=16000)
    np.testing.assert_array_equal(big.load(tmp_path / "a.wav"), big.load(tmp_path / "a.wav"))
    assert calls == ["a.wav"] and big.load(tmp_path / "a.wav").size == 8000
    off = AudioCache(capacity_mb=0, sample_rate=8000)
    off.load(tmp_path / "a.wav")
    off.load(tmp_path / "a.wav")
    assert len(calls) == 3 and len(off) == 0
    with pytest.raises(DataError, match="missing.wav does not exist"):
        off.load(tmp_path / "missing.wav")
    with pytest.raises(ValueError, match="argument `capacity_mb`, expected a number >= 0"):
        AudioCache(capacity_mb=-1, sample_rate=8000)
