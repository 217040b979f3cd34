"""Connected digits: multi-digit utterances generated on the fly, seeded, from the FSDD recordings of one split.

The generator builds each utterance from the recordings it is given only, so a generator over
`fsdd_split(..., "test")` never touches a training recording.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from seqtasks.audio.io import load_audio
from seqtasks.data.fsdd import FSDDRecording
from seqtasks.data.utterances import Utterance
from seqtasks.errors import DataError


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


__all__ = ["ConnectedDigits"]
