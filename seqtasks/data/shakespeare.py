"""tiny_shakespeare: Karpathy's char-rnn corpus (1,115,394 characters), through tensorflow-datasets.

Order of attempts (the first that works wins):
1. the dataset already prepared by tfds in `data.tfds_data_dir` (or tfds' default folder);
2. the original `input.txt` in the local data directory (`--data-dir` / $SEQTASKS_DATA_DIR), prepared by tfds
   from its `manual_dir` (tfds checks the file's SHA-256); if tfds itself cannot run, the file is read
   directly after the same checksum check;
3. tfds' normal download, if the network is reachable;
4. otherwise a one-line DataError naming the dataset, where to download it and where to put it.

The loader returns the whole corpus as one string (tfds' train + validation + test splits, which are the first
90%, next 5% and last 5% of the file, concatenated back in order); tasks choose their own split.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from seqtasks.data.registry import (
    DatasetSpec,
    find_local_files,
    network_available,
    register_dataset,
    unavailable_offline,
)
from seqtasks.data.text import read_text_file
from seqtasks.data.tfds_support import is_prepared, prepare, tfds_builder
from seqtasks.errors import DataError

URL = "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt"
SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
NUM_CHARS = 1_115_394


def _check_sha256(path: Path) -> None:
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != SHA256:
        raise DataError(
            f"{path} is not the original tiny_shakespeare input.txt (SHA-256 {digest[:12]}..., expected "
            f"{SHA256[:12]}...); download it again from {URL}, or pass your own text with --data {path}"
        )


def _from_tfds(builder: Any) -> str:
    import tensorflow_datasets as tfds

    parts = []
    for split in ("train", "validation", "test"):
        for example in tfds.as_numpy(builder.as_dataset(split=split)):
            parts.append(example["text"].decode("utf-8"))
    return "".join(parts)


def load_tiny_shakespeare(data_config: Any) -> str:
    """The full tiny_shakespeare text (see the module docstring for where it comes from)."""
    spec = TINY_SHAKESPEARE
    tfds_dir = getattr(data_config, "tfds_data_dir", "") or None
    local = find_local_files(spec, data_config)
    try:
        builder = tfds_builder("tiny_shakespeare", tfds_dir)
    except DataError:
        builder = None
    if builder is not None and is_prepared(builder):
        return _from_tfds(builder)
    if local:
        path = local[0]
        _check_sha256(path)
        if builder is not None:
            try:
                # tfds looks for the file under its original name in manual_dir and verifies its checksum.
                prepare(builder, manual_dir=path.parent)
                return _from_tfds(builder)
            except Exception:  # noqa: BLE001 - any tfds failure: the verified original file is as good
                pass
        return read_text_file(path)
    if builder is not None and network_available("raw.githubusercontent.com"):
        try:
            prepare(builder)
            return _from_tfds(builder)
        except Exception as e:  # noqa: BLE001
            raise DataError(
                f"downloading tiny_shakespeare through tensorflow-datasets failed ({type(e).__name__}); "
                f"download {URL} yourself and pass its folder with --data-dir"
            ) from None
    raise unavailable_offline(spec, data_config)


TINY_SHAKESPEARE = register_dataset(
    DatasetSpec(
        name="tiny_shakespeare",
        loader=load_tiny_shakespeare,
        description="Shakespeare plays, 1.1M characters (char-rnn corpus); tfds `tiny_shakespeare`",
        url=URL,
        local_files=(("tinyshakespeare/input.txt", "tiny_shakespeare/input.txt", "input.txt"),),
    )
)
