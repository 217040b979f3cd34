"""The Free Spoken Digit Dataset (FSDD): finding a copy, reading its recordings, its official split.

FSDD holds `{digit}_{speaker}_{index}.wav` files at 8 kHz; recordings with index 0-4 are the official test set.
`find_fsdd` looks for it as a folder: `data.fsdd_dir`, else `fsdd/` (or `free-spoken-digit-dataset/`) in the
local data directory, else the copy cached by an earlier download, else a download through tensorflow-datasets.

tensorflow-datasets has FSDD as `spoken_digit` (one `train` split, the file name kept in `audio/filename`), so the
official split survives the round trip: the examples are written back as `{digit}_{speaker}_{index}.wav` under
`seqtasks.data.cache.cache_dir("fsdd")`, which `read_fsdd` reads like a local copy.
"""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile

from seqtasks.data.cache import cache_dir
from seqtasks.data.registry import local_data_dir
from seqtasks.data.utterances import Utterance
from seqtasks.errors import DataError

DIGIT_WORDS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")
FSDD_TEST_INDICES = range(0, 5)
FSDD_SAMPLE_RATE = 8000
_FSDD_NAME = re.compile(r"^(\d)_([A-Za-z0-9-]+)_(\d+)$")
_COMPLETE = ".complete"
_DOWNLOAD_HOST = "github.com"


# --------------------------------------------------------------------------------------------- reading


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
    recordings: Sequence[FSDDRecording],
    split: str,
    validation_indices: Sequence[int] = range(5, 10),
    test_speakers: Sequence[str] = (),
) -> list[FSDDRecording]:
    """The recordings of one split.

    Default (seen speakers): `test` = indices 0-4 of every speaker (the official split), `validation` =
    `validation_indices`, `train` = the rest. `validation_indices` must not overlap the test indices; an empty one
    gives no validation split and a train split of every index >= 5 (the official training set).

    With `test_speakers` (unseen speakers, e.g. leave-one-speaker-out): `test` = every recording of those speakers,
    and `validation` / `train` = the other speakers' recordings with / without an index in `validation_indices`
    (their indices 0-4 train too: no recording of a test speaker is ever trained on or validated with).
    """
    validation = set(validation_indices)
    held_out = set(test_speakers)
    if held_out:
        speakers = sorted({r.speaker for r in recordings})
        unknown = sorted(held_out - set(speakers))
        if unknown:
            raise DataError(
                f"data.test_speakers {unknown} are not FSDD speakers here (speakers: {', '.join(speakers)}); "
                "fix the names"
            )
        if held_out >= set(speakers):
            raise DataError("data.test_speakers names every speaker, leaving none to train on; hold out fewer")
        test = [r for r in recordings if r.speaker in held_out]
        rest = [r for r in recordings if r.speaker not in held_out]
    else:
        if validation & set(FSDD_TEST_INDICES):
            raise ValueError(
                f"Received `validation_indices` {sorted(validation)} overlapping the FSDD test indices 0-4."
            )
        test = [r for r in recordings if r.index in FSDD_TEST_INDICES]
        rest = [r for r in recordings if r.index not in FSDD_TEST_INDICES]
    if split == "test":
        return test
    if split == "validation":
        return [r for r in rest if r.index in validation]
    if split == "train":
        return [r for r in rest if r.index not in validation]
    raise ValueError(
        f"Received an invalid value for argument `split`, expected 'train', 'validation' or 'test', got {split!r}."
    )


def fsdd_utterances(recordings: Sequence[FSDDRecording]) -> list[Utterance]:
    """Single-digit utterances (transcript = the digit's word)."""
    return [Utterance(transcript=r.transcript, path=r.path, source="fsdd") for r in recordings]


# --------------------------------------------------------------------------------------------- finding a copy


def find_fsdd(data_config: Any) -> Path:
    """The FSDD folder: `data.fsdd_dir`, else `fsdd/` (or `free-spoken-digit-dataset/`) in the local data dir,
    else the copy cached by an earlier download, else a download through tensorflow-datasets (`spoken_digit`).

    Args:
        data_config: the speech data section (reads `fsdd_dir`, `data_dir`, `tfds_data_dir`).

    Raises:
        DataError: no copy and no download (one line saying where to put a local copy).
    """
    if data_config.fsdd_dir:
        return Path(data_config.fsdd_dir).expanduser()
    root = local_data_dir(data_config)
    if root is not None:
        for candidate in (root / "fsdd", root / "free-spoken-digit-dataset", root):
            if (candidate / "recordings").is_dir():
                return candidate
    cached = cached_fsdd()
    if cached is not None:
        return cached
    try:
        return download_fsdd(data_config.tfds_data_dir or None)
    except DataError as error:
        reason = str(error)
    where = f"{root}/fsdd/recordings/" if root else "DIR/fsdd/recordings/ and pass --data-dir DIR"
    raise DataError(
        f"dataset 'fsdd' (Free Spoken Digit Dataset) not found locally and not downloadable ({reason}): clone "
        f"https://github.com/Jakobovski/free-spoken-digit-dataset and put its recordings/*.wav at {where} "
        "(or set data.fsdd_dir)"
    )


def cached_fsdd() -> Path | None:
    """The cached FSDD folder if a previous download finished, else None."""
    folder = cache_dir("fsdd")
    return folder if (folder / _COMPLETE).is_file() else None


def write_fsdd_recordings(examples: Iterable[tuple[str, np.ndarray]], folder: Path) -> int:
    """Writes `(file name, int16-range samples)` pairs as 8 kHz 16-bit WAV files in `folder/recordings/`.

    Each file is written under a temporary name and renamed, and `folder/.complete` is written last, so an
    interrupted conversion is redone rather than half used. Returns the number of files written.
    """
    recordings = folder / "recordings"
    recordings.mkdir(parents=True, exist_ok=True)
    count = 0
    for name, samples in examples:
        name = Path(name).name
        if not name.endswith(".wav"):
            raise DataError(f"spoken_digit example {name!r} is not a .wav file name; the tfds data looks corrupt")
        target = recordings / name
        tmp = target.with_suffix(".wav.tmp")
        soundfile.write(tmp, np.asarray(samples, dtype=np.int16), FSDD_SAMPLE_RATE, subtype="PCM_16", format="WAV")
        os.replace(tmp, target)
        count += 1
    if count == 0:
        raise DataError("tensorflow-datasets `spoken_digit` gave no recordings")
    (folder / _COMPLETE).write_text(f"{count}\n")
    return count


def download_fsdd(tfds_data_dir: str | None = None) -> Path:
    """Downloads `spoken_digit` with tensorflow-datasets, converts it to the FSDD layout and returns its folder.

    Raises:
        DataError: when the network is unreachable or tfds fails (one line, with where to put a local copy).
    """
    from seqtasks.data.registry import network_available
    from seqtasks.data.tfds_support import is_prepared, prepare, tfds_builder

    builder = tfds_builder("spoken_digit", tfds_data_dir)
    if not is_prepared(builder):
        if not network_available(_DOWNLOAD_HOST):
            raise DataError("network unreachable")
        try:
            prepare(builder)
        except Exception as e:  # noqa: BLE001 - tfds raises many kinds; the user needs one line
            raise DataError(f"tensorflow-datasets could not prepare 'spoken_digit' ({type(e).__name__}: {e})") from None
    dataset = builder.as_dataset(split="train")
    folder = cache_dir("fsdd")
    examples = (
        (example["audio/filename"].decode("utf-8"), example["audio"])
        for example in dataset.as_numpy_iterator()
    )
    write_fsdd_recordings(examples, folder)
    return folder


__all__ = [
    "DIGIT_WORDS",
    "FSDD_SAMPLE_RATE",
    "FSDD_TEST_INDICES",
    "FSDDRecording",
    "cached_fsdd",
    "download_fsdd",
    "find_fsdd",
    "fsdd_split",
    "fsdd_utterances",
    "read_fsdd",
    "write_fsdd_recordings",
]
