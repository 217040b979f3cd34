"""Scanned utterances whose audio is decoded only when a batch needs it, through a bounded `AudioCache`."""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import TextIO

import numpy as np

from seqtasks.audio.io import AudioCache
from seqtasks.data.transcripts import Alphabet
from seqtasks.data.utterances import BAD_AUDIO_POLICIES, BadAudioReport, ScannedUtterance, Utterance
from seqtasks.errors import DataError


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


__all__ = ["LazyUtterances"]
