"""The named datasets whose readers live with their task: imdb, eng_fra, and the speech sets (fsdd,
fsdd_connected_digits, spoken_digit, librispeech, ljspeech).

They are registered here, when `seqtasks.data` is imported, so that `list_datasets()` and the "unknown dataset"
error name every dataset the toolkit knows whichever task (if any) was imported. Each loader imports its task's
reader only when it is called, so importing `seqtasks.data` stays cheap (no TensorFlow, no task modules).

tiny_shakespeare is registered by `seqtasks.data.shakespeare`, which reads it itself. Other tensorflow-datasets sets,
named `name/config` (translation) or `tfds:NAME` (speech), are passed through to tfds and are not listed.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

from seqtasks.data.registry import DatasetSpec, register_dataset

IMDB_URL = "https://ai.stanford.edu/~amaas/data/sentiment/"
ENG_FRA_URL = "https://www.manythings.org/anki/fra-eng.zip"
FSDD_URL = "https://github.com/Jakobovski/free-spoken-digit-dataset"


def _load_imdb_train(data_config: Any) -> Any:
    from seqtasks.data.imdb import load_imdb

    return load_imdb("train", data_config)


def _load_imdb_test(data_config: Any) -> Any:
    from seqtasks.data.imdb import load_imdb

    return load_imdb("test", data_config)


def _eng_fra_file(data_config: Any) -> Path:
    from seqtasks.data.eng_fra import eng_fra_file

    return eng_fra_file(data_config)


def _fsdd_folder(data_config: Any) -> Path:
    from seqtasks.data.fsdd import find_fsdd

    return find_fsdd(data_config)


def _tfds_speech(name: str) -> Callable[[Any], Any]:
    """A loader returning the {train, validation, test} manifests of the tfds speech preset `name`."""

    def load(data_config: Any) -> Any:
        from seqtasks.data.speech_tfds import tfds_manifests

        if dataclasses.is_dataclass(data_config):
            data_config = dataclasses.replace(data_config, dataset=name)
        else:  # any object with the data keys: a copy, so the caller's stays as it was
            data_config = copy.copy(data_config)
            data_config.dataset = name
        return tfds_manifests(data_config)

    return load


IMDB = register_dataset(
    DatasetSpec(
        name="imdb",
        loader=_load_imdb_train,
        description="IMDB movie reviews, 25k train / 25k test, labels 0/1; tfds `imdb_reviews` (task: sentiment)",
        url=IMDB_URL,
        local_files=(("sentiment/imdb/train.tsv", "imdb/train.tsv"),),
    )
)
# Not a separate name: `eval.split=test` of the imdb dataset; its files are looked for the same way.
IMDB_TEST = DatasetSpec(
    name="imdb (test split)",
    loader=_load_imdb_test,
    description=IMDB.description,
    url=IMDB_URL,
    local_files=(("sentiment/imdb/test.tsv", "imdb/test.tsv"),),
)


ENG_FRA = register_dataset(
    DatasetSpec(
        name="eng_fra",
        loader=_eng_fra_file,
        description="Tatoeba / ManyThings.org English-French sentence pairs (TSV) (task: translation)",
        url=ENG_FRA_URL,
        local_files=(("translation/eng-fra.tsv", "eng-fra.tsv", "fra.txt", "fra-eng/fra.txt"),),
    )
)

# The speech task finds FSDD as a folder (`data.fsdd_dir`, DIR/fsdd/recordings/, its download cache, or tfds
# `spoken_digit`), so these list no single files; the loader returns that folder.
FSDD = register_dataset(
    DatasetSpec(
        name="fsdd",
        loader=_fsdd_folder,
        description="Free Spoken Digit Dataset, single spoken digits 0-9, 8 kHz; tfds `spoken_digit` "
        "(task: speech_recognition)",
        url=FSDD_URL,
    )
)
FSDD_CONNECTED_DIGITS = register_dataset(
    DatasetSpec(
        name="fsdd_connected_digits",
        loader=_fsdd_folder,
        description="1-7 FSDD digits of one speaker joined into one utterance, transcribed as words "
        "(task: speech_recognition)",
        url=FSDD_URL,
    )
)

SPOKEN_DIGIT = register_dataset(
    DatasetSpec(
        name="spoken_digit",
        loader=_fsdd_folder,
        description="tensorflow-datasets' name of FSDD (the same recordings and split as `fsdd`) "
        "(task: speech_recognition)",
        url=FSDD_URL,
    )
)
# Converted once into cached FLAC + manifests (seqtasks.data.speech_tfds); the loader returns
# the {train, validation, test} manifest paths.
LIBRISPEECH = register_dataset(
    DatasetSpec(
        name="librispeech",
        loader=_tfds_speech("librispeech"),
        description="LibriSpeech read English audiobooks, 16 kHz; tfds `librispeech`: train_clean100 / dev_clean / "
        "test_clean (task: speech_recognition)",
        url="https://www.openslr.org/12",
    )
)
LJSPEECH = register_dataset(
    DatasetSpec(
        name="ljspeech",
        loader=_tfds_speech("ljspeech"),
        description="LJ Speech, one English speaker, 22.05 kHz; tfds `ljspeech` cut 90/5/5 % "
        "(task: speech_recognition)",
        url="https://keithito.com/LJ-Speech-Dataset/",
    )
)
