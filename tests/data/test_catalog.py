"""Every named dataset is listed by `seqtasks.data` alone, and each name reaches its task's reader."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from seqtasks.config import DataConfig
from seqtasks.data import catalog, get_dataset, list_datasets, load_dataset
from seqtasks.errors import DataError

ALL = ["eng_fra", "fsdd", "fsdd_connected_digits", "imdb", "librispeech", "ljspeech", "spoken_digit",
       "tiny_shakespeare"]


def test_listed_without_importing_tasks_or_tensorflow():
    code = (
        "import sys\n"
        "from seqtasks.data import list_datasets\n"
        "print(','.join(list_datasets()))\n"
        "print(sorted(m for m in sys.modules if m.startswith('seqtasks.tasks') or m.split('.')[0] in "
        "('tensorflow', 'keras', 'tensorflow_datasets')))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    listed, heavy = proc.stdout.splitlines()
    assert listed.split(",") == ALL
    assert heavy == "[]"


def test_unknown_name_lists_every_dataset():
    assert list_datasets() == ALL
    with pytest.raises(DataError, match="did you mean 'imdb'") as info:
        get_dataset("imbd")
    assert all(name in str(info.value) for name in ALL)


def test_every_task_default_dataset_is_listed():
    from seqtasks.data.speech_tfds import PRESETS
    from seqtasks.tasks.sentiment.config import SentimentDataConfig as SentimentData
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionDataConfig as SpeechData
    from seqtasks.tasks.speech_recognition.data import DATASETS as SPEECH_DATASETS
    from seqtasks.tasks.text_generation.config import TextGenerationDataConfig
    from seqtasks.tasks.translation.config import TranslationDataConfig as TranslationData

    defaults = {cls().dataset for cls in (SentimentData, SpeechData, TextGenerationDataConfig, TranslationData)}
    assert defaults | set(SPEECH_DATASETS) | set(PRESETS) <= set(list_datasets())


def test_tasks_use_the_listed_specs():
    from seqtasks.data import eng_fra, imdb

    assert imdb.IMDB_SPECS["train"] is get_dataset("imdb")
    assert eng_fra.ENG_FRA is get_dataset("eng_fra")


def test_loaders_reach_the_task_readers(tmp_path: Path):
    (tmp_path / "sentiment" / "imdb").mkdir(parents=True)
    (tmp_path / "sentiment" / "imdb" / "train.tsv").write_text("text\tlabel\nGreat film.\t1\nDull.\t0\n")
    (tmp_path / "sentiment" / "imdb" / "test.tsv").write_text("text\tlabel\nFine.\t1\n")
    (tmp_path / "translation").mkdir()
    (tmp_path / "translation" / "eng-fra.tsv").write_text("Go.\tVa !\n")
    cfg = DataConfig(data_dir=str(tmp_path), tfds_data_dir=str(tmp_path / "tfds"))

    train = load_dataset("imdb", cfg)
    assert (train.split, train.path) == ("train", tmp_path / "sentiment" / "imdb" / "train.tsv")
    assert catalog.IMDB_TEST.loader(cfg).path == tmp_path / "sentiment" / "imdb" / "test.tsv"
    assert load_dataset("eng_fra", cfg) == tmp_path / "translation" / "eng-fra.tsv"

    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionDataConfig

    speech = SpeechRecognitionDataConfig(fsdd_dir=str(tmp_path / "fsdd"))
    assert load_dataset("fsdd", speech) == load_dataset("fsdd_connected_digits", speech) == tmp_path / "fsdd"
