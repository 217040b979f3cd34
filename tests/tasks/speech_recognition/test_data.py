"""The speech task's own data format: manifests (CSV / TSV / JSONL) and folders of audio + .txt transcripts."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from seqtasks.errors import DataError
from seqtasks.tasks.speech_recognition.data import read_folder, read_manifest

RATE = 8000


def _wav(path, seconds=0.2, rate=RATE, seed=0):
    rng = np.random.default_rng(seed)
    soundfile.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate)
    return path


def test_csv_manifest_rfc4180_and_relative_paths(tmp_path):
    (tmp_path / "audio").mkdir()
    _wav(tmp_path / "audio" / "a.wav")
    absolute = _wav(tmp_path / "b.wav")
    manifest = tmp_path / "sub" / "manifest.csv"
    manifest.parent.mkdir()
    manifest.write_text(
        "path,transcript\n"
        "../audio/a.wav,\"Six spoons, five \"\"thick\"\" slabs.\"\n"
        f"{absolute},\"two\nlines\"\n"
        "\n",
        encoding="utf-8",
    )
    rows = read_manifest(manifest)
    assert [u.transcript for u in rows] == ["six spoons five thick slabs", "two lines"]
    assert rows[0].path == manifest.parent / "../audio/a.wav" and rows[0].path.is_file()
    assert rows[1].path == absolute
    assert rows[0].source == "manifest.csv line 2"
    assert read_manifest(manifest, normalize=False)[0].transcript == 'Six spoons, five "thick" slabs.'


def test_jsonl_manifest(tmp_path):
    _wav(tmp_path / "a.wav")
    manifest = tmp_path / "m.jsonl"
    manifest.write_text(
        json.dumps({"path": "a.wav", "transcript": "Hello."}) + "\n\n"
        + json.dumps({"audio_filepath": "a.wav", "text": "world", "duration": 0.2}) + "\n"
    )
    rows = read_manifest(manifest)
    assert [(u.path.name, u.transcript) for u in rows] == [("a.wav", "hello"), ("a.wav", "world")]


def test_manifest_duration_column_and_key(tmp_path):
    _wav(tmp_path / "a.wav")
    csv_manifest = tmp_path / "m.csv"
    csv_manifest.write_text("path,transcript,duration\na.wav,one,0.2\na.wav,two,\na.wav,three, 1.5 \n")
    assert [u.duration for u in read_manifest(csv_manifest)] == [0.2, None, 1.5]
    assert read_manifest(tmp_path / "m.csv")[0].path.name == "a.wav"
    jsonl = tmp_path / "m.jsonl"
    jsonl.write_text(
        json.dumps({"audio_filepath": "a.wav", "text": "x", "duration": 3}) + "\n"
        + json.dumps({"audio_filepath": "a.wav", "text": "y"}) + "\n"
        + json.dumps({"audio_filepath": "a.wav", "text": "z", "duration": "0.25"}) + "\n"
    )
    assert [u.duration for u in read_manifest(jsonl)] == [3.0, None, 0.25]


@pytest.mark.parametrize(
    "name, content, match",
    [
        ("m.csv", "file_name,words\na.wav,hi\n", r"m\.csv line 1: header .* lacks the columns"),
        ("m.csv", "path,transcript\na.wav,hi,extra\n", r"m\.csv line 2: more fields"),
        ("m.csv", "path,transcript\n,hi\n", r"m\.csv line 2: empty audio path"),
        ("m.csv", "path,transcript\n", r"m\.csv has no rows"),
        ("m.csv", "", r"m\.csv is empty"),
        ("m.jsonl", '{"path": "a.wav", "transcript": "x"}\n{"path": \n', r"m\.jsonl line 2: invalid JSON"),
        ("m.jsonl", '["a.wav", "x"]\n', r"m\.jsonl line 1: expected a JSON object"),
        ("m.csv", "path,transcript,duration\na.wav,hi,1\na.wav,hi,abc\n", r"m\.csv line 3: invalid duration 'abc'"),
        ("m.csv", "path,transcript,duration\na.wav,hi,-0.5\n", r"m\.csv line 2: invalid duration '-0.5'"),
        ("m.csv", "path,transcript,duration\na.wav,hi,nan\n", r"m\.csv line 2: invalid duration 'nan'"),
        ("m.jsonl", '{"path": "a.wav", "transcript": "x", "duration": true}\n', r"m\.jsonl line 1: invalid duration True"),
        ("m.jsonl", '{"path": "a.wav", "transcript": "x", "duration": [1]}\n', r"m\.jsonl line 1: invalid duration \[1\]"),
    ],
)
def test_manifest_errors_name_file_and_line(tmp_path, name, content, match):
    (tmp_path / name).write_text(content)
    with pytest.raises(DataError, match=match) as info:
        read_manifest(tmp_path / name)
    assert "\n" not in str(info.value)


def test_missing_manifest_and_non_utf8(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_manifest(tmp_path / "none.csv")
    (tmp_path / "bad.csv").write_bytes(b"path,transcript\na.wav,caf\xe9\n")
    with pytest.raises(DataError, match="not UTF-8"):
        read_manifest(tmp_path / "bad.csv")


def test_folder_reader(tmp_path):
    _wav(tmp_path / "one.wav")
    (tmp_path / "one.txt").write_text("One!\n")
    (tmp_path / "nested").mkdir()
    _wav(tmp_path / "nested" / "two.flac")
    (tmp_path / "nested" / "two.txt").write_text("two")
    rows = read_folder(tmp_path)
    assert sorted(u.transcript for u in rows) == ["one", "two"]
    _wav(tmp_path / "three.wav")
    with pytest.raises(DataError, match=r"three\.wav has no transcript three\.txt"):
        read_folder(tmp_path)
    (tmp_path / "empty_dir").mkdir()
    with pytest.raises(DataError, match="holds no audio"):
        read_folder(tmp_path / "empty_dir")
    with pytest.raises(DataError, match="does not exist"):
        read_folder(tmp_path / "missing_dir")


# ------------------------------------------------------------------------------------------- named sources


def test_spoken_digit_is_fsdd(tmp_path):
    from seqtasks.config import load_config
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig
    from seqtasks.tasks.speech_recognition.data import read_sources

    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for name in ("3_jackson_0.wav", "4_jackson_12.wav", "5_jackson_7.wav"):
        soundfile.write(folder / name, np.zeros(4000, np.int16), 8000, subtype="PCM_16")
    config = load_config(SpeechRecognitionConfig, overrides=["data.dataset=spoken_digit",
                                                             f"data.fsdd_dir={folder.parent}"])
    sources = read_sources(config.data, config.train.seed)
    assert sources.mode == "fsdd" and set(sources.fsdd) == {"train", "validation", "test"}
    assert [u.transcript for u in sources.train] == ["four"]
    assert [u.transcript for u in sources.validation] == ["five"]
    assert [u.transcript for u in sources.test] == ["three"]


def test_a_misspelt_dataset_name_gets_the_closest_known_one():
    from seqtasks.config import load_config
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig
    from seqtasks.tasks.speech_recognition.data import read_sources

    config = load_config(SpeechRecognitionConfig, overrides=["data.dataset=librispech"])
    with pytest.raises(DataError, match=r"unknown speech dataset 'librispech'; did you mean 'librispeech'\? known: "):
        read_sources(config.data, config.train.seed)
