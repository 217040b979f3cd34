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


@pytest.mark.skipif(__import__("shutil").which("espeak-ng") is None,
                    reason="espeak-ng is not installed (apt-get install espeak-ng, or make install)")
def test_synthetic_sentences_join_the_training_list_only(tmp_path, monkeypatch, capsys):
    from seqtasks.config import load_config
    from seqtasks.data.cache import ENV_CACHE_DIR
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig
    from seqtasks.tasks.speech_recognition.data import read_sources
    from seqtasks.tasks.speech_recognition.preprocessor import SpeechRecognitionPreprocessor

    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "cache"))
    real = [f"real sentence number {word}" for word in ("one", "two", "three", "four", "five", "six", "seven", "eight",
                                                        "nine", "ten")]
    rows = ["path,transcript"]
    for i, text in enumerate(real):
        _wav(tmp_path / f"{i}.wav", seed=i)
        rows.append(f"{i}.wav,{text.capitalize()}.")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    # Two candidate sentences equal real transcripts (one of them held out for test or validation): never rendered.
    (tmp_path / "text.txt").write_text(
        "Real sentence number three!\nREAL SENTENCE NUMBER NINE.\nI like green tea.\nWhere is the station?\n"
        "We aren't ready yet.\n", encoding="utf-8")
    base = ["data.validation_fraction=0.2", "data.test_fraction=0.2", f"data.path=[{tmp_path / 'm.csv'}]"]
    plain = load_config(SpeechRecognitionConfig, overrides=base)
    synthetic = load_config(SpeechRecognitionConfig, overrides=[
        *base, "data.synthetic_sentences=5", f"data.synthetic_text=[{tmp_path / 'text.txt'}]"])
    before = read_sources(plain.data, plain.train.seed)
    after = read_sources(synthetic.data, synthetic.train.seed)

    assert after.validation == before.validation and after.test == before.test   # the real split is unchanged
    assert after.train[: len(before.train)] == before.train
    added = after.train[len(before.train):]
    assert sorted(u.transcript for u in added) == ["i like green tea", "we aren't ready yet", "where is the station"]
    assert all("synthetic_speech" in str(u.path) for u in added)
    assert not {u.transcript for u in added} & {u.transcript for u in before.train + before.validation + before.test}
    assert "synthetic speech: added 3 espeak-ng sentences from" in capsys.readouterr().err
    # The alphabet comes from the real and the synthetic training transcripts.
    alphabet = SpeechRecognitionPreprocessor.build(synthetic, [u.transcript for u in after.train]).alphabet
    assert {"'", "d", "k", "y"} <= set(alphabet.characters)  # in the synthetic transcripts only


def test_evaluation_reads_neither_synthetic_speech_nor_the_training_audio(tmp_path, monkeypatch):
    from seqtasks.config import load_config
    from seqtasks.data import synthetic_speech
    from seqtasks.runtime.run_dir import RunDir
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig
    from seqtasks.tasks.speech_recognition.data import read_sources
    from seqtasks.tasks.speech_recognition.task import SpeechRecognitionTask

    rows = ["path,transcript"]
    for i in range(10):
        _wav(tmp_path / f"{i}.wav", seconds=1.0, seed=i)
        rows.append(f"{i}.wav,{'ab' if i % 2 else 'ba'}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")

    def no_rendering(*args, **kwargs):
        raise AssertionError("evaluation rendered or read synthetic speech")

    monkeypatch.setattr(synthetic_speech, "synthetic_manifest", no_rendering)
    config = load_config(SpeechRecognitionConfig, overrides=[
        "data.validation_fraction=0.2", "data.test_fraction=0.2", f"data.path=[{tmp_path / 'm.csv'}]",
        "data.synthetic_sentences=5"])
    task = SpeechRecognitionTask(config, RunDir.at(tmp_path / "run"))
    task.prepare_evaluation_data()
    assert task._train is None  # the training audio was not scanned
    assert task._test_utterances == read_sources(config.data, config.train.seed, synthetic=False).test
    with pytest.raises(AssertionError, match="synthetic"):
        task.prepare_data()  # training does render them


def test_extra_training_speech_is_added_after_the_split_of_the_users_data(tmp_path):
    from seqtasks.config import load_config
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig
    from seqtasks.tasks.speech_recognition.data import read_sources

    for name, count in (("m", 10), ("more", 3)):
        rows = ["path,transcript"]
        for i in range(count):
            _wav(tmp_path / f"{name}{i}.wav", seed=i)
            rows.append(f"{name}{i}.wav,{name} {i}")
        (tmp_path / f"{name}.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    base = ["data.validation_fraction=0.2", "data.test_fraction=0.2", f"data.path=[{tmp_path / 'm.csv'}]"]
    plain = load_config(SpeechRecognitionConfig, overrides=base)
    extra = load_config(SpeechRecognitionConfig, overrides=[*base, f"data.extra_train_path=[{tmp_path / 'more.csv'}]"])
    before, after = read_sources(plain.data, 0), read_sources(extra.data, 0)
    assert after.validation == before.validation and after.test == before.test
    assert after.train == before.train + read_manifest(tmp_path / "more.csv")
    assert read_sources(extra.data, 0, synthetic=False).train == before.train  # evaluation reads none of it
    # The held-out data is never trained on.
    again = load_config(SpeechRecognitionConfig, overrides=[*base, f"data.extra_train_path=[{tmp_path / 'more.csv'},"
                                                                   f"{tmp_path / 'm.csv'}]"])
    with pytest.raises(DataError, match=r"^data.extra_train_path: 4 file\(s\) are also validation or test data \(e.g. "
                                        r".*m\d.wav\), which would then be trained on. Fix: leave them out"):
        read_sources(again.data, 0)
