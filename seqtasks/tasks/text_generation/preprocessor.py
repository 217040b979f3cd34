"""Character vocabulary and training windows of the char-RNN task."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import tensorflow as tf

from seqtasks.errors import CheckpointError, DataError

UNKNOWN_ID = 0
_FORMAT = "seqtasks.char_vocabulary.v1"


class CharVocabulary:
    """Maps characters to ids: id 0 is the unknown character, ids 1..N the known characters.

    Args:
        chars: The known characters, in id order (id = position + 1).

    Example:

    >>> vocab = CharVocabulary.build("hello world")
    >>> vocab.decode(vocab.encode("hello"))
    'hello'
    """

    def __init__(self, chars: Iterable[str]):
        self.chars = list(chars)
        if any(len(c) != 1 for c in self.chars) or len(set(self.chars)) != len(self.chars):
            raise ValueError("Received an invalid value for argument `chars`: expected distinct single characters.")
        self.index = {c: i + 1 for i, c in enumerate(self.chars)}
        self._max_cp = max((ord(c) for c in self.chars), default=0)
        self._lookup = np.full(self._max_cp + 2, UNKNOWN_ID, dtype=np.int32)
        for c, i in self.index.items():
            self._lookup[ord(c)] = i

    @classmethod
    def build(cls, text: str, min_count: int = 1) -> CharVocabulary:
        """Vocabulary of the characters that occur at least `min_count` times, sorted by code point."""
        counts = Counter(text)
        return cls(sorted(c for c, n in counts.items() if n >= min_count))

    @property
    def size(self) -> int:
        """Number of ids, the unknown id included."""
        return len(self.chars) + 1

    @property
    def unknown_id(self) -> int:
        return UNKNOWN_ID

    def extend(self, text: str, min_count: int = 1) -> tuple[CharVocabulary, list[str]]:
        """A vocabulary with the characters of `text` it lacks appended (existing ids unchanged)."""
        counts = Counter(text)
        new = sorted(c for c, n in counts.items() if n >= min_count and c not in self.index)
        return CharVocabulary(self.chars + new), new

    def encode(self, text: str) -> np.ndarray:
        """int32 ids of `text` (characters outside the vocabulary -> unknown id 0)."""
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        codes = np.minimum(codes, self._max_cp + 1)
        return self._lookup[codes]

    def decode(self, ids: Iterable[int]) -> str:
        """Text of `ids`; the unknown id decodes to U+FFFD."""
        table = ["\ufffd", *self.chars]
        return "".join(table[int(i)] if 0 <= int(i) < len(table) else "\ufffd" for i in ids)

    def count_unknown(self, text: str) -> int:
        return int(np.sum(self.encode(text) == UNKNOWN_ID))

    def save(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(
            json.dumps({"format": _FORMAT, "unknown_id": UNKNOWN_ID, "chars": self.chars}, ensure_ascii=False),
            encoding="utf-8",
        )
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharVocabulary:
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"vocabulary {path} is missing; the run directory is incomplete, train it again")
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT:
            raise CheckpointError(f"{path} is not a seqtasks character vocabulary (format {data.get('format')!r})")
        return cls(data["chars"])


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
