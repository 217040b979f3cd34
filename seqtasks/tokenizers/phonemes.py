"""Phonemes as CTC targets: words -> phoneme sequences by espeak-ng (grapheme to phoneme), and the `PhonemeAlphabet`
that encodes transcripts into phoneme ids.

English spelling is a poor target for an acoustic model trained on little audio: the same sound is written many
ways ("ough"), so a character model must learn spelling from the audio. A phoneme model learns sounds only, and a
pronunciation lexicon (`seqtasks.decoding.lexicon` with spellings) turns its phonemes back into words.

* `espeak_pronunciations(words, voice)`: each word's phonemes (espeak-ng `-x` mnemonics such as `aI`, `tS`, `@U`,
  stress marks removed), cached per voice under `$SEQTASKS_CACHE_DIR/g2p/` so that a word is converted once.
* `PhonemeAlphabet`: an `Alphabet` whose characters are one code character per phoneme (the phoneme's own name
  when it is a single character, else a Greek letter) plus the word separator " "; `encode("the cat")` spells
  each word by its pronunciation. It carries the pronunciations of every word it may encode and is saved with
  the run (`alphabet.json` gains `phonemes`, `voice` and `pronunciations`).
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from seqtasks.data.cache import cache_dir
from seqtasks.data.transcripts import Alphabet
from seqtasks.errors import ConfigError, DataError

ESPEAK = "espeak-ng"
INSTALL_HINT = "apt-get install espeak-ng (or `make install`, which installs it)"
CACHE_NAME = "g2p"
# Bump when the conversion changes, so that old cache files are not reused.
_FORMAT_VERSION = 2
# Stress and syllable marks of espeak-ng's mnemonics: they mark a phoneme, they are not one.
_MARKS = re.compile(r"[',%=\u02c8\u02cc]")
_VOICE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\+[A-Za-z0-9][A-Za-z0-9_-]*)?$")
# Code characters of phonemes whose names are longer than one character (and of "_" or " ").
_CODE_POOL = "".join(chr(c) for c in range(0x3B1, 0x3CA)) + "".join(chr(c) for c in range(0x391, 0x3AA) if c != 0x3A2)
_BATCH = 2000  # words per espeak-ng call


def espeak_binary() -> str:
    """The espeak-ng executable on PATH; raises `ConfigError` (one line naming the fix) when it is missing."""
    found = shutil.which(ESPEAK)
    if found is None:
        raise ConfigError(
            f"phoneme targets (data.targets=phonemes) need {ESPEAK} to convert words to phonemes (of training data, "
            f"and of word-list words not converted before), and it is not on PATH; install it: {INSTALL_HINT} (a new "
            "run may instead set data.targets=characters)"
        )
    return found


def check_voice(voice: str) -> str:
    if not _VOICE.match(voice or ""):
        raise ConfigError(f"data.phoneme_voice: {voice!r} is not an espeak-ng voice name (LANGUAGE[+VARIANT], "
                          "e.g. en-gb or en-us)")
    return voice


def _parse(line: str) -> tuple[str, ...]:
    return tuple(p for part in _MARKS.sub("", line).split() for p in part.split("_") if p)


_MARKER = "zebra"  # said between the words of a batch: its pronunciation at every other line proves the alignment


def _espeak_lines(lines: Sequence[str], voice: str) -> list[str]:
    """espeak-ng's phoneme output lines for `lines` (each read as a sentence on its own), empty lines dropped."""
    binary = espeak_binary()
    try:
        result = subprocess.run(
            [binary, "-q", "-x", "--sep=_", "-v", voice], input="".join(f"{line}.\n" for line in lines),
            capture_output=True, text=True, check=True, timeout=600,
        )
    except subprocess.CalledProcessError as error:
        raise ConfigError(f"{ESPEAK} -v {voice} failed ({error.stderr.strip()[:200]}); check data.phoneme_voice "
                          f"(`{ESPEAK} --voices=en` lists them)") from None
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError(f"{ESPEAK} could not convert words to phonemes ({error}); check the installation "
                          f"({INSTALL_HINT})") from None
    return [line for line in result.stdout.split("\n") if line.strip()]


@functools.lru_cache(maxsize=8)
def _marker_line(voice: str) -> str:
    """The marker word's phoneme line in `voice` (once per voice and process)."""
    return _espeak_lines([_MARKER], voice)[0]


def _run_espeak(words: Sequence[str], voice: str) -> list[tuple[str, ...]]:
    """The phonemes of `words` from one espeak-ng call, a marker word between them; a batch whose markers do not
    come back where expected (a word read as two lines, or as none) is converted one word at a time."""
    if len(words) == 1:
        return [tuple(p for line in _espeak_lines(words, voice) for p in _parse(line))]
    marker = _marker_line(voice)
    lines = _espeak_lines([x for w in words for x in (w, _MARKER)], voice)
    if len(lines) != 2 * len(words) or any(lines[i] != marker for i in range(1, len(lines), 2)):
        return [p for w in words for p in _run_espeak([w], voice)]
    return [_parse(line) for line in lines[::2]]


def _cache_file(voice: str) -> Path:
    return cache_dir(CACHE_NAME) / f"{voice.replace('+', '_')}.v{_FORMAT_VERSION}.json"


def espeak_pronunciations(words: Iterable[str], voice: str = "en-gb") -> dict[str, tuple[str, ...]]:
    """The phonemes of each word (as said on its own) by espeak-ng `voice`; cached, so espeak-ng runs only for
    words it has not converted before. A word it cannot say maps to `()`.

    Raises:
        ConfigError: espeak-ng is missing (and a word is not cached yet) or the voice is unknown.
    """
    check_voice(voice)
    wanted = list(dict.fromkeys(w for w in words if w))
    path = _cache_file(voice)
    try:
        cached = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    except (OSError, json.JSONDecodeError):
        cached = {}  # a damaged cache is rebuilt, never trusted
    missing = [w for w in wanted if w not in cached]
    if missing:
        for start in range(0, len(missing), _BATCH):
            chunk = missing[start: start + _BATCH]
            cached.update({w: list(p) for w, p in zip(chunk, _run_espeak(chunk, voice), strict=True)})
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
            tmp.write_text(json.dumps(cached, ensure_ascii=False), encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs the conversion next time
    return {w: tuple(cached[w]) for w in wanted}


def _codes(phonemes: Sequence[str]) -> list[str]:
    """One code character per phoneme: its own name when that is one character, else the next free pool letter."""
    taken = {p for p in phonemes if len(p) == 1 and p not in " _"}
    pool = iter(c for c in _CODE_POOL if c not in taken)
    codes = []
    for p in phonemes:
        if p in taken:
            codes.append(p)
        else:
            try:
                codes.append(next(pool))
            except StopIteration:
                raise DataError(f"more than {len(_CODE_POOL) + len(taken)} distinct phonemes; not a phoneme set "
                                "espeak-ng produces for one language") from None
    return codes


class PhonemeAlphabet(Alphabet):
    """CTC output classes for phonemes: the word separator `" "` and one code character per phoneme.

    Args:
        phonemes: The phoneme inventory (espeak-ng mnemonics, distinct); class `i + 1` is `phonemes[i]`.
        pronunciations: Each word's phonemes (words whose phonemes are outside the inventory cannot be encoded).
        voice: The espeak-ng voice that gave the pronunciations (new words are converted with it).

    Example:

    >>> alphabet = PhonemeAlphabet(["D", "@", "k", "a", "t"], {"the": ("D", "@"), "cat": ("k", "a", "t")})
    >>> alphabet.encode("the cat")
    [1, 2, 0, 3, 4, 5]
    >>> alphabet.spell("cat"), alphabet.phonemes_of("kat")
    ('kat', ['k', 'a', 't'])
    """

    def __init__(self, phonemes: Sequence[str], pronunciations: Mapping[str, Sequence[str]], voice: str = "en-gb"):
        phonemes = list(phonemes)
        if not phonemes or len(set(phonemes)) != len(phonemes) or any(not p or " " in p for p in phonemes):
            raise ValueError("Received an invalid value for argument `phonemes`, expected distinct non-empty names.")
        self.phonemes = tuple(phonemes)
        self.voice = voice
        codes = _codes(phonemes)
        super().__init__([" ", *codes])
        self._code = dict(zip(phonemes, codes, strict=True))
        self._phoneme = dict(zip(codes, phonemes, strict=True))
        self.pronunciations = {w: tuple(p) for w, p in pronunciations.items()}

    @classmethod
    def from_texts(cls, texts: Iterable[str], voice: str = "en-gb") -> PhonemeAlphabet:  # type: ignore[override]
        """The phonemes of every word of `texts` (by espeak-ng `voice`), in sorted order."""
        words = {w for text in texts for w in text.split()}
        pronunciations = espeak_pronunciations(sorted(words), voice)
        inventory = sorted({p for phones in pronunciations.values() for p in phones})
        if not inventory:
            raise DataError("Cannot build a phoneme alphabet: no transcript word has a pronunciation. Fix: check "
                            "the transcripts (normalised words of the espeak-ng voice's language)")
        return cls(inventory, pronunciations, voice)

    def with_words(self, words: Iterable[str]) -> PhonemeAlphabet:
        """This alphabet (same classes) knowing the pronunciations of `words` too (converted by espeak-ng when new)."""
        new = [w for w in dict.fromkeys(words) if w not in self.pronunciations]
        if not new:
            return self
        return PhonemeAlphabet(self.phonemes, {**self.pronunciations, **espeak_pronunciations(new, self.voice)},
                               self.voice)

    def spell(self, word: str) -> str | None:
        """The code characters of `word`'s pronunciation, or None (unknown word, or a phoneme outside the classes)."""
        phones = self.pronunciations.get(word)
        if not phones or any(p not in self._code for p in phones):
            return None
        return "".join(self._code[p] for p in phones)

    def phonemes_of(self, codes: str) -> list[str]:
        """The phoneme names of a string of code characters (the separator becomes `" "`)."""
        return [" " if c == " " else self._phoneme.get(c, "?") for c in codes]

    def unknown_characters(self, text: str) -> list[str]:
        """The words of `text` this alphabet cannot spell (no pronunciation, or a phoneme outside the classes)."""
        return list(dict.fromkeys(w for w in text.split() if self.spell(w) is None))

    def encode(self, text: str) -> list[int]:
        """Phoneme ids of `text`'s words, the separator between them; raises `DataError` naming unknown words."""
        unknown = self.unknown_characters(text)
        if unknown:
            raise DataError(
                f"Transcript {text!r} has words without a pronunciation in the model's phonemes: {unknown!r}. Fix: "
                "check the transcript's words (they are converted by espeak-ng) or train on data that has them."
            )
        return [self._ids[c] for c in " ".join(self.spell(w) for w in text.split())]

    def extend(self, texts: Iterable[str]) -> PhonemeAlphabet:  # type: ignore[override]
        """This alphabet with the new phonemes of `texts`' words appended (existing ids unchanged)."""
        known = self.with_words(w for text in texts for w in text.split())
        new = sorted({p for w in {w for text in texts for w in text.split()}
                      for p in known.pronunciations.get(w, ()) if p not in self._code})
        return PhonemeAlphabet(self.phonemes + tuple(new), known.pronunciations, self.voice)

    def to_json(self) -> str:
        return json.dumps({"characters": "".join(self.characters), "phonemes": list(self.phonemes),
                           "voice": self.voice,
                           "pronunciations": {w: " ".join(p) for w, p in sorted(self.pronunciations.items())}},
                          ensure_ascii=False)

    @classmethod
    def from_json(cls, text: str) -> PhonemeAlphabet:
        data = json.loads(text)
        alphabet = cls(data["phonemes"], {w: p.split() for w, p in data["pronunciations"].items()}, data["voice"])
        if "".join(alphabet.characters) != data["characters"]:
            raise ValueError("its characters do not match its phonemes")
        return alphabet

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PhonemeAlphabet) and other.phonemes == self.phonemes and other.voice == self.voice

    def __hash__(self) -> int:
        return hash((self.phonemes, self.voice))

    def __repr__(self) -> str:
        return f"PhonemeAlphabet({len(self.phonemes)} phonemes, {len(self.pronunciations)} words, {self.voice!r})"


def is_phoneme_alphabet_json(text: str) -> bool:
    """Whether an `alphabet.json` text is a `PhonemeAlphabet`'s."""
    try:
        return "phonemes" in json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return False


__all__ = ["ESPEAK", "PhonemeAlphabet", "check_voice", "espeak_binary", "espeak_pronunciations",
           "is_phoneme_alphabet_json"]
