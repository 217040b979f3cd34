"""Utterance records and the bad-audio policy: checking utterances without decoding them (scanning).

Readers (manifests, folders, FSDD, connected digits, tensorflow-datasets manifests) give `Utterance` records: a
transcript plus an audio file or an in-memory waveform, an optional duration from the manifest, and a `source`
string that error messages use. `UtteranceLoader` applies the bad-audio policy: `"fail"` stops at the first bad
utterance with a one-line error naming the file, `"skip"` drops it and records the file and the reason in a
`BadAudioReport`. It either loads utterances into `Example`s (waveform at the configured rate + label ids) or, for
data too big for memory, only *scans* them: the length of each file comes from the manifest's `duration` or the
file's header, nothing is decoded, and `seqtasks.data.lazy_audio.LazyUtterances` reads the audio later, batch by
batch, through a bounded `AudioCache`.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import TextIO

import numpy as np

from seqtasks.audio.io import check_audio_file, load_audio, num_samples_at
from seqtasks.data.transcripts import Alphabet
from seqtasks.errors import DataError
from seqtasks.losses.ctc import ctc_min_frames

BAD_AUDIO_POLICIES = ("fail", "skip")


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
            if getattr(self.alphabet, "phonemes", None):  # a PhonemeAlphabet names the words it cannot spell
                self._bad(utterance, f"transcript has words without a pronunciation in the model's phonemes "
                          f"{unknown!r}", "check the words or remove the utterance")
            else:
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


__all__ = [
    "BAD_AUDIO_POLICIES",
    "BadAudioReport",
    "Example",
    "ScannedUtterance",
    "Utterance",
    "UtteranceLoader",
    "scan_for_scoring",
    "transcripts_of",
    "utterance_num_samples",
]
