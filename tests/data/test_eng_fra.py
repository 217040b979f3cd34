"""seqtasks.data.eng_fra (local copies through the data directory, the download cache, the offline error) and
the tfds translation names of seqtasks.data.tfds_translation."""

from types import SimpleNamespace

import pytest

from seqtasks.data import eng_fra
from seqtasks.data.cache import cache_dir
from seqtasks.data.tfds_translation import is_tfds_name
from seqtasks.errors import DataError


def test_local_copy_is_found_through_data_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    (tmp_path / "translation").mkdir()
    path = tmp_path / "translation" / "eng-fra.tsv"
    path.write_text("Go.\tVa !\n", encoding="utf-8")
    assert eng_fra.eng_fra_file(SimpleNamespace(data_dir=str(tmp_path))) == path
    other = tmp_path / "other"
    other.mkdir()
    (other / "fra.txt").write_text("Hi.\tSalut.\tCC-BY\n", encoding="utf-8")
    assert eng_fra.eng_fra_file(SimpleNamespace(data_dir=str(other))) == other / "fra.txt"


def test_download_cache_is_the_translation_cache_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("SEQTASKS_CACHE_DIR", raising=False)
    assert cache_dir(eng_fra.CACHE_NAME) == cache_dir("translation")
    assert str(cache_dir("translation")).endswith(".cache/seqtasks/translation")  # where it always was
    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("SEQTASKS_DATA_DIR", raising=False)
    cached = tmp_path / "cache" / "translation" / "fra.txt"
    cached.parent.mkdir(parents=True)
    cached.write_text("Hi.\tSalut.\tCC-BY\n", encoding="utf-8")
    assert eng_fra.eng_fra_file(SimpleNamespace(data_dir="")) == cached


def test_offline_without_copy_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(eng_fra, "network_available", lambda *a, **k: False)
    monkeypatch.delenv("SEQTASKS_DATA_DIR", raising=False)
    with pytest.raises(DataError, match="eng_fra.*fra-eng.zip.*translation/eng-fra.tsv") as info:
        eng_fra.eng_fra_file(SimpleNamespace(data_dir=""))
    assert "\n" not in str(info.value)
    assert not (tmp_path / "cache").exists()


def test_tfds_names():
    assert is_tfds_name("ted_hrlr_translate/pt_to_en") and not is_tfds_name("eng_fra")
