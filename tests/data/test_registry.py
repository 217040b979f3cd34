"""Named datasets: tiny_shakespeare through tfds offline from a local copy, and the offline error."""

from __future__ import annotations

import shutil

import pytest

from seqtasks.config import DataConfig
from seqtasks.data import get_dataset, list_datasets, load_dataset, local_data_dir, registry
from seqtasks.data import shakespeare as shakespeare_module
from seqtasks.errors import DataError


@pytest.fixture
def local_copy(shared_data, tmp_path):
    """A data dir laid out as a user would: DIR/tinyshakespeare/input.txt (a copy of the shared file)."""
    root = tmp_path / "datasets"
    (root / "tinyshakespeare").mkdir(parents=True)
    shutil.copy(shared_data / "tinyshakespeare" / "input.txt", root / "tinyshakespeare" / "input.txt")
    return root


def test_tiny_shakespeare_offline_through_tfds_manual_dir(local_copy, tmp_path, monkeypatch):
    monkeypatch.setattr(registry, "network_available", lambda *a, **k: pytest.fail("must not touch the network"))
    cfg = DataConfig(data_dir=str(local_copy), tfds_data_dir=str(tmp_path / "tfds"))
    text = load_dataset("tiny_shakespeare", cfg)
    assert len(text) == shakespeare_module.NUM_CHARS
    assert text == (local_copy / "tinyshakespeare" / "input.txt").read_text()
    # tfds prepared it, so a second load needs no local copy at all.
    assert (tmp_path / "tfds" / "tiny_shakespeare" / "1.0.0" / "dataset_info.json").is_file()
    assert load_dataset("tiny_shakespeare", DataConfig(tfds_data_dir=str(tmp_path / "tfds"))) == text


def test_env_var_names_the_data_dir_and_plain_file_fallback(local_copy, tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_DATA_DIR", str(local_copy))
    assert local_data_dir(DataConfig()) == local_copy

    def no_tfds(*args, **kwargs):
        raise DataError("tfds unusable")

    monkeypatch.setattr(shakespeare_module, "tfds_builder", no_tfds)
    text = load_dataset("tiny_shakespeare", DataConfig(tfds_data_dir=str(tmp_path / "tfds")))
    assert len(text) == shakespeare_module.NUM_CHARS


def test_unavailable_offline_is_one_clear_line(tmp_path, monkeypatch):
    monkeypatch.delenv("SEQTASKS_DATA_DIR", raising=False)
    monkeypatch.setattr(shakespeare_module, "network_available", lambda *a, **k: False)
    (tmp_path / "empty").mkdir()
    for cfg in (DataConfig(tfds_data_dir=str(tmp_path / "tfds")),
                DataConfig(data_dir=str(tmp_path / "empty"), tfds_data_dir=str(tmp_path / "tfds"))):
        with pytest.raises(DataError) as info:
            load_dataset("tiny_shakespeare", cfg)
        message = str(info.value)
        assert "dataset 'tiny_shakespeare' is not available offline" in message
        assert shakespeare_module.URL in message and "tinyshakespeare/input.txt" in message
        assert "\n" not in message


def test_modified_copy_is_rejected(tmp_path):
    (tmp_path / "tinyshakespeare").mkdir()
    (tmp_path / "tinyshakespeare" / "input.txt").write_text("First Citizen:\nnot the original\n")
    with pytest.raises(DataError, match="is not the original tiny_shakespeare input.txt"):
        load_dataset("tiny_shakespeare", DataConfig(data_dir=str(tmp_path), tfds_data_dir=str(tmp_path / "tfds")))


def test_registry_errors(tmp_path):
    assert "tiny_shakespeare" in list_datasets()
    with pytest.raises(DataError, match="did you mean 'tiny_shakespeare'"):
        get_dataset("tiny_shakespear")
    with pytest.raises(DataError, match="local data directory .* does not exist"):
        local_data_dir(DataConfig(data_dir=str(tmp_path / "missing")))
