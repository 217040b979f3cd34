"""Reading labelled sentences and batching them by length."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from seqtasks.data import read_text_file, read_texts
from seqtasks.data.bucketing import plan_batches
from seqtasks.errors import DataError


def read_labelled(paths: Sequence[str | Path]) -> list[tuple[str, str]]:
    """`(text, language)` rows of TSV files `text<TAB>language` (blank lines skipped)."""
    rows = []
    for path, text in read_texts(paths):
        for number, line in ((n, line) for n, line in enumerate(text.splitlines(), 1) if line.strip()):
            parts = line.rsplit("\t", 1)
            if len(parts) != 2 or not parts[0].strip() or not parts[1].strip():
                raise DataError(f"{path} line {number}: expected `text<TAB>language`, got {line[:60]!r}; fix the line")
            rows.append((parts[0].strip(), parts[1].strip()))
    if not rows:
        raise DataError(f"{', '.join(map(str, paths))}: no `text<TAB>language` rows; give at least one")
    return rows


def read_pairs_as_labelled(path: Path, limit: int) -> list[tuple[str, str]]:
    """The English and the French side of every Tatoeba pair line `English<TAB>French[<TAB>...]`."""
    lines = (line.split("\t") for line in read_text_file(path).splitlines())
    return [row for p in lines if len(p) >= 2 for row in ((p[0], "en"), (p[1], "fr"))][: limit or None]


def split(rows: list, fraction: float, seed: int) -> tuple[list, list]:
    """(train, validation): a seeded `fraction` of the rows held out."""
    order, cut = np.random.default_rng(seed).permutation(len(rows)), len(rows) - int(len(rows) * fraction)
    return [rows[i] for i in order[:cut]], [rows[i] for i in order[cut:]]


def batches(ids: list[np.ndarray], labels: np.ndarray, batch_size: int, seed=None) -> tf.data.Dataset:
    """Padded `(ids, labels)` batches of similar-length rows (seeded order, or length order without a seed)."""
    rows, labels = tf.RaggedTensor.from_row_lengths(np.concatenate(ids), [len(r) for r in ids]), tf.constant(labels)
    plan = tf.ragged.constant([p.tolist() for p in plan_batches([len(r) for r in ids], batch_size, seed)], tf.int64)
    return tf.data.Dataset.from_tensor_slices(plan).map(lambda i: (tf.gather(rows, i).to_tensor(), tf.gather(labels, i)))
