"""tensorflow-datasets speech sets (`seqtasks.data.speech_tfds`): presets, generic `tfds:NAME`, resumable
conversion, offline errors, and the speech task reading a set by name.

Each set is really prepared by tensorflow-datasets, in a temporary data_dir, from a handful of synthetic examples
(the builder's `_split_generators` is replaced, nothing is downloaded), so the tests read real TFRecords through
tfds' own split slicing, exactly as the task does with a prepared LibriSpeech.
"""

from __future__ import annotations

import csv
import io
import time
from types import SimpleNamespace

import numpy as np
import pytest
import soundfile

from seqtasks.audio.io import load_audio
from seqtasks.data import speech_tfds, tfds_support
from seqtasks.data.transcripts import normalize_transcript
from seqtasks.errors import DataError
from seqtasks.tasks.speech_recognition.data import read_manifest

tfds_support._ensure_importlib_resources()
tfds = pytest.importorskip("tensorflow_datasets")
tfds.disable_progress_bar()

from tensorflow_datasets.datasets.librispeech import librispeech_dataset_builder  # noqa: E402
from tensorflow_datasets.datasets.ljspeech import ljspeech_dataset_builder  # noqa: E402


class SeqtasksToySpeech(tfds.core.GeneratorBasedBuilder):
    """A generic speech set: float audio, a `sentence` transcript, a `filename` id, train/validation/test."""

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "audio": tfds.features.Audio(sample_rate=8000, dtype=np.float32),
                "sentence": tfds.features.Text(),
                "filename": tfds.features.Text(),
                "speaker": tfds.features.ClassLabel(names=["a", "b"]),
            })
        )

    def _split_generators(self, dl_manager):
        return {split: self._generate(split, n) for split, n in (("train", 4), ("validation", 2), ("test", 3))}

    def _generate_examples(self):  # required by tfds; the splits come from `_generate`
        raise NotImplementedError

    def _generate(self, split, count):
        rng = np.random.default_rng(len(split))
        for i in range(count):
            name = f"clips/{split}_{i}.wav"
            length = 0 if (split, i) == ("test", 2) else 800 + 40 * i  # one empty recording
            audio = 0.5 * np.sin(np.arange(length) * 0.05) + 0.01 * rng.standard_normal(length)
            yield name, {"audio": audio.astype(np.float32), "sentence": f"{split} number {i}!", "filename": name,
                         "speaker": i % 2}


class SeqtasksToyCaptions(tfds.core.GeneratorBasedBuilder):
    """Two text features, neither an obvious transcript: the key must be chosen; a single `train` split."""

    VERSION = tfds.core.Version("0.1.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "clip": tfds.features.Audio(sample_rate=16000, dtype=np.int16),
                "caption": tfds.features.Text(),
                "notes": tfds.features.Text(),
            })
        )

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples()}

    def _generate_examples(self):
        return ((f"k{i}", {"clip": np.full(160 + i, 100 * i, np.int16), "caption": f"caption {i}",
                                     "notes": "n"}) for i in range(20))


def _int16(rng, n):
    return rng.integers(-3000, 3000, size=n).astype(np.int16)


def _flac_bytes(samples, rate):
    out = io.BytesIO()
    soundfile.write(out, samples, rate, subtype="PCM_16", format="FLAC")
    return io.BytesIO(out.getvalue())


def _librispeech_splits(lazy: bool):
    def split_generators(self, dl_manager):
        def generate(split, count):
            rng = np.random.default_rng(len(split))
            for i in range(count):
                key = f"{100 + len(split)}-7-{i:04d}"
                samples = _int16(rng, 1600 + 160 * i)
                text = "" if (split == "dev_clean" and i == 1) else f"HE SAID {split.upper()} {i}"
                speech = _flac_bytes(samples, 16000) if lazy else samples
                yield key, {"id": key, "speaker_id": 100 + len(split), "chapter_id": 7, "speech": speech, "text": text}

        return {"train_clean100": generate("train_clean100", 5), "dev_clean": generate("dev_clean", 3),
                "test_clean": generate("test_clean", 2)}

    return split_generators


def _ljspeech_splits(self, dl_manager):
    rng = np.random.default_rng(1)
    return {"train": ((f"LJ001-{i:04d}", {"id": f"LJ001-{i:04d}", "speech": _int16(rng, 2205 + 100 * i),
                                          "text": f"Chapter {i}.", "text_normalized": f"Chapter number {i}."})
                      for i in range(20))}


def _prepare(spec, data_dir, builder_cls=None, split_generators=None):
    with pytest.MonkeyPatch.context() as patch:
        if builder_cls is not None:
            patch.setattr(builder_cls, "_split_generators", split_generators)
        builder = tfds.builder(spec, data_dir=str(data_dir))
        builder.download_and_prepare(
            download_config=tfds.download.DownloadConfig(try_download_gcs=False)
        )


@pytest.fixture(scope="module")
def tfds_dir(tmp_path_factory):
    """One tfds data_dir holding small prepared librispeech (both configs), ljspeech and the toy sets."""
    root = tmp_path_factory.mktemp("tfds")
    _prepare("librispeech/default", root, librispeech_dataset_builder.Builder, _librispeech_splits(lazy=False))
    _prepare("librispeech/lazy_decode", root, librispeech_dataset_builder.Builder, _librispeech_splits(lazy=True))
    _prepare("ljspeech", root, ljspeech_dataset_builder.Builder, _ljspeech_splits)
    _prepare("seqtasks_toy_speech", root)
    _prepare("seqtasks_toy_captions", root)
    return root


@pytest.fixture(autouse=True)
def offline_cache(tmp_path, monkeypatch):
    """Every test writes its cache under tmp_path and sees no network."""
    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr("seqtasks.data.registry.network_available", lambda *a, **k: False)
    return tmp_path / "cache"


def config(dataset, tfds_dir, **overrides):
    values = {"dataset": dataset, "tfds_data_dir": str(tfds_dir), "tfds_train_split": "",
              "tfds_validation_split": "", "tfds_test_split": "", "tfds_audio_key": "", "tfds_text_key": ""}
    values.update(overrides)
    return SimpleNamespace(**values)


def rows(manifest):
    with open(manifest, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def check_manifest(manifest, rate):
    """Every row's file exists, is readable by load_audio, and lasts `duration` seconds; returns the rows."""
    table = rows(manifest)
    assert table and list(table[0]) == ["path", "transcript", "duration"]
    for row in table:
        path = manifest.parent / row["path"]
        assert path.is_file() and not row["path"].startswith("/")
        info = soundfile.info(str(path))
        assert info.samplerate == rate
        assert float(row["duration"]) == pytest.approx(info.frames / rate, abs=1e-6)
        assert load_audio(path, rate).shape == (info.frames,)
    return table


# --------------------------------------------------------------------------------------------- presets


def test_presets_match_the_installed_builders():
    for name, preset in speech_tfds.PRESETS.items():
        for config_name in preset.configs:
            builder = tfds.builder(name if config_name is None else f"{name}/{config_name}", data_dir="/nonexistent")
            features = builder.info.features
            assert isinstance(features[preset.audio_key], tfds.features.Audio)
            assert features[preset.audio_key].sample_rate == preset.sample_rate
            assert isinstance(features[preset.text_key], tfds.features.Text)
    assert set(speech_tfds.PRESETS["librispeech"].splits.values()) <= set(librispeech_dataset_builder._DL_URLS)
    assert speech_tfds.is_tfds_dataset("librispeech") and speech_tfds.is_tfds_dataset("tfds:vctk/mic1")
    assert not speech_tfds.is_tfds_dataset("spoken_digit") and not speech_tfds.is_tfds_dataset("fsdd")


def test_librispeech_converts_every_split_with_ids_durations_and_empty_transcripts(tfds_dir, offline_cache):
    manifests = speech_tfds.tfds_manifests(config("librispeech", tfds_dir))
    assert set(manifests) == {"train", "validation", "test"}
    # lazy_decode (FLAC bytes copied) is preferred over default when both are prepared.
    assert manifests["train"] == offline_cache / "tfds/librispeech/lazy_decode/2.1.2/train_clean100/manifest.csv"
    counts = {role: len(check_manifest(path, 16000)) for role, path in manifests.items()}
    assert counts == {"train": 5, "validation": 3, "test": 2}
    train = rows(manifests["train"])
    assert sorted(r["path"] for r in train) == [f"audio/114-7-{i:04d}.flac" for i in range(5)]
    by_path = {r["path"]: r for r in train}
    assert by_path["audio/114-7-0003.flac"]["transcript"] == "HE SAID TRAIN_CLEAN100 3"
    assert float(by_path["audio/114-7-0003.flac"]["duration"]) == pytest.approx((1600 + 480) / 16000)
    # An empty transcript is kept (the task's bad-audio policy decides), never silently dropped.
    assert [r["transcript"] for r in rows(manifests["validation"])].count("") == 1
    utterances = read_manifest(manifests["train"])
    assert len(utterances) == 5 and all(u.path.is_file() for u in utterances)
    assert {u.transcript for u in utterances} == {normalize_transcript(r["transcript"]) for r in train}


def test_librispeech_default_config_by_tfds_name_writes_the_int16_samples_as_flac(tfds_dir, offline_cache):
    source = speech_tfds.resolve_source(config("tfds:librispeech/default", tfds_dir))
    assert (source.audio_key, source.text_key, source.id_key, source.lazy) == ("speech", "text", "id", False)
    assert source.splits == {"train": "train_clean100", "validation": "dev_clean", "test": "test_clean"}
    manifest = speech_tfds.tfds_manifests(config("tfds:librispeech/default", tfds_dir))["test"]
    assert manifest == offline_cache / "tfds/librispeech/default/2.1.1/test_clean/manifest.csv"
    table = check_manifest(manifest, 16000)
    default = tfds.builder("librispeech/default", data_dir=str(tfds_dir))
    expected = {ex["id"].decode(): ex["speech"] for ex in default.as_dataset("test_clean").as_numpy_iterator()}
    assert len(table) == len(expected) == 2
    for row in table:
        samples, _ = soundfile.read(str(manifest.parent / row["path"]), dtype="int16")
        np.testing.assert_array_equal(samples, expected[row["path"][len("audio/"):-len(".flac")]])


def test_ljspeech_single_split_is_cut_90_5_5_without_overlap(tfds_dir):
    manifests = speech_tfds.tfds_manifests(config("ljspeech", tfds_dir))
    names = {role: [r["path"] for r in check_manifest(path, 22050)] for role, path in manifests.items()}
    assert {role: len(v) for role, v in names.items()} == {"train": 18, "validation": 1, "test": 1}
    assert set(names["train"]).isdisjoint(names["validation"]) and set(names["train"]).isdisjoint(names["test"])
    assert set(names["validation"]).isdisjoint(names["test"])
    assert sorted(sum(names.values(), [])) == [f"audio/LJ001-{i:04d}.flac" for i in range(20)]
    # text_normalized is the transcript (numbers spelled out in the real set).
    assert all(r["transcript"].startswith("Chapter number ") for r in rows(manifests["test"]))
    # The generic form finds the same features and splits, hence the same cache.
    generic = speech_tfds.resolve_source(config("tfds:ljspeech", tfds_dir))
    assert (generic.audio_key, generic.text_key, generic.splits) == ("speech", "text_normalized",
                                                                     speech_tfds.PRESETS["ljspeech"].splits)
    assert generic.split_dir("train[:90%]") == manifests["train"].parent
    # Slices get distinct folders.
    assert len({path.parent for path in manifests.values()}) == 3


def test_split_overrides_are_honoured(tfds_dir):
    manifests = speech_tfds.tfds_manifests(
        config("ljspeech", tfds_dir, tfds_train_split="train[:10]", tfds_test_split="train[10:12]")
    )
    assert len(rows(manifests["train"])) == 10 and len(rows(manifests["test"])) == 2
    with pytest.raises(DataError, match=r"no split 'trian'.*tfds_train_split"):
        speech_tfds.tfds_manifests(config("ljspeech", tfds_dir, tfds_train_split="trian"))


# --------------------------------------------------------------------------------------------- generic tfds:NAME


def test_generic_name_detects_audio_text_id_and_splits(tfds_dir):
    source = speech_tfds.resolve_source(config("tfds:seqtasks_toy_speech", tfds_dir))
    assert (source.audio_key, source.text_key, source.id_key) == ("audio", "sentence", "filename")
    assert source.splits == {"train": "train", "validation": "validation", "test": "test"}
    manifests = speech_tfds.tfds_manifests(config("tfds:seqtasks_toy_speech:1.0.0", tfds_dir))
    table = check_manifest(manifests["validation"], 8000)
    assert sorted(r["path"] for r in table) == ["audio/validation_0.flac", "audio/validation_1.flac"]
    # Float audio in [-1, 1] arrives as 16-bit samples of the same waveform.
    original = next(iter(tfds.builder("seqtasks_toy_speech", data_dir=str(tfds_dir)).as_dataset(
        "validation").filter(lambda ex: ex["filename"] == "clips/validation_1.wav").as_numpy_iterator()))
    restored = load_audio(manifests["validation"].parent / "audio/validation_1.flac", 8000)
    np.testing.assert_allclose(restored, original["audio"], atol=1e-4)
    # Empty audio is kept (FLAC cannot hold zero samples: an empty WAV) for the task's bad-audio policy.
    test_rows = {r["path"]: r for r in rows(manifests["test"])}
    assert set(test_rows) == {"audio/test_0.flac", "audio/test_1.flac", "audio/test_2.wav"}
    assert float(test_rows["audio/test_2.wav"]["duration"]) == 0.0
    with pytest.raises(DataError, match="holds no samples"):
        load_audio(manifests["test"].parent / "audio/test_2.wav", 8000)


def test_generic_ambiguous_transcript_names_candidates_and_the_key(tfds_dir):
    with pytest.raises(DataError) as info:
        speech_tfds.tfds_manifests(config("tfds:seqtasks_toy_captions", tfds_dir))
    message = str(info.value)
    assert "\n" not in message and "caption, notes" in message and "data.tfds_text_key" in message
    manifests = speech_tfds.tfds_manifests(config("tfds:seqtasks_toy_captions", tfds_dir, tfds_text_key="caption"))
    counts = {role: len(check_manifest(path, 16000)) for role, path in manifests.items()}
    assert counts == {"train": 18, "validation": 1, "test": 1}
    # No id feature: files are numbered in tfds' order within the split.
    assert [r["path"] for r in rows(manifests["train"])] == [f"audio/{i:08d}.flac" for i in range(18)]
    with pytest.raises(DataError, match="no text feature 'title'.*caption, notes"):
        speech_tfds.tfds_manifests(config("tfds:seqtasks_toy_captions", tfds_dir, tfds_text_key="title"))
    with pytest.raises(DataError, match="no Audio feature 'wave'.*clip"):
        speech_tfds.tfds_manifests(config("tfds:seqtasks_toy_captions", tfds_dir, tfds_audio_key="wave"))


def test_detect_splits():
    assert speech_tfds.detect_splits(["test", "train", "validation"]) == {
        "train": "train", "validation": "validation", "test": "test"}
    assert speech_tfds.detect_splits(["train_clean100", "dev_other", "dev_clean", "test_clean", "train_other500"]) == {
        "train": "train_clean100", "validation": "dev_clean", "test": "test_clean"}
    assert speech_tfds.detect_splits(["train", "test"]) == {"train": "train", "validation": None, "test": "test"}
    assert speech_tfds.detect_splits(["all"]) == {"train": "all[:90%]", "validation": "all[90%:95%]", "test": "all[95%:]"}
    assert speech_tfds.split_slug("train[:90%]") != speech_tfds.split_slug("train[90%:]")
    assert speech_tfds.split_slug("dev_clean") == "dev_clean"


def test_unknown_names_list_the_presets_and_the_tfds_form(tfds_dir):
    with pytest.raises(DataError, match=r"librispeech, ljspeech or tfds:NAME\[/CONFIG\]\[:VERSION\]"):
        speech_tfds.tfds_manifests(config("libri", tfds_dir))
    with pytest.raises(DataError) as info:
        speech_tfds.tfds_manifests(config("tfds:no_such_speech_set", tfds_dir))
    assert "\n" not in str(info.value) and "no_such_speech_set" in str(info.value)


# --------------------------------------------------------------------------------------------- resume


def test_an_interrupted_conversion_resumes_to_the_same_manifest(tfds_dir, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(speech_tfds, "PROGRESS_EVERY", 4)
    reference = speech_tfds.tfds_manifests(config("ljspeech", tfds_dir))["train"].read_text(encoding="utf-8")

    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "other"))
    write_audio, calls = speech_tfds._write_audio, []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) > 7:
            raise KeyboardInterrupt
        return write_audio(*args, **kwargs)

    monkeypatch.setattr(speech_tfds, "_write_audio", interrupted)
    with pytest.raises(KeyboardInterrupt):
        speech_tfds.tfds_manifests(config("ljspeech", tfds_dir))
    source = speech_tfds.resolve_source(config("ljspeech", tfds_dir))
    folder = source.split_dir("train[:90%]")
    partial = folder / "manifest.csv.partial"
    assert len(partial.read_text(encoding="utf-8").splitlines()) == 1 + 7
    assert not (folder / "manifest.csv").exists() and not (folder / ".complete").exists()
    # A row cut off mid-write by the interruption is discarded on resume.
    with open(partial, "a", encoding="utf-8") as handle:
        handle.write("audio/LJ001-9999.flac,half a ro")

    monkeypatch.setattr(speech_tfds, "_write_audio", write_audio)
    capsys.readouterr()
    manifest = speech_tfds.tfds_manifests(config("ljspeech", tfds_dir))["train"]
    log = capsys.readouterr().err
    assert "resuming at 7/18" in log and "8/18 examples" in log and "12/18 examples" in log
    assert manifest.read_text(encoding="utf-8") == reference
    table = check_manifest(manifest, 22050)
    assert len({r["path"] for r in table}) == len(table) == 18
    assert sorted(p.name for p in (folder / "audio").iterdir()) == sorted(r["path"][6:] for r in table)
    assert (folder / ".complete").read_text().strip() == "18"


def test_a_finished_split_is_reused_without_tfds_data(tfds_dir, tmp_path):
    first = speech_tfds.tfds_manifests(config("ljspeech", tfds_dir))
    # The tfds copy may be deleted once converted: an empty data_dir (and no network) still works.
    again = speech_tfds.tfds_manifests(config("ljspeech", tmp_path / "empty_tfds"))
    assert again == first


# --------------------------------------------------------------------------------------------- offline / failures


def test_offline_and_unprepared_fails_fast_in_one_line(tmp_path):
    start = time.monotonic()
    with pytest.raises(DataError) as info:
        speech_tfds.tfds_manifests(config("librispeech", tmp_path / "no_tfds"))
    message = str(info.value)
    assert "\n" not in message
    assert "'librispeech'" in message and str(tmp_path / "no_tfds" / "librispeech") in message
    assert "network is unreachable" in message
    assert "tfds build librispeech/lazy_decode --data_dir DIR" in message
    assert "python data/prepare_speech.py librispeech --tfds-data-dir DIR" in message
    assert "data.tfds_data_dir=DIR" in message and "--data" in message
    assert time.monotonic() - start < 30


def test_tfds_failures_become_one_line_errors(tmp_path, monkeypatch):
    monkeypatch.setattr("seqtasks.data.registry.network_available", lambda *a, **k: True)

    def failing_prepare(builder, manual_dir=None):
        raise RuntimeError("checksum mismatch\nlong tfds details")

    monkeypatch.setattr("seqtasks.data.tfds_support.prepare", failing_prepare)
    with pytest.raises(DataError) as info:
        speech_tfds.tfds_manifests(config("librispeech", tmp_path / "no_tfds"))
    message = str(info.value)
    assert "\n" not in message and "RuntimeError: checksum mismatch" in message and "tfds build" in message

    # ljspeech's tfds preparation decodes with pydub: without it, stop before downloading 2.7 GB.
    monkeypatch.setattr(speech_tfds, "_pydub_available", lambda: False)
    with pytest.raises(DataError, match="needs the pydub package"):
        speech_tfds.tfds_manifests(config("ljspeech", tmp_path / "no_tfds"))


def test_a_failure_while_reading_is_one_line_and_resumable(tfds_dir, monkeypatch):
    transcript, calls = speech_tfds._transcript, []

    def failing(value):
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("DataLossError: corrupted record\nat offset 123")
        return transcript(value)

    monkeypatch.setattr(speech_tfds, "_transcript", failing)
    with pytest.raises(DataError) as info:
        speech_tfds.tfds_manifests(config("tfds:seqtasks_toy_speech", tfds_dir))
    message = str(info.value)
    assert "\n" not in message and "failed at example 2" in message and "run again to resume" in message
    manifests = speech_tfds.tfds_manifests(config("tfds:seqtasks_toy_speech", tfds_dir))
    assert len(rows(manifests["train"])) == 4


def test_prepare_script_prints_the_manifests(tfds_dir, offline_cache, capsys):
    import importlib.util

    from tests.conftest import PROJECT_ROOT

    spec = importlib.util.spec_from_file_location("prepare_speech", PROJECT_ROOT / "data" / "prepare_speech.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["ljspeech", "--tfds-data-dir", str(tfds_dir), "--test-split", "train[:3]"]) == 0
    out = capsys.readouterr().out.splitlines()
    version_dir = offline_cache / "tfds" / "ljspeech" / "1.1.1"
    assert out[0] == f"train: {version_dir / speech_tfds.split_slug('train[:90%]') / 'manifest.csv'}"
    assert out[2] == f"test: {version_dir / speech_tfds.split_slug('train[:3]') / 'manifest.csv'}"
    assert script.main(["librispeech", "--tfds-data-dir", str(offline_cache / "none")]) == 2
    assert capsys.readouterr().err.startswith("error: tensorflow-datasets set 'librispeech'")


# --------------------------------------------------------------------------------------------- the task


def test_the_task_trains_and_tests_on_a_tfds_set_by_name(tfds_dir, tmp_path, capsys):
    from seqtasks.runtime import commands

    sets = [f"data.tfds_data_dir={tfds_dir}", "data.dataset=librispeech", "data.sample_rate=16000",
            "data.on_bad_audio=skip", "model.conv_filters=[]", "model.window_ms=4", "model.hop_ms=2",
            "model.units=4", "model.num_layers=1", "train.batch_size=2",
            "train.epochs=1", "train.verbose=none", "export.after_train=false", "eval.decoder=greedy"]
    outcome = commands.train("speech_recognition", tmp_path / "run", overrides=sets)
    assert outcome.fit.step == 3  # 5 train_clean100 utterances in batches of 2
    # Scored on test_clean (2 utterances); dev_clean's empty transcript was skipped and counted, not lost.
    assert outcome.evaluation["utterances"] == 2 and outcome.evaluation["skipped"] == 0
    assert "dev_clean/audio/109-7-0001.flac (manifest.csv line 4): empty transcript" in capsys.readouterr().err
    alphabet = (tmp_path / "run" / "assets" / "alphabet.json").read_text()
    assert "h" in alphabet and "H" not in alphabet  # transcripts normalised like the user's own data


def test_the_catalogue_loader_gives_the_same_manifests(tfds_dir):
    from seqtasks.data import load_dataset

    manifests = load_dataset("ljspeech", config("", tfds_dir))
    assert manifests == speech_tfds.tfds_manifests(config("ljspeech", tfds_dir))
    assert all(path.name == "manifest.csv" for path in manifests.values())
