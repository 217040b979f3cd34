"""seqtasks.data.imdb: the local copy through the data directory, split names, and the offline error."""

from types import SimpleNamespace

import pytest

from seqtasks.data import get_dataset, network_available
from seqtasks.data.imdb import IMDB_SPECS, load_imdb
from seqtasks.errors import ConfigError, DataError


def test_local_copy_is_found_through_data_dir(tmp_path):
    path = tmp_path / "sentiment/imdb/test.tsv"
    path.parent.mkdir(parents=True)
    path.write_text("text\tlabel\nFine.\t1\n", encoding="utf-8")
    cfg = SimpleNamespace(data_dir=str(tmp_path), tfds_data_dir=str(tmp_path / "tfds"))
    found = load_imdb("test", cfg)
    assert (found.split, found.path, found.source, found.examples) == ("test", path, str(path), None)
    with pytest.raises(ConfigError, match="splits"):
        load_imdb("validation", cfg)
    # No train split there, nothing prepared by tfds, and no network here: one line saying where to put it.
    if not network_available("ai.stanford.edu", timeout=1.0):
        with pytest.raises(DataError, match=r"dataset 'imdb' is not available offline.*sentiment/imdb/train\.tsv"):
            load_imdb("train", cfg)


def test_specs_are_the_catalog_entries():
    assert IMDB_SPECS["train"] is get_dataset("imdb")
    assert IMDB_SPECS["test"].local_files == (("sentiment/imdb/test.tsv", "imdb/test.tsv"),)
