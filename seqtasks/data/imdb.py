"""IMDB movie reviews (25,000 train, 25,000 test, labels `"0"` negative / `"1"` positive): where to find them.

Order of attempts (the first that works wins):
1. the local copy `sentiment/imdb/{split}.tsv` (or `imdb/{split}.tsv`; columns `text<TAB>label`, a header, no
   quoting) in the local data directory (`data.data_dir` / `--data-dir`, else `$SEQTASKS_DATA_DIR`);
2. the tensorflow-datasets `imdb_reviews` dataset already prepared in `data.tfds_data_dir` (or tfds' default
   folder);
3. tfds' download when the network is reachable;
4. otherwise a one-line `DataError` saying where to put the files.

`load_imdb` only finds the data: a local copy is returned as its path (the sentiment task reads it with its own
TSV reader, bad-row policy included), reviews from tfds as raw `(text, label)` strings.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqtasks.data.catalog import IMDB, IMDB_TEST, IMDB_URL
from seqtasks.data.registry import find_local_files, network_available, unavailable_offline
from seqtasks.errors import ConfigError, DataError

SPLITS = ("train", "test")
# The catalog's specs of the two splits (the test split is not a separate dataset name).
IMDB_SPECS = {"train": IMDB, "test": IMDB_TEST}


@dataclass(frozen=True)
class ImdbSplit:
    """One IMDB split, as found.

    Attributes:
        split: `"train"` or `"test"`.
        source: Where it came from, for messages (the local file, or `tfds:imdb_reviews/<split>`).
        path: The local TSV copy (`text<TAB>label`, header, no quoting), or None when read through tfds.
        examples: The reviews from tfds as `(text, label)` strings (text as stored, labels `"0"`/`"1"`), or
            None for a local copy.
    """

    split: str
    source: str
    path: Path | None = None
    examples: list[tuple[str, str]] | None = None


def load_imdb(split: str, data_config: Any = None) -> ImdbSplit:
    """The IMDB `split` (`"train"` or `"test"`), from the first place that has it (see the module docstring).

    Args:
        split: `"train"` or `"test"`.
        data_config: An object with `data_dir` and `tfds_data_dir` attributes (the task's data config).

    Raises:
        ConfigError: Another split name.
        DataError: Neither a local copy nor tfds (prepared or downloadable) has it (one line: where to put it).
    """
    if split not in SPLITS:
        raise ConfigError(f"IMDB has the splits 'train' and 'test', got {split!r}.")
    spec = IMDB_SPECS[split]
    local = find_local_files(spec, data_config)
    if local:
        return ImdbSplit(split, str(local[0]), path=local[0])
    from seqtasks.data.tfds_support import is_prepared, prepare, tfds_builder

    try:
        builder = tfds_builder("imdb_reviews", getattr(data_config, "tfds_data_dir", "") or None)
    except DataError:
        builder = None
    if builder is None or not (is_prepared(builder) or network_available("ai.stanford.edu")):
        raise unavailable_offline(spec, data_config)
    try:
        if not is_prepared(builder):
            prepare(builder)
        ds = builder.as_dataset(split=split, as_supervised=True)
    except Exception as err:  # noqa: BLE001 - tfds raises many types for network and cache failures
        raise DataError(
            f"loading IMDB through tensorflow-datasets failed ({type(err).__name__}); download {IMDB_URL}, "
            "write train.tsv/test.tsv (text<TAB>label) under DIR/sentiment/imdb/ and pass --data-dir DIR"
        ) from None
    import tensorflow_datasets as tfds

    examples = [(text.decode("utf-8"), str(int(label))) for text, label in tfds.as_numpy(ds)]
    return ImdbSplit(split, f"tfds:imdb_reviews/{split}", examples=examples)


__all__ = ["IMDB_SPECS", "SPLITS", "ImdbSplit", "load_imdb"]
