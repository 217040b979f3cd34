"""Speech recognition data: transcripts and alphabets, manifest/folder/FSDD readers, connected digits, bad audio.

Readers return `Utterance` records (a transcript plus an audio file or an in-memory waveform, an optional
duration from the manifest, and a `source` string that error messages use). `UtteranceLoader` applies the
bad-audio policy: `"fail"` stops at the first bad utterance with a one-line error naming the file, `"skip"` drops
it and records the file and the reason in a `BadAudioReport`. It either loads utterances into `Example`s
(waveform at the configured rate + label ids) or, for data too big for memory, only *scans* them: the length of
each file comes from the manifest's `duration` or the file's header, nothing is decoded, and `LazyUtterances`
reads the audio later, batch by batch, through a bounded `AudioCache`.

FSDD (Free Spoken Digit Dataset) follows its official split: recordings with index 0-4 are the test set. The
connected-digits generator builds multi-digit utterances from the recordings of one split only, so a test
utterance never contains a training recording.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
import math
import os
import re
import sys
import threading
import time
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from seqtasks.audio.io import (
    AUDIO_EXTENSIONS,
    AudioCache,
    check_audio_file,
    load_audio,
    num_samples_at,
)
from seqtasks.errors import DataError
from seqtasks.losses.ctc import ctc_min_frames

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FSDD_TEST_INDICES = range(0, 5)
BAD_AUDIO_POLICIES = ("fail", "skip")
_MANIFEST_PATH_KEYS = ("path", "audio_filepath", "audio", "file")
_MANIFEST_TEXT_KEYS = ("transcript", "text", "sentence")
_MANIFEST_DURATION_KEY = "duration"
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")


# --------------------------------------------------------------------------------------------- text and alphabet


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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json() + "\n", encoding="utf-8")
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

    def __eq__(self, other) -> bool:
        return isinstance(other, Alphabet) and other.characters == self.characters

    def __hash__(self) -> int:
        return hash(self.characters)

    def __repr__(self) -> str:
        return f"Alphabet({''.join(self.characters)!r})"


# --------------------------------------------------------------------------------------------- utterances


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One transcribed utterance before its audio is read.

    Attributes:
        transcript: the (normalised) transcript.
        path: the audio file, or `None` when `audio` is given.
        audio: a float32 waveform already at the configured sample rate (generated data), or `None`.
        source: where the utterance comes from, for messages ("manifest.csv line 7", "connected-digits #3 ...").
        duration: the audio's length in seconds when the manifest states it (NeMo manifests do), else `None`;
            a scan then takes the length from it instead of opening the file.
    """

    transcript: str
    path: Path | None = None
    audio: np.ndarray | None = dataclasses.field(default=None, repr=False, compare=False)
    source: str = ""
    duration: float | None = None

    @property
    def name(self) -> str:
        """A short description for messages: the file (and its source) or the source."""
        if self.path is not None:
            return f"{self.path} ({self.source})" if self.source else str(self.path)
        return self.source or "<in-memory audio>"


def _pick(row: dict, keys: Sequence[str]) -> str | None:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


def _manifest_row(
    manifest: Path, line: int, row: dict, normalize: bool
) -> Utterance:
    audio = _pick(row, _MANIFEST_PATH_KEYS)
    text = _pick(row, _MANIFEST_TEXT_KEYS)
    if audio is None or not str(audio).strip():
        raise DataError(f"{manifest} line {line}: empty audio path. Fix: fill the `path` column or remove the row.")
    if text is None:
        raise DataError(f"{manifest} line {line}: no transcript. Fix: fill the `transcript` column.")
    if not isinstance(text, str) or not isinstance(audio, str):
        raise DataError(f"{manifest} line {line}: `path` and `transcript` must be strings.")
    audio_path = Path(audio.strip())
    if not audio_path.is_absolute():
        audio_path = manifest.parent / audio_path
    transcript = normalize_transcript(text) if normalize else text
    duration = _manifest_duration(manifest, line, row.get(_MANIFEST_DURATION_KEY))
    return Utterance(transcript=transcript, path=audio_path, source=f"{manifest.name} line {line}", duration=duration)


def _manifest_duration(manifest: Path, line: int, value) -> float | None:
    """The optional `duration` field in seconds; empty or absent = unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        duration = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        duration = math.nan
    if not math.isfinite(duration) or duration < 0:
        raise DataError(
            f"{manifest} line {line}: invalid duration {value!r} (expected seconds, a number >= 0). Fix: correct "
            "it or leave the `duration` field empty to read the length from the audio file."
        )
    return duration


def read_manifest(path: str | os.PathLike, normalize: bool = True) -> list[Utterance]:
    """Reads a CSV or JSONL manifest of `path,transcript` rows; relative audio paths are relative to the manifest.

    CSV (`.csv`, or `.tsv` with tabs): a header naming the columns `path` and `transcript` (also accepted:
    `audio_filepath`/`audio`/`file` and `text`/`sentence`); RFC 4180 quoting, so transcripts may contain commas,
    quotes (doubled) and newlines. JSONL (`.jsonl`/`.json`): one JSON object per line with the same keys
    (NeMo-style `audio_filepath`/`text` manifests read as they are). An optional `duration` column/key gives
    each file's length in seconds (empty = unknown), which spares a scan from opening the files. Audio files
    are checked when scanned or loaded, under the bad-audio policy, not here.

    Args:
        path: the manifest file.
        normalize: apply `normalize_transcript` to every transcript.

    Raises:
        DataError: missing or empty manifest, missing columns, malformed rows or durations (message with the line
            number).
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise DataError(f"Manifest {manifest} does not exist. Fix: check the path (`data.manifest`).")
    try:
        content = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"Manifest {manifest} is not UTF-8 text ({error.reason} at byte {error.start}). "
                        "Fix: save it as UTF-8.") from None
    if not content.strip():
        raise DataError(f"Manifest {manifest} is empty. Fix: add `path,transcript` rows.")
    utterances: list[Utterance] = []
    suffix = manifest.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{manifest} line {number}: invalid JSON ({error.msg}). Fix: one JSON object per line.") from None
            if not isinstance(row, dict):
                raise DataError(f"{manifest} line {number}: expected a JSON object with `path` and `transcript`.")
            utterances.append(_manifest_row(manifest, number, row, normalize))
    else:
        delimiter = "\t" if suffix == ".tsv" else ","
        reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        reader.fieldnames = fields
        if not any(k in fields for k in _MANIFEST_PATH_KEYS) or not any(k in fields for k in _MANIFEST_TEXT_KEYS):
            raise DataError(
                f"{manifest} line 1: header {fields!r} lacks the columns `path` and `transcript`. Fix: start the "
                "file with the header line `path,transcript`."
            )
        try:
            for row in reader:
                if None in row:
                    raise DataError(
                        f"{manifest} line {reader.line_num}: more fields than the header has. Fix: quote "
                        "transcripts containing commas (\"...\")."
                    )
                if all(v in (None, "") for v in row.values()):
                    continue
                utterances.append(_manifest_row(manifest, reader.line_num, row, normalize))
        except csv.Error as error:
            raise DataError(f"{manifest} line {reader.line_num}: malformed CSV ({error}). Fix: check the quoting.") from None
    if not utterances:
        raise DataError(f"Manifest {manifest} has no rows. Fix: add `path,transcript` rows.")
    return utterances


def read_folder(folder: str | os.PathLike, normalize: bool = True) -> list[Utterance]:
    """Reads a folder (recursively) of audio files, each with a transcript in a same-name `.txt` file.

    Raises:
        DataError: the folder is missing or holds no audio, or an audio file has no transcript file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"Audio folder {root} does not exist. Fix: check the path (`data.folder`).")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise DataError(f"Audio folder {root} holds no audio files ({', '.join(AUDIO_EXTENSIONS)}).")
    utterances = []
    for audio in files:
        text_file = audio.with_suffix(".txt")
        if not text_file.is_file():
            raise DataError(f"Audio file {audio} has no transcript {text_file.name}. Fix: add it or remove the audio file.")
        try:
            text = text_file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise DataError(f"Transcript {text_file} is not UTF-8 text. Fix: save it as UTF-8.") from None
        transcript = normalize_transcript(text) if normalize else text.strip()
        utterances.append(Utterance(transcript=transcript, path=audio, source=text_file.name))
    return utterances


# --------------------------------------------------------------------------------------------- FSDD


@dataclasses.dataclass(frozen=True)
class FSDDRecording:
    """One FSDD file `{digit}_{speaker}_{index}.wav`."""

    path: Path
    digit: int
    speaker: str
    index: int

    @property
    def transcript(self) -> str:
        return DIGIT_WORDS[self.digit]


def _fsdd_folder(root: str | os.PathLike) -> Path:
    root = Path(root)
    folder = root / "recordings" if (root / "recordings").is_dir() else root
    if not folder.is_dir():
        raise DataError(
            f"FSDD folder {root} does not exist. Fix: clone github.com/Jakobovski/free-spoken-digit-dataset and "
            "point `data.fsdd_dir` at it (or its `recordings/` folder)."
        )
    return folder


def read_fsdd(root: str | os.PathLike) -> list[FSDDRecording]:
    """Lists the FSDD recordings under `root` (the dataset folder or its `recordings/`), sorted by name."""
    folder = _fsdd_folder(root)
    recordings = []
    for path in sorted(folder.glob("*.wav")):
        match = _FSDD_NAME.match(path.stem)
        if match is None:
            raise DataError(f"FSDD file {path} is not named {{digit}}_{{speaker}}_{{index}}.wav. Fix: rename or remove it.")
        recordings.append(FSDDRecording(path, int(match[1]), match[2], int(match[3])))
    if not recordings:
        raise DataError(f"FSDD folder {folder} holds no .wav files. Fix: point `data.fsdd_dir` at the recordings.")
    return recordings


def fsdd_split(
    recordings: Sequence[FSDDRecording], split: str, validation_indices: Sequence[int] = range(5, 10)
) -> list[FSDDRecording]:
    """The recordings of one split: `test` = indices 0-4 (official), `validation` = `validation_indices`,
    `train` = the rest. `validation_indices` must not overlap the test indices; an empty one gives no validation
    split and a train split of every index >= 5 (the official training set)."""
    validation = set(validation_indices)
    if validation & set(FSDD_TEST_INDICES):
        raise ValueError(
            f"Received `validation_indices` {sorted(validation)} overlapping the FSDD test indices 0-4."
        )
    if split == "test":
        keep = [r for r in recordings if r.index in FSDD_TEST_INDICES]
    elif split == "validation":
        keep = [r for r in recordings if r.index in validation]
    elif split == "train":
        keep = [r for r in recordings if r.index not in FSDD_TEST_INDICES and r.index not in validation]
    else:
        raise ValueError(f"Received an invalid value for argument `split`, expected 'train', 'validation' or 'test', got {split!r}.")
    return keep


def fsdd_utterances(recordings: Sequence[FSDDRecording]) -> list[Utterance]:
    """Single-digit utterances (transcript = the digit's word)."""
    return [Utterance(transcript=r.transcript, path=r.path, source="fsdd") for r in recordings]


class ConnectedDigits(Sequence):
    """Multi-digit utterances generated on the fly from FSDD recordings of one speaker, seeded.

    Utterance `i` is a pure function of `(seed, i)`: a speaker is drawn, then 1-7 digits (`min_digits` to
    `max_digits`), one recording of that speaker for each digit; each recording gets a random gain and the
    recordings are joined with random silent gaps, with random silence before and after. The transcript is the
    digit words separated by spaces ("three one four"). Only the recordings given are used, so a generator over
    `fsdd_split(..., "test")` never touches a training recording.

    Args:
        recordings: the FSDD recordings to draw from (one split).
        sample_rate: sample rate of the generated audio (recordings are resampled).
        num_utterances: length of the sequence.
        seed: integer seed.
        min_digits: fewest digits per utterance.
        max_digits: most digits per utterance.
        gap_seconds: `(low, high)` silence between digits.
        edge_seconds: `(low, high)` silence before the first and after the last digit.
        gain_db: `(low, high)` gain applied to each recording, in dB.
        noise_db: `(low, high)` level of white noise added to the whole utterance, in dB relative to full
            scale, or `None` for none.
        loader: reads one recording at `sample_rate` (default `seqtasks.audio.io.load_audio`); results are cached.

    Example:

    >>> test = ConnectedDigits(fsdd_split(read_fsdd("fsdd"), "test"), 8000, 100, seed=0)  # doctest: +SKIP
    >>> test[0].transcript  # doctest: +SKIP
    'three one four'
    """

    def __init__(
        self,
        recordings: Sequence[FSDDRecording],
        sample_rate: int,
        num_utterances: int,
        seed: int = 0,
        min_digits: int = 1,
        max_digits: int = 7,
        gap_seconds: tuple[float, float] = (0.05, 0.4),
        edge_seconds: tuple[float, float] = (0.05, 0.3),
        gain_db: tuple[float, float] = (-6.0, 6.0),
        noise_db: tuple[float, float] | None = None,
        loader: Callable[[Path, int], np.ndarray] | None = None,
    ):
        if not recordings:
            raise DataError("Connected digits need FSDD recordings, but the split is empty. Fix: check `data.fsdd_dir`.")
        if not 1 <= min_digits <= max_digits:
            raise ValueError(
                f"Received invalid `min_digits`={min_digits}, `max_digits`={max_digits}: expected 1 <= min <= max."
            )
        if num_utterances < 0:
            raise ValueError(f"Received an invalid value for argument `num_utterances`, expected >= 0, got {num_utterances}.")
        self.recordings = list(recordings)
        self.sample_rate = sample_rate
        self.num_utterances = int(num_utterances)
        self.seed = int(seed)
        self.min_digits = min_digits
        self.max_digits = max_digits
        self.gap_seconds = tuple(gap_seconds)
        self.edge_seconds = tuple(edge_seconds)
        self.gain_db = tuple(gain_db)
        self.noise_db = None if noise_db is None else tuple(noise_db)
        self._loader = loader or load_audio
        self._cache: dict[Path, np.ndarray] = {}
        by_speaker: dict[str, list[FSDDRecording]] = {}
        for r in self.recordings:
            by_speaker.setdefault(r.speaker, []).append(r)
        self._speakers = sorted(by_speaker)
        self._by_speaker = {s: sorted(rs, key=lambda r: r.path.name) for s, rs in by_speaker.items()}

    def __len__(self) -> int:
        return self.num_utterances

    def _audio(self, recording: FSDDRecording) -> np.ndarray:
        if recording.path not in self._cache:
            self._cache[recording.path] = self._loader(recording.path, self.sample_rate)
        return self._cache[recording.path]

    def plan(self, index: int) -> tuple[list[FSDDRecording], list[float], list[float]]:
        """The recordings, gains (dB) and silences (seconds, one more than recordings) of utterance `index`."""
        rng = np.random.default_rng([self.seed, index])
        speaker = self._speakers[rng.integers(len(self._speakers))]
        pool = self._by_speaker[speaker]
        count = int(rng.integers(self.min_digits, self.max_digits + 1))
        chosen = [pool[int(rng.integers(len(pool)))] for _ in range(count)]
        gains = [float(rng.uniform(*self.gain_db)) for _ in chosen]
        silences = [float(rng.uniform(*self.edge_seconds))]
        silences += [float(rng.uniform(*self.gap_seconds)) for _ in chosen[1:]]
        silences.append(float(rng.uniform(*self.edge_seconds)))
        return chosen, gains, silences

    def num_samples(self, index: int) -> int:
        """Length in samples of utterance `index` (without building its audio)."""
        chosen, _, silences = self.plan(index)
        total = sum(int(round(s * self.sample_rate)) for s in silences)
        return total + sum(int(self._audio(r).size) for r in chosen)

    def transcript(self, index: int) -> str:
        """Transcript of utterance `index` (without building its audio)."""
        return " ".join(r.transcript for r in self.plan(index)[0])

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"connected-digits index {index} out of range [0, {len(self)})")
        chosen, gains, silences = self.plan(index)
        pieces = [np.zeros(int(round(silences[0] * self.sample_rate)), np.float32)]
        for recording, gain, silence in zip(chosen, gains, silences[1:], strict=True):
            pieces.append(self._audio(recording) * np.float32(10.0 ** (gain / 20.0)))
            pieces.append(np.zeros(int(round(silence * self.sample_rate)), np.float32))
        audio = np.concatenate(pieces).astype(np.float32)
        if self.noise_db is not None:
            rng = np.random.default_rng([self.seed, index, 1])
            level = 10.0 ** (rng.uniform(*self.noise_db) / 20.0)
            audio = audio + (rng.standard_normal(audio.shape) * level).astype(np.float32)
        peak = float(np.max(np.abs(audio))) if audio.size else 0.0
        if peak > 1.0:
            audio = audio / np.float32(peak)
        transcript = " ".join(r.transcript for r in chosen)
        source = f"connected-digits #{index} ({'+'.join(r.path.name for r in chosen)})"
        return Utterance(transcript=transcript, audio=audio, source=source)


# --------------------------------------------------------------------------------------------- loading + policy


@dataclasses.dataclass
class Example:
    """A loaded utterance: waveform at the configured rate and its label ids."""

    waveform: np.ndarray
    labels: list[int]
    transcript: str
    name: str


@dataclasses.dataclass
class BadAudioReport:
    """Utterances dropped under the `skip` policy: `(name, reason)` pairs."""

    problems: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.problems)

    def summary(self, limit: int = 5) -> str:
        """One line: how many were skipped and the first few files with their reasons."""
        if not self.problems:
            return "no bad audio"
        shown = "; ".join(f"{name}: {reason}" for name, reason in self.problems[:limit])
        more = f"; ... and {self.count - limit} more" if self.count > limit else ""
        return f"skipped {self.count} bad utterance(s): {shown}{more}"


def utterance_num_samples(utterance: Utterance, sample_rate: int) -> int:
    """The length of an utterance's waveform at `sample_rate`, without decoding its audio.

    In-memory audio: its size. A file: `round(duration * sample_rate)` when the manifest gave a duration (the
    file is only checked to exist and be non-empty), else the exact length `load_audio` would return, from the
    file's header (`seqtasks.audio.io.num_samples_at`).

    Raises:
        DataError: the file is missing, empty, unreadable or holds no samples (the message names it).
    """
    if utterance.audio is not None:
        return int(np.asarray(utterance.audio).size)
    if utterance.duration is not None:
        check_audio_file(Path(utterance.path))
        return int(round(utterance.duration * sample_rate))
    return num_samples_at(utterance.path, sample_rate)


@dataclasses.dataclass(frozen=True)
class ScannedUtterance:
    """An utterance that passed the scan: its length at the configured rate and the output frames CTC needs.

    Attributes:
        utterance: the record (audio not read).
        num_samples: waveform length at the configured rate.
        min_frames: `ctc_min_frames` of its labels (0 when the scan had no CTC check).
    """

    utterance: Utterance
    num_samples: int
    min_frames: int = 0


class _Progress:
    """A line on stderr every `every` items of a long pass, so a scan of thousands of files never looks hung."""

    def __init__(self, what: str, total: int | None, every: int, stream: TextIO | None):
        self.what, self.total, self.every, self.stream = what, total, every, stream
        self.started = time.monotonic()
        self.shown = False

    def _show(self, done: int) -> None:
        of = f"/{self.total}" if self.total else ""
        print(f"{self.what}: scanned {done}{of} audio files ({time.monotonic() - self.started:.0f} s)",
              file=self.stream, flush=True)
        self.shown = True

    def step(self, done: int) -> None:
        if self.stream is not None and self.every > 0 and done % self.every == 0:
            self._show(done)

    def finish(self, done: int) -> None:
        if self.shown and done % self.every:
            self._show(done)


class UtteranceLoader:
    """Checks utterances against the alphabet and CTC's frame budget, and loads them (`Example`) or scans them.

    An utterance is bad when its audio cannot be read or holds no samples, when its transcript is empty or has
    characters outside the alphabet, or when it is too short for its transcript under CTC (fewer output frames
    after subsampling than `ctc_min_frames(labels)`). With `on_bad_audio="fail"` the first bad utterance raises a
    `DataError` naming the file; with `"skip"` it is dropped and recorded in `report`. Utterances longer than
    `max_samples` are left out as well, but listed in `too_long` instead (they are not bad audio).

    `load_all` decodes every utterance; `scan` decodes none: lengths come from the manifest's durations or the
    files' headers (see `utterance_num_samples`), so a LibriSpeech-size set is checked in seconds, and the audio
    is read later by `LazyUtterances`.

    Args:
        utterances: the records to load (any iterable; a `ConnectedDigits` generates audio on the fly).
        sample_rate: rate of the loaded waveforms.
        alphabet: the model's alphabet.
        output_frames: maps a waveform's sample count to the model's output frames; `None` skips the CTC check.
        on_bad_audio: `"fail"` or `"skip"`.
        allow_empty_transcripts: accept utterances with an empty transcript (silence).
        max_samples: leave out utterances longer than this many samples; `None` keeps all.
    """

    def __init__(
        self,
        utterances: Iterable[Utterance],
        sample_rate: int,
        alphabet: Alphabet,
        output_frames: Callable[[int], int] | None = None,
        on_bad_audio: str = "fail",
        allow_empty_transcripts: bool = False,
        max_samples: int | None = None,
    ):
        if on_bad_audio not in BAD_AUDIO_POLICIES:
            raise ValueError(
                f"Received an invalid value for argument `on_bad_audio`, expected one of {BAD_AUDIO_POLICIES}, "
                f"got {on_bad_audio!r}."
            )
        if max_samples is not None and max_samples <= 0:
            raise ValueError(
                f"Received an invalid value for argument `max_samples`, expected a positive integer or None, "
                f"got {max_samples!r}."
            )
        self.utterances = utterances
        self.sample_rate = sample_rate
        self.alphabet = alphabet
        self.output_frames = output_frames
        self.on_bad_audio = on_bad_audio
        self.allow_empty_transcripts = allow_empty_transcripts
        self.max_samples = max_samples
        self.report = BadAudioReport()
        self.too_long: list[str] = []

    def _bad(self, utterance: Utterance, reason: str, fix: str) -> None:
        if self.on_bad_audio == "fail":
            raise DataError(f"Bad audio {utterance.name}: {reason}. Fix: {fix}, or set data.on_bad_audio=skip.")
        self.report.problems.append((utterance.name, reason))

    def _unreadable(self, utterance: Utterance, error: DataError) -> None:
        self._bad(utterance, str(error).split(". Fix:")[0], "replace or remove the file")

    def _check(self, utterance: Utterance, num_samples: int) -> list[int] | None:
        """The label ids when the utterance passes every check, else `None` (after `_bad` or `too_long`)."""
        if num_samples <= 0:
            self._bad(utterance, "no samples", "replace or remove the file")
            return None
        if not utterance.transcript and not self.allow_empty_transcripts:
            self._bad(utterance, "empty transcript", "fill in the transcript")
            return None
        unknown = self.alphabet.unknown_characters(utterance.transcript)
        if unknown:
            self._bad(
                utterance, f"transcript has characters outside the alphabet {''.join(unknown)!r}",
                "normalise the transcript or extend the alphabet",
            )
            return None
        labels = self.alphabet.encode(utterance.transcript)
        if self.output_frames is not None:
            frames = int(self.output_frames(int(num_samples)))
            needed = ctc_min_frames(labels)
            if frames < needed:
                self._bad(
                    utterance,
                    f"too short for its transcript under CTC ({frames} output frames, {needed} needed for "
                    f"{len(labels)} characters)",
                    "check the transcript matches the audio or reduce model time subsampling",
                )
                return None
        if self.max_samples is not None and num_samples > self.max_samples:
            self.too_long.append(utterance.name)
            return None
        return labels

    def load_one(self, utterance: Utterance) -> Example | None:
        """The example of `utterance`, or `None` when it is bad and the policy is `skip` (or it is too long)."""
        if utterance.audio is not None:
            waveform = np.asarray(utterance.audio, dtype=np.float32).reshape(-1)
        else:
            try:
                waveform = load_audio(utterance.path, self.sample_rate)
            except DataError as error:
                self._unreadable(utterance, error)
                return None
        labels = self._check(utterance, int(waveform.size))
        if labels is None:
            return None
        return Example(waveform=waveform, labels=labels, transcript=utterance.transcript, name=utterance.name)

    def scan_one(self, utterance: Utterance) -> ScannedUtterance | None:
        """Checks `utterance` without decoding its audio; `None` when it is bad (policy `skip`) or too long."""
        try:
            num_samples = utterance_num_samples(utterance, self.sample_rate)
        except DataError as error:
            self._unreadable(utterance, error)
            return None
        labels = self._check(utterance, num_samples)
        if labels is None:
            return None
        min_frames = ctc_min_frames(labels) if self.output_frames is not None else 0
        return ScannedUtterance(utterance, num_samples, min_frames)

    def scan(
        self, progress: TextIO | None = None, every: int = 2000, what: str = "data"
    ) -> list[ScannedUtterance]:
        """Every good utterance with its length, no audio decoded (the report lists the skipped ones).

        Args:
            progress: stream for a progress line every `every` files (e.g. `sys.stderr`); `None` = quiet.
            every: files between progress lines.
            what: name of the data in progress lines ("training data").
        """
        total = len(self.utterances) if isinstance(self.utterances, Sequence) else None
        meter = _Progress(what, total, every, progress)
        scanned, done = [], 0
        for done, utterance in enumerate(self.utterances, start=1):
            entry = self.scan_one(utterance)
            if entry is not None:
                scanned.append(entry)
            meter.step(done)
        meter.finish(done)
        return scanned

    def __iter__(self) -> Iterator[Example]:
        for utterance in self.utterances:
            example = self.load_one(utterance)
            if example is not None:
                yield example

    def load_all(self) -> list[Example]:
        """Every good example (the report lists the skipped ones)."""
        return list(self)


class LazyUtterances:
    """Scanned utterances whose audio is read only when a batch needs it, through a bounded `AudioCache`.

    Indexable like a list of examples: `num_samples(i)` and `transcript(i)` cost nothing, `example(i)` decodes
    (or takes from the cache) and returns `(waveform, label ids)`. A file that passed the scan can still fail to
    decode (a truncated file whose header is intact): with `on_bad_audio="fail"` that raises a `DataError`
    naming it; with `"skip"` `example(i)` returns `None`, the file goes into `report` and a warning is printed
    once per file (it is not read again).

    Args:
        entries: the scan's result.
        alphabet: encodes the transcripts into label ids.
        cache: reads and keeps the waveforms (its sample rate is the configured one).
        on_bad_audio: `"fail"` or `"skip"`.
        report: where skipped files are recorded (e.g. the task's report); a new one when `None`.
        what: name of the data in messages ("training").
        warnings: stream for the skip warnings.
    """

    _MAX_WARNINGS = 10

    def __init__(
        self,
        entries: Sequence[ScannedUtterance],
        alphabet: Alphabet | None,
        cache: AudioCache,
        on_bad_audio: str = "fail",
        report: BadAudioReport | None = None,
        what: str = "data",
        warnings: TextIO | None = None,
    ):
        if on_bad_audio not in BAD_AUDIO_POLICIES:
            raise ValueError(
                f"Received an invalid value for argument `on_bad_audio`, expected one of {BAD_AUDIO_POLICIES}, "
                f"got {on_bad_audio!r}."
            )
        self.entries = list(entries)
        self.alphabet = alphabet
        self.cache = cache
        self.on_bad_audio = on_bad_audio
        self.report = report if report is not None else BadAudioReport()
        self.what = what
        self._warnings = warnings
        self._failed: dict[str, str] = {}
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self.entries)

    @property
    def utterances(self) -> list[Utterance]:
        return [e.utterance for e in self.entries]

    @property
    def failed(self) -> dict[str, str]:
        """Files that failed to decode after the scan: name -> reason (policy `skip`)."""
        return dict(self._failed)

    def num_samples(self, i: int) -> int:
        return self.entries[i].num_samples

    def transcript(self, i: int) -> str:
        return self.entries[i].utterance.transcript

    def min_frames(self, i: int) -> int:
        return self.entries[i].min_frames

    def waveform(self, i: int) -> np.ndarray | None:
        """Utterance `i`'s waveform (read-only), or `None` when it cannot be decoded and the policy is `skip`."""
        utterance = self.entries[i].utterance
        if utterance.audio is not None:
            return np.asarray(utterance.audio, dtype=np.float32).reshape(-1)
        name = utterance.name
        if name in self._failed:
            return None
        try:
            wave = self.cache.load(utterance.path)
        except DataError as error:
            reason = str(error).split(". Fix:")[0]
            if self.on_bad_audio == "fail":
                raise DataError(
                    f"Bad audio {name} ({self.what} data): {reason}. Fix: replace or remove the file, or set "
                    "data.on_bad_audio=skip."
                ) from None
            self._record(name, reason)
            return None
        if wave.size == 0:  # only a header that lied about its length gets here
            self._record(name, "no samples")
            return None
        return wave

    def _record(self, name: str, reason: str) -> None:
        with self._lock:
            if name in self._failed:
                return
            self._failed[name] = reason
            self.report.problems.append((name, reason))
            count = len(self._failed)
        stream = self._warnings if self._warnings is not None else sys.stderr
        if count <= self._MAX_WARNINGS:
            print(f"warning: {self.what} audio {name} cannot be decoded ({reason}); skipped (data.on_bad_audio=skip)",
                  file=stream, flush=True)
        if count == self._MAX_WARNINGS:
            print(f"warning: further {self.what} files that cannot be decoded are skipped without a warning; the "
                  "bad-audio report lists them", file=stream, flush=True)

    def example(self, i: int) -> tuple[np.ndarray, list[int]] | None:
        """`(waveform, label ids)` of utterance `i`, or `None` (see `waveform`)."""
        wave = self.waveform(i)
        if wave is None:
            return None
        return wave, self.alphabet.encode(self.entries[i].utterance.transcript)


def transcripts_of(utterances: Iterable[Utterance]) -> list[str]:
    """The transcripts, e.g. to build an alphabet."""
    return [u.transcript for u in utterances]


def scan_for_scoring(
    utterances: Iterable[Utterance],
    sample_rate: int,
    on_bad_audio: str,
    report: BadAudioReport,
    progress: TextIO | None = None,
    every: int = 2000,
    what: str = "evaluation data",
) -> list[ScannedUtterance]:
    """The utterances that can be scored (evaluation), with their lengths, without decoding any audio.

    Unlike training data, transcripts are not checked against an alphabet (any text can be scored) and no CTC
    check applies. An empty transcript cannot be scored and is always skipped (recorded in `report`); a file
    that cannot be read raises its `DataError` under `on_bad_audio="fail"` and is recorded under `"skip"`.

    Args:
        utterances: the records to score.
        sample_rate: the model's rate.
        on_bad_audio: `"fail"` or `"skip"`.
        report: where skipped utterances are recorded.
        progress: stream for a progress line every `every` files; `None` = quiet.
        every: files between progress lines.
        what: name of the data in progress lines.
    """
    if on_bad_audio not in BAD_AUDIO_POLICIES:
        raise ValueError(
            f"Received an invalid value for argument `on_bad_audio`, expected one of {BAD_AUDIO_POLICIES}, "
            f"got {on_bad_audio!r}."
        )
    total = len(utterances) if isinstance(utterances, Sequence) else None
    meter = _Progress(what, total, every, progress)
    scanned, done = [], 0
    for done, utterance in enumerate(utterances, start=1):
        meter.step(done)
        if not utterance.transcript:
            report.problems.append((utterance.name, "empty transcript"))
            continue
        try:
            num_samples = utterance_num_samples(utterance, sample_rate)
        except DataError as error:
            if on_bad_audio == "fail":
                raise
            report.problems.append((utterance.name, str(error).split(". Fix:")[0]))
            continue
        if num_samples <= 0:
            if on_bad_audio == "fail":
                raise DataError(f"Bad audio {utterance.name}: no samples. Fix: replace or remove the file, or set "
                                "data.on_bad_audio=skip.")
            report.problems.append((utterance.name, "no samples"))
            continue
        scanned.append(ScannedUtterance(utterance, num_samples))
    meter.finish(done)
    return scanned
