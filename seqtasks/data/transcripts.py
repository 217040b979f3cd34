"""Transcripts: their canonical text (`normalize_transcript`) and the character set a CTC model outputs (`Alphabet`).

Shared by the speech task (training data, evaluation references, the CTC output layer), the character language
model (`seqtasks.decoding.char_lm`, which must normalise its text exactly as the transcripts are) and the CTC
alignment plots.
"""

from __future__ import annotations

import json
import os
import unicodedata
from collections.abc import Iterable
from pathlib import Path

from seqtasks.errors import DataError


def normalize_transcript(text: str, lowercase: bool = True, strip_punctuation: bool = True) -> str:
    """Canonical transcript text: NFKC, lower case, punctuation removed (apostrophes kept), single spaces.

    Dashes and slashes become spaces ("well-known" -> "well known"); other punctuation is dropped ("Stella." ->
    "stella"); typographic apostrophes become "'".

    Args:
        text: raw transcript.
        lowercase: lower-case the text.
        strip_punctuation: remove punctuation as described above.
    """
    text = unicodedata.normalize("NFKC", text).replace("\u2019", "'").replace("\u2018", "'")
    if lowercase:
        text = text.lower()
    if strip_punctuation:
        chars = []
        for ch in text:
            category = unicodedata.category(ch)
            if ch == "'":
                chars.append(ch)
            elif ch in "-/" or category == "Pd":
                chars.append(" ")
            elif category.startswith("P") or category.startswith("S"):
                continue
            else:
                chars.append(ch)
        text = "".join(chars)
    return " ".join(text.split())


class Alphabet:
    """The output characters of a CTC model; the blank is the extra class after them.

    Ids are `0 .. size - 1` in the order of `characters`; `blank_index == size` (the last class of a model with
    `num_classes = size + 1` outputs), and padded label batches use -1 (see `seqtasks.losses.ctc`).

    Args:
        characters: the distinct single characters, e.g. `" 'abcdefghijklmnopqrstuvwxyz"`.

    Example:

    >>> alphabet = Alphabet(" abc")
    >>> alphabet.encode("cab a"), alphabet.decode([3, 1, 2])
    ([3, 1, 2, 0, 1], 'cab')
    """

    def __init__(self, characters: Iterable[str]):
        chars = list(characters)
        if not chars:
            raise ValueError("Received an empty alphabet; expected at least one character.")
        for ch in chars:
            if not isinstance(ch, str) or len(ch) != 1:
                raise ValueError(f"Alphabet entries must be single characters, got {ch!r}.")
        duplicates = sorted({ch for ch in chars if chars.count(ch) > 1})
        if duplicates:
            raise ValueError(f"Alphabet characters must be distinct, got duplicates {duplicates!r}.")
        self.characters = tuple(chars)
        self._ids = {ch: i for i, ch in enumerate(chars)}

    @classmethod
    def from_texts(cls, texts: Iterable[str]) -> Alphabet:
        """The sorted set of characters in `texts` (space first when present)."""
        chars = set()
        for text in texts:
            chars.update(text)
        if not chars:
            raise DataError("Cannot build an alphabet: every transcript is empty. Fix: check the transcripts.")
        return cls(sorted(chars, key=lambda c: (c != " ", c)))

    @property
    def size(self) -> int:
        """Number of characters (without the blank)."""
        return len(self.characters)

    @property
    def blank_index(self) -> int:
        """The blank class: the last output class."""
        return self.size

    @property
    def num_classes(self) -> int:
        """Output classes of the model: characters + blank."""
        return self.size + 1

    def unknown_characters(self, text: str) -> list[str]:
        """Characters of `text` that are not in the alphabet, in order of first appearance."""
        return list(dict.fromkeys(ch for ch in text if ch not in self._ids))

    def encode(self, text: str) -> list[int]:
        """Character ids of `text`; raises `DataError` naming unknown characters."""
        unknown = self.unknown_characters(text)
        if unknown:
            raise DataError(
                f"Transcript {text!r} has characters outside the alphabet: {''.join(unknown)!r}. Fix: normalise "
                "the transcript or extend the alphabet."
            )
        return [self._ids[ch] for ch in text]

    def decode(self, ids: Iterable[int]) -> str:
        """The string of `ids`; negative ids (padding) and the blank are skipped."""
        return "".join(self.characters[i] for i in ids if 0 <= i < self.size)

    def extend(self, texts: Iterable[str]) -> Alphabet:
        """This alphabet with the new characters of `texts` appended (existing ids unchanged)."""
        new = []
        for text in texts:
            for ch in self.unknown_characters(text):
                if ch not in new:
                    new.append(ch)
        return Alphabet(self.characters + tuple(sorted(new)))

    def to_json(self) -> str:
        return json.dumps({"characters": "".join(self.characters)}, ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> Alphabet:
        return cls(json.loads(text)["characters"])

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the JSON file (through a temporary sibling and a rename: a reader never sees half a file)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            tmp.write_text(self.to_json() + "\n", encoding="utf-8")
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike) -> Alphabet:
        path = Path(path)
        try:
            return cls.from_json(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise DataError(f"Alphabet file {path} does not exist. Fix: point to a trained run directory.") from None
        except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise DataError(f"Alphabet file {path} is malformed ({error}). Fix: re-create it by training.") from None

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Alphabet) and other.characters == self.characters

    def __hash__(self) -> int:
        return hash(self.characters)

    def __repr__(self) -> str:
        return f"Alphabet({''.join(self.characters)!r})"


__all__ = ["Alphabet", "normalize_transcript"]
