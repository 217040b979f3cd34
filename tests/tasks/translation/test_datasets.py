"""Named translation datasets: local copies through the data directory, and the offline error."""

from types import SimpleNamespace

import pytest

from seqtasks.errors import DataError
from seqtasks.tasks.translation import datasets


def test_eng_fra_local_copy_is_found_through_data_dir(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "CACHE_DIR", tmp_path / "cache")
    (tmp_path / "translation").mkdir()
    path = tmp_path / "translation" / "eng-fra.tsv"
    path.write_text("Go.\tVa !\n", encoding="utf-8")
    assert datasets.eng_fra_file(SimpleNamespace(data_dir=str(tmp_path))) == path
    other = tmp_path / "other"
    other.mkdir()
    (other / "fra.txt").write_text("Hi.\tSalut.\tCC-BY\n", encoding="utf-8")
    assert datasets.eng_fra_file(SimpleNamespace(data_dir=str(other))) == other / "fra.txt"


def test_eng_fra_offline_without_copy_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setattr(datasets, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(datasets, "network_available", lambda *a, **k: False)
    monkeypatch.delenv("SEQTASKS_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="eng_fra.*fra-eng.zip.*translation/eng-fra.tsv") as info:
        datasets.eng_fra_file(SimpleNamespace(data_dir=""))
    assert "\n" not in str(info.value)
    assert datasets.is_tfds_name("ted_hrlr_translate/pt_to_en") and not datasets.is_tfds_name("eng_fra")
