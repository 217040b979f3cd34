"""FSDD without a local copy: fetched once through tensorflow-datasets (`spoken_digit`) and cached as WAV files.

tensorflow-datasets has FSDD as `spoken_digit` (one `train` split, the file name kept in `audio/filename`), so the
official split — recordings 0-4 of each digit and speaker are test — survives the round trip: the examples are
written back as `{digit}_{speaker}_{index}.wav` under a cache folder that `read_fsdd` reads like a local copy.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile

from seqtasks.errors import DataError

FSDD_SAMPLE_RATE = 8000
_COMPLETE = ".complete"
_DOWNLOAD_HOST = "github.com"


def cache_root() -> Path:
    """Where seqtasks caches converted datasets: `$SEQTASKS_CACHE_DIR`, else `~/.cache/seqtasks`."""
    return Path(os.environ.get("SEQTASKS_CACHE_DIR", Path.home() / ".cache" / "seqtasks")).expanduser()


def cached_fsdd() -> Path | None:
    """The cached FSDD folder if a previous download finished, else None."""
    folder = cache_root() / "fsdd"
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
    folder = cache_root() / "fsdd"
    examples = (
        (example["audio/filename"].decode("utf-8"), example["audio"])
        for example in dataset.as_numpy_iterator()
    )
    write_fsdd_recordings(examples, folder)
    return folder
