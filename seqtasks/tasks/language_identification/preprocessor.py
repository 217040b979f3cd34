"""The characters and language labels learnt from the training data."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np

from seqtasks.runtime.preprocessor import Preprocessor, write_text_atomic

PAD_ID, UNKNOWN_ID = 0, 1  # characters are ids 2..N+1


class LanguageIdentificationPreprocessor(Preprocessor):
    """The known characters (in id order, from id 2) and the language labels (in class order)."""

    files = ("language_identification.json",)

    def __init__(self, chars: list[str], labels: list[str]):
        self.chars, self.labels = list(chars), list(labels)
        self.index = {c: i + 2 for i, c in enumerate(self.chars)}

    @classmethod
    def build(cls, config, data: list[tuple[str, str]]) -> LanguageIdentificationPreprocessor:
        counts = Counter(c for text, _ in data for c in text)
        chars = sorted(c for c, n in counts.items() if n >= config.data.min_char_count)
        return cls(chars, sorted({label for _, label in data}))

    @classmethod
    def adapt_from(cls, source, config, data) -> LanguageIdentificationPreprocessor:
        """Keeps the source's character ids; languages it does not know are appended (their head rows start new)."""
        new = sorted({label for _, label in data} - set(source.labels))
        return cls(source.chars, source.labels + new)

    def encode(self, text: str) -> np.ndarray:
        return np.array([self.index.get(c, UNKNOWN_ID) for c in text] or [UNKNOWN_ID], np.int32)

    def save(self, directory: Path) -> None:
        text = json.dumps({"chars": self.chars, "labels": self.labels}, ensure_ascii=False)
        write_text_atomic(directory / self.files[0], text)

    @classmethod
    def load(cls, directory: Path, config) -> LanguageIdentificationPreprocessor:
        data = json.loads((directory / cls.files[0]).read_text(encoding="utf-8"))
        return cls(data["chars"], data["labels"])
