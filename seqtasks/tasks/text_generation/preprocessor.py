"""The char-RNN task's preprocessor: its character vocabulary (`RUN/assets/vocabulary.json`).

`TextGenerationPreprocessor.build` learns the vocabulary from the training text; `adapt_from` is the fine-tune
policy `data.new_chars`: `extend` appends the new text's characters that the source vocabulary lacks (existing
ids unchanged; the new characters are remembered in `new_chars`, whose embedding rows and output units
`TextGenerationTask.finetune_from` initialises), `unknown` keeps the source vocabulary, so they map to the
unknown id.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from seqtasks.errors import CheckpointError
from seqtasks.runtime.preprocessor import Preprocessor, write_text_atomic

if TYPE_CHECKING:
    from seqtasks.config import RunConfig

UNKNOWN_ID = 0
VOCABULARY_FILE = "vocabulary.json"
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

    def to_json(self) -> str:
        """The vocabulary file's text."""
        return json.dumps({"format": _FORMAT, "unknown_id": UNKNOWN_ID, "chars": self.chars}, ensure_ascii=False)

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the vocabulary file to `path` (atomically)."""
        return write_text_atomic(Path(path), self.to_json())

    @classmethod
    def load(cls, path: str | os.PathLike) -> CharVocabulary:
        path = Path(path)
        if not path.is_file():
            raise CheckpointError(f"vocabulary {path} is missing; the run directory is incomplete, train it again")
        data = json.loads(path.read_text(encoding="utf-8"))
        if data.get("format") != _FORMAT:
            raise CheckpointError(f"{path} is not a seqtasks character vocabulary (format {data.get('format')!r})")
        return cls(data["chars"])


class TextGenerationPreprocessor(Preprocessor):
    """The task's learnt state: the `CharVocabulary` (saved as `vocabulary.json`).

    Args:
        vocab: The character vocabulary.
        new_chars: The characters a fine-tune added to the source run's vocabulary (`adapt_from` with
            `data.new_chars=extend`), at the end of `vocab`; empty otherwise.
    """

    files = (VOCABULARY_FILE,)

    def __init__(self, vocab: CharVocabulary, new_chars: Sequence[str] = ()):
        self.vocab = vocab
        self.new_chars = list(new_chars)

    @classmethod
    def build(cls, config: RunConfig, data: str) -> TextGenerationPreprocessor:
        """The vocabulary of the training text `data` (characters seen at least `data.min_char_count` times)."""
        return cls(CharVocabulary.build(data, config.data.min_char_count))

    @classmethod
    def adapt_from(
        cls, source: TextGenerationPreprocessor, config: RunConfig, data: str
    ) -> TextGenerationPreprocessor:
        """The source run's vocabulary, extended by the new training text's characters when
        `data.new_chars=extend` (else unchanged: they map to the unknown id)."""
        if config.data.new_chars == "extend":
            vocab, new = source.vocab.extend(data, config.data.min_char_count)
            return cls(vocab, new)
        return cls(source.vocab)

    def save(self, directory: Path) -> None:
        self.vocab.save(Path(directory) / VOCABULARY_FILE)

    @classmethod
    def load(cls, directory: Path, config: RunConfig) -> TextGenerationPreprocessor:
        return cls(CharVocabulary.load(Path(directory) / VOCABULARY_FILE))
