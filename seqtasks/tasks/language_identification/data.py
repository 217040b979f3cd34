"""Reading labelled sentences and batching them by length."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from seqtasks.data import read_texts
from seqtasks.data.bucketing import plan_batches
from seqtasks.errors import DataError


def read_labelled(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """`(text, language)` rows of TSV files `text<TAB>language` (blank lines skipped)."""
    rows = []
    for path, text in read_texts(paths):
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            parts = line.rsplit("\t", 1)
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise DataError(f"{path} line {number}: expected `text<TAB>language`, got {line[:60]!r}; fix the line")
            rows.append((parts[0].strip(), parts[1].strip()))
    return rows


def read_pairs_as_labelled(path: Path, limit: int) -> list[tuple[str, str]]:
    """The English and the French side of every Tatoeba pair line `English<TAB>French[<TAB>...]`."""
    rows = []
    for line in path.read_text(encoding="utf-8").splitlines():
        parts = line.split("\t")
        if len(parts) >= 2:
            rows += [(parts[0], "en"), (parts[1], "fr")]
        if limit and len(rows) >= limit:
            break
    return rows[:limit] if limit else rows


def split(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, validation): a seeded `fraction` of the rows held out."""
    order = np.random.default_rng(seed).permutation(len(rows))
    cut = len(rows) - int(len(rows) * fraction)
    return [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]


def batches(ids: list[np.ndarray], labels: np.ndarray, batch_size: int, seed=None) -> tf.data.Dataset:
    """Padded `(ids, labels)` batches of similar-length rows (seeded order, or length order without a seed)."""
    rows = tf.ragged.constant([r.tolist() for r in ids], dtype=tf.int32, ragged_rank=1)
    plan = plan_batches([len(r) for r in ids], batch_size, seed)
    index = tf.ragged.constant([p.tolist() for p in plan], dtype=tf.int64)
    labels = tf.constant(labels, tf.int32)
    return tf.data.Dataset.from_tensor_slices(index).map(
        lambda i: (tf.gather(rows, i).to_tensor(), tf.gather(labels, i))
    ).prefetch(2)
