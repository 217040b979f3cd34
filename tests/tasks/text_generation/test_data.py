"""Text generation data: corpus reading, the train/validation split and the training/validation windows."""

from __future__ import annotations

import numpy as np
import pytest

from seqtasks.errors import DataError
from seqtasks.tasks.text_generation.config import TextGenerationDataConfig
from seqtasks.tasks.text_generation.data import (
    read_corpus,
    split_text,
    training_windows,
    validation_windows,
)


def test_split_and_windows():
    train, val = split_text("abcdefghij", 0.1)
    assert (train, val) == ("abcdefghi", "j")
    ids = np.arange(1000, dtype=np.int32)
    x0, y0 = training_windows(ids, 32, seed=3, epoch=0)
    x0b, _ = training_windows(ids, 32, seed=3, epoch=0)
    x1, _ = training_windows(ids, 32, seed=3, epoch=1)
    np.testing.assert_array_equal(x0, x0b)  # deterministic per (seed, epoch): the basis of resume
    assert x0.shape == x1.shape == (30, 32)  # same number of windows every epoch
    np.testing.assert_array_equal(y0[:, :-1], x0[:, 1:])  # targets are the next characters
    assert {int(r[0]) % 32 for r in x0} != {int(r[0]) % 32 for r in x1}  # a new cut every epoch (here)
    vx, vy = validation_windows(np.arange(100, dtype=np.int32), 32)
    assert vx.shape == (3, 32) and vx[1, 0] == 32
    with pytest.raises(DataError, match="too few for windows of data.seq_len=32"):
        training_windows(np.arange(40, dtype=np.int32), 32, 0, 0)


def test_read_corpus_files_suffixes_and_no_text(tmp_path):
    (tmp_path / "a.txt").write_text("one")
    (tmp_path / "b.txt").write_text("two\n")
    (tmp_path / "c.md").write_text("three")
    config = TextGenerationDataConfig(path=[str(tmp_path)])
    assert read_corpus(config) == "one\ntwo\n"  # every file ends with a newline; only .txt inside folders
    config.suffixes = []
    assert read_corpus(config) == "one\ntwo\nthree\n"
    with pytest.raises(DataError, match="no text given"):
        read_corpus(TextGenerationDataConfig(dataset=""))
