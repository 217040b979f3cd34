"""Connected digits generated from FSDD recordings (`seqtasks.data.connected_digits`)."""

from __future__ import annotations

import numpy as np
import pytest

from seqtasks.data.connected_digits import ConnectedDigits
from seqtasks.data.fsdd import DIGIT_WORDS, FSDDRecording, fsdd_split, read_fsdd
from tests.data.test_fsdd import fake_fsdd as _fake_fsdd

RATE = 8000


def test_connected_digits_deterministic_and_seeded(tmp_path):
    recordings = read_fsdd(_fake_fsdd(tmp_path))
    train = fsdd_split(recordings, "train", validation_indices=())
    a = ConnectedDigits(train, RATE, 20, seed=3)
    b = ConnectedDigits(train, RATE, 20, seed=3)
    c = ConnectedDigits(train, RATE, 20, seed=4)
    for i in (0, 7, 19):
        assert a[i].transcript == b[i].transcript
        np.testing.assert_array_equal(a[i].audio, b[i].audio)
    # Random access gives the same utterance as sequential access.
    np.testing.assert_array_equal(a[7].audio, list(a)[7].audio)
    assert [u.transcript for u in a] != [u.transcript for u in c]
    counts = set()
    for u in a:
        words = u.transcript.split(" ")
        counts.add(len(words))
        assert 1 <= len(words) <= 7 and set(words) <= set(DIGIT_WORDS)
        assert u.audio.dtype == np.float32 and np.abs(u.audio).max() <= 1.0
        speakers = {name.split("_")[1] for name in u.source.split("(")[1].rstrip(")").split("+")}
        assert len(speakers) == 1  # one speaker per utterance
    assert len(counts) > 2
    with pytest.raises(IndexError):
        a[20]


def test_connected_digits_split_hygiene_on_fake_data(tmp_path):
    recordings = read_fsdd(_fake_fsdd(tmp_path))
    test = ConnectedDigits(fsdd_split(recordings, "test"), RATE, 30, seed=0)
    for i in range(len(test)):
        chosen, _, _ = test.plan(i)
        assert all(r.index < 5 for r in chosen)


def test_connected_digits_on_shared_fsdd(shared_data):
    folder = shared_data / "fsdd"
    if not (folder / "recordings").is_dir():
        pytest.skip(f"FSDD is absent from {folder}")
    recordings = read_fsdd(folder)
    assert len(recordings) > 0
    test_split = fsdd_split(recordings, "test")
    train_split = fsdd_split(recordings, "train")
    test_names = {r.path.name for r in test_split}
    assert not test_names & {r.path.name for r in train_split}
    test = ConnectedDigits(test_split, 16000, 200, seed=0)
    train = ConnectedDigits(train_split, 16000, 200, seed=0)
    for i in range(200):
        assert all(r.index < 5 and r.path.name in test_names for r in test.plan(i)[0])
        assert all(r.index >= 5 for r in train.plan(i)[0])
    utterance = test[0]
    assert utterance.audio.size > 0.1 * 16000
    assert isinstance(test.recordings[0], FSDDRecording)
