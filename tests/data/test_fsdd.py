"""FSDD (`seqtasks.data.fsdd`): the reader and official split; through tensorflow-datasets: conversion to the FSDD
layout, the cache, and the offline error."""

from __future__ import annotations

import time
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile

from seqtasks.data import fsdd
from seqtasks.data.fsdd import DIGIT_WORDS, find_fsdd, fsdd_split, fsdd_utterances, read_fsdd
from seqtasks.errors import DataError

RATE = 8000


def data_config(tmp_path):
    return SimpleNamespace(fsdd_dir="", data_dir="", tfds_data_dir=str(tmp_path / "tfds"))


def synthetic_examples():
    rng = np.random.default_rng(0)
    for digit in (3, 7):
        for index in (0, 4, 5, 12):
            yield f"{digit}_theo_{index}.wav", rng.integers(-3000, 3000, size=400 + index)


def test_conversion_keeps_names_samples_and_official_split(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    assert fsdd.cached_fsdd() is None
    folder = tmp_path / "cache" / "fsdd"
    written = fsdd.write_fsdd_recordings(synthetic_examples(), folder)
    assert written == 8
    assert fsdd.cached_fsdd() == folder
    recordings = read_fsdd(folder)
    assert len(recordings) == 8
    assert {r.index for r in fsdd_split(recordings, "test", validation_indices=())} == {0, 4}
    samples, rate = soundfile.read(folder / "recordings" / "7_theo_12.wav", dtype="int16")
    expected = dict(synthetic_examples())["7_theo_12.wav"]
    assert rate == 8000
    np.testing.assert_array_equal(samples, expected)


def test_an_unfinished_conversion_is_not_used(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache" / "fsdd" / "recordings").mkdir(parents=True)
    assert fsdd.cached_fsdd() is None


def test_find_fsdd_uses_the_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SEQTASKS_DATA_DIR", raising=False)
    fsdd.write_fsdd_recordings(synthetic_examples(), tmp_path / "cache" / "fsdd")
    assert find_fsdd(data_config(tmp_path)) == tmp_path / "cache" / "fsdd"


def test_offline_without_copy_fails_fast_in_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SEQTASKS_DATA_DIR", raising=False)
    monkeypatch.setattr("seqtasks.data.registry.network_available", lambda *a, **k: False)
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        find_fsdd(data_config(tmp_path))
    message = str(info.value)
    assert "\n" not in message
    assert "not downloadable (network unreachable)" in message
    assert "free-spoken-digit-dataset" in message and "--data-dir" in message
    assert time.monotonic() - start < 30


def _wav(path, seconds=0.2, rate=RATE, seed=0):
    rng = np.random.default_rng(seed)
    soundfile.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate)
    return path


def fake_fsdd(tmp_path, speakers=("ann", "bob"), indices=range(0, 12)):
    """10 digits x `indices` short recordings of each speaker in `tmp_path/recordings/`."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    for speaker in speakers:
        for digit in range(10):
            for index in indices:
                _wav(folder / f"{digit}_{speaker}_{index}.wav", seconds=0.05, seed=digit * 100 + index)
    return tmp_path


def test_fsdd_reader_and_official_split(tmp_path):
    recordings = read_fsdd(fake_fsdd(tmp_path, speakers=("ann",), indices=range(0, 12)))
    assert len(recordings) == 120
    test = fsdd_split(recordings, "test")
    validation = fsdd_split(recordings, "validation", validation_indices=range(5, 8))
    train = fsdd_split(recordings, "train", validation_indices=range(5, 8))
    assert {r.index for r in test} == set(range(5))
    assert {r.index for r in validation} == {5, 6, 7}
    assert {r.index for r in train} == set(range(8, 12))
    assert {r.index for r in fsdd_split(recordings, "train", validation_indices=())} == set(range(5, 12))
    assert fsdd_utterances(test[:1])[0].transcript == DIGIT_WORDS[test[0].digit]
    with pytest.raises(ValueError, match="overlapping"):
        fsdd_split(recordings, "validation", validation_indices=[3, 5])
    (tmp_path / "recordings" / "notes.wav").write_bytes(b"")
    with pytest.raises(DataError, match=r"notes\.wav is not named"):
        read_fsdd(tmp_path)


def test_test_speakers_hold_out_whole_speakers(tmp_path):
    from seqtasks.data.fsdd import FSDDRecording, fsdd_split
    from seqtasks.errors import DataError

    recordings = [FSDDRecording(digit=d, speaker=s, index=i, path=tmp_path / f"{d}_{s}_{i}.wav")
                  for d in range(2) for s in ("ann", "bob", "cid") for i in range(12)]
    test = fsdd_split(recordings, "test", [5, 6], test_speakers=["bob"])
    validation = fsdd_split(recordings, "validation", [5, 6], test_speakers=["bob"])
    train = fsdd_split(recordings, "train", [5, 6], test_speakers=["bob"])
    assert {r.speaker for r in test} == {"bob"} and len(test) == 24
    assert {r.speaker for r in validation} == {r.speaker for r in train} == {"ann", "cid"}
    assert {r.index for r in validation} == {5, 6} and {0, 1, 2, 3, 4, 7} <= {r.index for r in train}
    assert len(test) + len(validation) + len(train) == len(recordings)
    with pytest.raises(DataError, match="not FSDD speakers here"):
        fsdd_split(recordings, "test", test_speakers=["dan"])
    with pytest.raises(DataError, match="leaving none"):
        fsdd_split(recordings, "test", test_speakers=["ann", "bob", "cid"])
