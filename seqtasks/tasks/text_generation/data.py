"""Data of the text generation task: the corpus (the user's text files or the named dataset), its split into
training and validation text, and the training / validation windows as tf.data pipelines."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from seqtasks.data import load_dataset, read_texts
from seqtasks.errors import DataError


def read_corpus(data_config: Any) -> str:
    """The configured text: the user's files under `data.path` (each ending with a newline, joined), else the
    named `data.dataset` (e.g. tiny_shakespeare, read by `seqtasks.data`)."""
    if data_config.path:
        suffixes = tuple(s.lower() for s in data_config.suffixes) or None
        texts = [t if t.endswith("\n") else t + "\n" for _, t in read_texts(data_config.path, suffixes)]
        return "".join(texts)
    if data_config.dataset:
        return load_dataset(data_config.dataset, data_config)
    raise DataError("no text given: set data.path (or --data FILE) or data.dataset")


def split_text(text: str, validation_fraction: float) -> tuple[str, str]:
    """(training text, validation text): the validation part is the last `validation_fraction` of `text`."""
    if not 0.0 <= validation_fraction < 1.0:
        raise DataError(f"data.validation_fraction must be in [0, 1), got {validation_fraction}")
    cut = len(text) - int(len(text) * validation_fraction)
    return text[:cut], text[cut:]


def training_windows(ids: np.ndarray, seq_len: int, seed: int, epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-character targets of one epoch's windows, `(n, seq_len)` each.

    Windows start at a random offset in `[0, seq_len)` drawn from `(seed, epoch)` and tile the text from there,
    so every epoch sees windows cut at new places; their order is shuffled with the same generator. The number
    of windows is the same in every epoch.
    """
    n = (len(ids) - seq_len) // seq_len
    if n <= 0:
        raise DataError(
            f"the training text has {len(ids)} characters, too few for windows of data.seq_len={seq_len} "
            "characters; give more text or lower data.seq_len"
        )
    rng = np.random.default_rng([seed, epoch])
    offset = int(rng.integers(seq_len))
    starts = offset + seq_len * rng.permutation(n)
    windows = ids[starts[:, None] + np.arange(seq_len + 1)]
    return windows[:, :-1], windows[:, 1:]


def validation_windows(ids: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray] | None:
    """Consecutive non-overlapping windows of the validation text (shorter ones if the text is short)."""
    if len(ids) < 3:
        return None
    seq_len = min(seq_len, len(ids) - 1)
    n = (len(ids) - 1) // seq_len
    windows = ids[np.arange(n)[:, None] * seq_len + np.arange(seq_len + 1)]
    return windows[:, :-1], windows[:, 1:]


def windows_dataset(x: np.ndarray, y: np.ndarray, batch_size: int) -> tf.data.Dataset:
    """Batches of `(inputs, targets)`; the last batch may be partial."""
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(batch_size).prefetch(2)
