"""Tests for the speech recognition data layer: text, alphabet, readers, FSDD, connected digits, bad audio."""

from __future__ import annotations

import json

import numpy as np
import pytest
import soundfile

from seqtasks.errors import DataError
from seqtasks.tasks.speech_recognition.data import (
    DIGIT_WORDS,
    Alphabet,
    ConnectedDigits,
    FSDDRecording,
    Utterance,
    UtteranceLoader,
    fsdd_split,
    fsdd_utterances,
    normalize_transcript,
    read_folder,
    read_fsdd,
    read_manifest,
)

RATE = 8000


def _wav(path, seconds=0.2, rate=RATE, seed=0):
    rng = np.random.default_rng(seed)
    soundfile.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate)
    return path


# ------------------------------------------------------------------------------------------- text and alphabet


def test_normalize_transcript():
    assert normalize_transcript("Please call Stella.") == "please call stella"
    assert normalize_transcript("  Six spoons, five   thick slabs!\n") == "six spoons five thick slabs"
    assert normalize_transcript("It\u2019s a well-known \"fact\"") == "it's a well known fact"
    assert normalize_transcript("ABC", lowercase=False) == "ABC"


def test_alphabet_encode_decode_extend_and_save(tmp_path):
    alphabet = Alphabet.from_texts(["three one", "four"])
    assert alphabet.characters[0] == " " and alphabet.blank_index == alphabet.size
    assert alphabet.num_classes == alphabet.size + 1
    ids = alphabet.encode("one four")
    assert alphabet.decode(ids + [-1, alphabet.blank_index]) == "one four"
    with pytest.raises(DataError, match="outside the alphabet: 'z'"):
        alphabet.encode("zero")
    bigger = alphabet.extend(["zero"])
    assert bigger.characters[: alphabet.size] == alphabet.characters and "z" in bigger.characters
    assert Alphabet.load(alphabet.save(tmp_path / "alphabet.json")) == alphabet
    with pytest.raises(ValueError, match="distinct"):
        Alphabet("abca")
    with pytest.raises(DataError, match="does not exist"):
        Alphabet.load(tmp_path / "missing.json")


# ------------------------------------------------------------------------------------------- manifests


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


# ------------------------------------------------------------------------------------------- bad audio policy


def _bad_audio_set(tmp_path):
    good = _wav(tmp_path / "good.wav", seconds=0.5)
    odd_rate = _wav(tmp_path / "odd_rate.wav", seconds=0.5, rate=11025)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_bytes(b"not audio" * 50)
    short = _wav(tmp_path / "short.wav", seconds=0.02)
    return [
        Utterance("one", good),
        Utterance("two", odd_rate),
        Utterance("one", tmp_path / "empty.wav", source="m.csv line 4"),
        Utterance("one", tmp_path / "junk.wav"),
        Utterance("one two three", short),  # 0.02 s: far too few frames for 13 characters
        Utterance("one!", good),  # "!" is outside the alphabet
    ]


def _frames(num_samples: int) -> int:
    return 1 + num_samples // 80  # 10 ms hop at 8 kHz, no subsampling


def test_bad_audio_fail_names_the_file(tmp_path):
    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    utterances = _bad_audio_set(tmp_path)
    loader = UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, on_bad_audio="fail")
    with pytest.raises(DataError, match=r"empty\.wav \(m\.csv line 4\).*on_bad_audio=skip"):
        loader.load_all()


def test_bad_audio_skip_counts_with_file_names(tmp_path):
    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    loader = UtteranceLoader(_bad_audio_set(tmp_path), RATE, alphabet, output_frames=_frames, on_bad_audio="skip")
    examples = loader.load_all()
    assert [e.transcript for e in examples] == ["one", "two"]
    # The 11.025 kHz file was resampled to the configured 8 kHz.
    assert abs(examples[1].waveform.size - 4000) <= 2
    assert examples[0].labels == alphabet.encode("one")
    reasons = dict(loader.report.problems)
    assert loader.report.count == 4
    assert any("empty.wav" in name for name in reasons)
    assert any("junk.wav" in name and "decode" in reason.lower() for name, reason in reasons.items())
    assert any("short.wav" in name and "too short for its transcript under CTC" in r for name, r in reasons.items())
    assert any("outside the alphabet '!'" in reason for reason in reasons.values())
    assert "skipped 4 bad utterance(s)" in loader.report.summary()


def test_scan_applies_the_same_checks_without_decoding(tmp_path, monkeypatch):
    from seqtasks.audio import io as io_module

    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    utterances = _bad_audio_set(tmp_path)
    eager = UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, on_bad_audio="skip")
    examples = eager.load_all()
    decoded = []
    real_decode = io_module._decode
    monkeypatch.setattr(io_module, "_decode", lambda path: decoded.append(path.name) or real_decode(path))
    lazy = UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, on_bad_audio="skip")
    scanned = lazy.scan()
    assert decoded == ["junk.wav"]  # only a file soundfile cannot open is handed to the full decoder
    assert [s.utterance.transcript for s in scanned] == [e.transcript for e in examples]
    assert [s.num_samples for s in scanned] == [e.waveform.size for e in examples]
    assert lazy.report.problems == eager.report.problems
    with pytest.raises(DataError, match=r"empty\.wav \(m\.csv line 4\).*on_bad_audio=skip"):
        UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, on_bad_audio="fail").scan()


def test_scan_with_max_samples_counts_long_utterances_apart(tmp_path):
    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    utterances = [Utterance("one", _wav(tmp_path / f"{i}.wav", seconds=s)) for i, s in enumerate((0.2, 0.5, 0.3))]
    loader = UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, max_samples=int(0.35 * RATE))
    assert [s.utterance.path.name for s in loader.scan()] == ["0.wav", "2.wav"]
    assert loader.too_long == [str(tmp_path / "1.wav")] and loader.report.count == 0


# ------------------------------------------------------------------------------------------- FSDD


def _fake_fsdd(tmp_path, speakers=("ann", "bob"), indices=range(0, 12)):
    folder = tmp_path / "recordings"
    folder.mkdir()
    for speaker in speakers:
        for digit in range(10):
            for index in indices:
                _wav(folder / f"{digit}_{speaker}_{index}.wav", seconds=0.05, seed=digit * 100 + index)
    return tmp_path


def test_fsdd_reader_and_official_split(tmp_path):
    recordings = read_fsdd(_fake_fsdd(tmp_path, speakers=("ann",), indices=range(0, 12)))
    assert len(recordings) == 120
    test = fsdd_split(recordings, "test")
    validation = fsdd_split(recordings, "validation", validation_indices=range(5, 8))
    train = fsdd_split(recordings, "train", validation_indices=range(5, 8))
    assert {r.index for r in test} == set(range(5))
    assert {r.index for r in validation} == {5, 6, 7}
    assert {r.index for r in train} == set(range(8, 12))
    assert {r.index for r in fsdd_split(recordings, "train", validation_indices=())} == set(range(5, 12))
    assert fsdd_utterances(test[:1])[0].transcript == DIGIT_WORDS[test[0].digit]
    with pytest.raises(ValueError, match="overlapping"):
        fsdd_split(recordings, "validation", validation_indices=[3, 5])
    (tmp_path / "recordings" / "notes.wav").write_bytes(b"")
    with pytest.raises(DataError, match=r"notes\.wav is not named"):
        read_fsdd(tmp_path)


def test_connected_digits_deterministic_and_seeded(tmp_path):
    recordings = read_fsdd(_fake_fsdd(tmp_path))
    train = fsdd_split(recordings, "train", validation_indices=())
    a = ConnectedDigits(train, RATE, 20, seed=3)
    b = ConnectedDigits(train, RATE, 20, seed=3)
    c = ConnectedDigits(train, RATE, 20, seed=4)
    for i in (0, 7, 19):
        assert a[i].transcript == b[i].transcript
        np.testing.assert_array_equal(a[i].audio, b[i].audio)
    # Random access gives the same utterance as sequential access.
    np.testing.assert_array_equal(a[7].audio, list(a)[7].audio)
    assert [u.transcript for u in a] != [u.transcript for u in c]
    counts = set()
    for u in a:
        words = u.transcript.split(" ")
        counts.add(len(words))
        assert 1 <= len(words) <= 7 and set(words) <= set(DIGIT_WORDS)
        assert u.audio.dtype == np.float32 and np.abs(u.audio).max() <= 1.0
        speakers = {name.split("_")[1] for name in u.source.split("(")[1].rstrip(")").split("+")}
        assert len(speakers) == 1  # one speaker per utterance
    assert len(counts) > 2
    with pytest.raises(IndexError):
        a[20]


def test_connected_digits_split_hygiene_on_fake_data(tmp_path):
    recordings = read_fsdd(_fake_fsdd(tmp_path))
    test = ConnectedDigits(fsdd_split(recordings, "test"), RATE, 30, seed=0)
    for i in range(len(test)):
        chosen, _, _ = test.plan(i)
        assert all(r.index < 5 for r in chosen)


def test_connected_digits_on_shared_fsdd(shared_data):
    folder = shared_data / "fsdd"
    if not (folder / "recordings").is_dir():
        pytest.skip(f"FSDD is absent from {folder}")
    recordings = read_fsdd(folder)
    assert len(recordings) > 0
    test_split = fsdd_split(recordings, "test")
    train_split = fsdd_split(recordings, "train")
    test_names = {r.path.name for r in test_split}
    assert not test_names & {r.path.name for r in train_split}
    test = ConnectedDigits(test_split, 16000, 200, seed=0)
    train = ConnectedDigits(train_split, 16000, 200, seed=0)
    for i in range(200):
        assert all(r.index < 5 and r.path.name in test_names for r in test.plan(i)[0])
        assert all(r.index >= 5 for r in train.plan(i)[0])
    utterance = test[0]
    assert utterance.audio.size > 0.1 * 16000
    assert isinstance(test.recordings[0], FSDDRecording)


def test_scan_progress_lines(tmp_path):
    import io as text_io

    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    utterances = [Utterance("one", _wav(tmp_path / f"{i}.wav", seconds=0.2)) for i in range(5)]
    stream = text_io.StringIO()
    UtteranceLoader(utterances, RATE, alphabet).scan(progress=stream, every=2, what="training data")
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "training data: scanned 2/5 audio files", "training data: scanned 4/5 audio files",
        "training data: scanned 5/5 audio files",
    ]
    quiet = text_io.StringIO()
    UtteranceLoader(utterances, RATE, alphabet).scan(progress=quiet, every=10)
    assert quiet.getvalue() == ""
