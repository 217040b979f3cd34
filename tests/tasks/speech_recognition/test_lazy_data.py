"""The speech task's own-data path is lazy: `prepare_data` scans (no decoding), batches are planned from the
scanned lengths and decoded one by one through a bounded cache; decode failures after the scan follow the
bad-audio policy; speed perturbation is reproducible per (seed, epoch)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from seqtasks.audio import io as io_module
from seqtasks.audio.io import AudioCache, load_audio
from seqtasks.audio.perturb import speed_perturbed_length
from seqtasks.config import load_config
from seqtasks.data import utterances as utterances_module
from seqtasks.data.bucketing import plan_batches
from seqtasks.errors import ConfigError, DataError
from seqtasks.runtime.run_dir import RunDir
from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig
from seqtasks.tasks.speech_recognition.data import pad_batch
from seqtasks.tasks.speech_recognition.task import SpeechRecognitionTask

RATE = 8000
WORDS = ("ab", "ba", "abc", "cab", "a b", "bca")
TINY = ["model.conv_filters=4", "model.conv_time_strides=2", "model.conv_freq_strides=2", "train.batch_size=4",
        "eval.batch_size=4", "data.validation_fraction=0", f"data.sample_rate={RATE}"]


def _write(path, seconds, rate, seed):
    rng = np.random.default_rng(seed)
    soundfile.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate)
    return path


@pytest.fixture
def corpus(tmp_path):
    """12 generated files (8 and 16 kHz, 0.3-1.0 s) and a `path,transcript` manifest."""
    rows = ["path,transcript"]
    for i in range(12):
        rate = 16000 if i % 3 == 0 else RATE
        _write(tmp_path / f"u{i:02d}.wav", 0.3 + 0.06 * i, rate, seed=i)
        rows.append(f"u{i:02d}.wav,{WORDS[i % len(WORDS)]}")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def _task(root, *sets, cache: AudioCache | None = None) -> SpeechRecognitionTask:
    config = load_config(
        SpeechRecognitionConfig, overrides=[*TINY, f"data.path={root / 'manifest.csv'}", *sets]
    )
    task = SpeechRecognitionTask(config, RunDir.at(root / "run"))
    if cache is not None:
        task.audio = cache
    return task


@pytest.fixture
def decodes(monkeypatch):
    """Names of the files decoded (every decoder path goes through `seqtasks.audio.io._decode`)."""
    names = []
    real = io_module._decode

    def counting(path):
        names.append(path.name)
        return real(path)

    monkeypatch.setattr(io_module, "_decode", counting)
    return names


def _elements(dataset):
    return [(x["waveform"], x["waveform_length"], y["labels"], y["label_length"])
            for x, y in dataset.as_numpy_iterator()]


def test_prepare_data_decodes_nothing(corpus, decodes):
    task = _task(corpus)
    task.prepare_data()
    assert decodes == []
    assert len(task._train) == 12 and task._validation is None
    # The scanned lengths are the decoded lengths (16 kHz files resampled to the configured 8 kHz).
    for i in range(12):
        path = task._train.entries[i].utterance.path
        assert task._train.num_samples(i) == load_audio(path, RATE).size


def test_training_batches_equal_the_eager_result(corpus, decodes):
    task = _task(corpus)
    task.prepare_data()
    dataset = task.train_dataset(epoch=1)
    assert int(dataset.cardinality()) == 3
    lazy = _elements(dataset)
    # The eager way: every waveform in memory, the same seeded plan over the decoded lengths.
    waves = [load_audio(e.utterance.path, RATE) for e in task._train.entries]
    labels = [task.alphabet.encode(e.utterance.transcript) for e in task._train.entries]
    seed = int(np.random.SeedSequence([task.config.train.seed, 1]).generate_state(1)[0])
    plan = [b.tolist() for b in plan_batches([w.size for w in waves], 4, seed)]
    assert task.train_batches(1)[0] == plan
    for (wave, wave_len, label, label_len), batch in zip(lazy, plan, strict=True):
        inputs, targets = pad_batch([waves[i] for i in batch], [labels[i] for i in batch])
        np.testing.assert_array_equal(wave, inputs["waveform"])
        np.testing.assert_array_equal(wave_len, inputs["waveform_length"])
        np.testing.assert_array_equal(label, targets["labels"])
        np.testing.assert_array_equal(label_len, targets["label_length"])


def test_cache_decodes_once_and_its_bound_forces_rereads(corpus, decodes):
    task = _task(corpus)
    task.prepare_data()
    _elements(task.train_dataset(0))
    _elements(task.train_dataset(1))
    assert sorted(decodes) == sorted(f"u{i:02d}.wav" for i in range(12))  # the 1024 MiB default holds all
    decodes.clear()
    off = _task(corpus, "data.audio_cache_mb=0")
    off.prepare_data()
    _elements(off.train_dataset(0))
    _elements(off.train_dataset(1))
    assert len(decodes) == 24 and len(off.audio) == 0  # no cache: every epoch reads every file again
    decodes.clear()
    small = _task(corpus, cache=AudioCache(capacity_mb=12000 / 2**20, sample_rate=RATE))  # about 2 files
    small.prepare_data()
    for epoch in range(2):
        _elements(small.train_dataset(epoch))
        assert small.audio.nbytes <= 12000
    assert 12 < len(decodes) <= 24


def test_duration_column_spares_opening_the_files(corpus, monkeypatch):
    rows = ["path,transcript,duration"]
    for i in range(12):
        rows.append(f"u{i:02d}.wav,{WORDS[i % len(WORDS)]},{0.3 + 0.06 * i:.2f}")
    (corpus / "manifest.csv").write_text("\n".join(rows) + "\n")
    opened = []
    monkeypatch.setattr(utterances_module, "num_samples_at", lambda path, rate: opened.append(path) or 0)
    task = _task(corpus)
    task.prepare_data()
    assert opened == []
    assert [task._train.num_samples(i) for i in range(12)] == [round((0.3 + 0.06 * i) * RATE) for i in range(12)]
    (corpus / "u03.wav").unlink()  # a listed file that is gone is still caught by the scan
    with pytest.raises(DataError, match=r"u03\.wav \(manifest\.csv line 5\): Audio file .* does not exist"):
        _task(corpus).prepare_data()


def test_max_seconds_leaves_out_long_utterances_and_counts_them(corpus, capsys):
    task = _task(corpus, "data.max_seconds=0.6")
    task.prepare_data()
    long = [i for i in range(12) if 0.3 + 0.06 * i > 0.6]
    assert len(task._train) == 12 - len(long) and len(task.too_long) == len(long)
    assert task.report.count == 0  # not bad audio
    assert f"left out {len(long)} utterance(s) as longer than 0.6 s" in capsys.readouterr().err
    assert all(task._train.num_samples(i) <= 0.6 * RATE for i in range(len(task._train)))


def _corrupt_after_scan(task, root, name="u05.wav"):
    task.prepare_data()
    (root / name).write_bytes(b"RIFF" + b"\x00" * 100)  # passed the scan, cannot be decoded now


def test_decode_failure_after_the_scan_skip(corpus, capsys):
    task = _task(corpus, "data.on_bad_audio=skip", "train.batch_size=1")
    _corrupt_after_scan(task, corpus)
    for epoch in range(2):
        dataset = task.train_dataset(epoch)
        elements = _elements(dataset)
        assert len(elements) == int(dataset.cardinality()) == 12  # the failed batch was replaced, not dropped
        assert sum(e[1].size for e in elements) == 12
    err = capsys.readouterr().err
    assert err.count("warning:") == 1 and "u05.wav" in err and "skipped (data.on_bad_audio=skip)" in err
    assert [name for name, _ in task.report.problems] == [str(corpus / "u05.wav") + " (manifest.csv line 7)"]
    # Inside a batch the file is just left out.
    _write(corpus / "u05.wav", 0.6, RATE, seed=5)
    task4 = _task(corpus, "data.on_bad_audio=skip")
    _corrupt_after_scan(task4, corpus, "u07.wav")
    sizes = [e[1].size for e in _elements(task4.train_dataset(0))]
    assert sorted(sizes) == [3, 4, 4]


def test_decode_failure_after_the_scan_fail(corpus, capsys):
    task = _task(corpus)
    _corrupt_after_scan(task, corpus)
    with pytest.raises(Exception, match=r"Bad audio .*u05\.wav .*on_bad_audio=skip"):
        _elements(task.train_dataset(0))


def test_decode_failure_in_training_reaches_the_user_as_one_line(corpus):
    sets = [*TINY, f"data.path={corpus / 'manifest.csv'}", "train.epochs=1", "train.verbose=none",
            "export.after_train=false", "model.units=4", "model.num_layers=1"]
    (corpus / "u05.wav").write_bytes(b"RIFF" + b"\x00" * 100)
    scan = SpeechRecognitionTask.prepare_data

    def scan_then_corrupt(self, source=None):  # the file passes the scan (header read), then breaks
        _write(corpus / "u05.wav", 0.6, RATE, seed=5)
        scan(self, source)
        (corpus / "u05.wav").write_bytes(b"RIFF" + b"\x00" * 100)

    from seqtasks.runtime import commands

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(SpeechRecognitionTask, "prepare_data", scan_then_corrupt)
        with pytest.raises(DataError) as error:
            commands.train("speech_recognition", corpus / "run_fail", overrides=sets)
    message = str(error.value)
    assert "u05.wav" in message and "on_bad_audio=skip" in message and "\n" not in message


def test_resumed_epoch_never_decodes_the_skipped_batches(corpus, decodes):
    task = _task(corpus, "data.audio_cache_mb=0")
    task.prepare_data()
    full = _elements(task.train_dataset(epoch=2))
    decodes.clear()
    rest = task.resumed_train_dataset(epoch=2, skip=2)
    assert int(rest.cardinality()) == len(full) - 2
    for got, want in zip(_elements(rest), full[2:], strict=True):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(a, b)
    batches, _ = task.train_batches(2)
    assert len(decodes) == len(batches[2])  # only the last batch was read


def test_speed_perturbation_reproducible_and_changes_lengths(corpus):
    sets = ("data.speed_perturbation=0.9,1.0,1.1",)
    a, b = _task(corpus, *sets), _task(corpus, *sets)
    a.prepare_data()
    b.prepare_data()
    batches_a, factors_a = a.train_batches(2)
    assert (batches_a, factors_a) == b.train_batches(2)  # same seed and epoch: same plan and factors
    assert factors_a != a.train_batches(3)[1]  # another epoch: other factors
    assert set(factors_a.values()) <= {0.9, 1.1} and factors_a
    elements = _elements(a.train_dataset(2))
    for (_, lengths, _, _), batch in zip(elements, batches_a, strict=True):
        for length, i in zip(lengths, batch, strict=True):
            base = a._train.num_samples(i)
            expected = speed_perturbed_length(base, factors_a[i], RATE) if i in factors_a else base
            assert length == expected
    changed = [i for i in factors_a if speed_perturbed_length(a._train.num_samples(i), factors_a[i], RATE)
               != a._train.num_samples(i)]
    assert changed
    other_seed = _task(corpus, *sets, "train.seed=7")
    other_seed.prepare_data()
    assert other_seed.train_batches(2)[1] != factors_a
    off = _task(corpus)
    off.prepare_data()
    assert off.train_batches(2)[1] == {}


def test_perturbation_never_makes_an_utterance_infeasible(corpus):
    task = _task(corpus, "data.speed_perturbation=2.0")
    task.prepare_data()
    for i, factor in task.train_batches(0)[1].items():
        length = speed_perturbed_length(task._train.num_samples(i), factor, RATE)
        assert task.output_frames(length) >= task._train.min_frames(i)


@pytest.mark.parametrize(
    "setting, match",
    [
        ("data.speed_perturbation=0.9,0", r"'data\.speed_perturbation' \(from --set\) must be in \(0, 2\], got 0\.0"),
        ("data.speed_perturbation=2.5", r"'data\.speed_perturbation' \(from --set\) must be in \(0, 2\], got 2\.5"),
        ("data.speed_perturbation=-1.1", r"'data\.speed_perturbation' \(from --set\) must be in \(0, 2\], got -1\.1"),
        ("data.speed_perturbation=nan", r"'data\.speed_perturbation' \(from --set\) must be a finite number"),
        ("data.audio_cache_mb=-1", r"'data\.audio_cache_mb' \(from --set\) must be at least 0, got -1"),
        ("data.max_seconds=-2", r"'data\.max_seconds' \(from --set\) must be at least 0, got -2"),
        ("data.test_fraction=1.0", r"'data\.test_fraction' \(from --set\) must be in \[0, 1\), got 1\.0"),
    ],
)
def test_invalid_settings_name_the_key(corpus, setting, match):
    with pytest.raises(ConfigError, match=match):
        _task(corpus, setting)


def test_evaluate_streams_batch_by_batch(corpus, decodes, monkeypatch):
    task = _task(corpus)
    task.prepare_data()
    decodes.clear()
    seen = []

    def fake_transcribe(model, waveforms):
        seen.append((len(waveforms), len(decodes)))
        return ["ab"] * len(waveforms)

    monkeypatch.setattr(task, "transcribe", fake_transcribe)
    metrics = task.evaluate(model=None, paths=[str(corpus / "manifest.csv")])
    assert metrics["utterances"] == 12 and metrics["skipped"] == 0
    # Each batch of 4 is decoded just before it is transcribed: never all 12 files first.
    assert seen == [(4, 4), (4, 8), (4, 12)]
    (corpus / "u02.wav").write_bytes(b"not audio at all" * 8)
    skip = _task(corpus, "data.on_bad_audio=skip")
    monkeypatch.setattr(skip, "transcribe", lambda model, waves: ["ab"] * len(waves))
    metrics = skip.evaluate(model=None, paths=[str(corpus / "manifest.csv")])
    assert metrics["utterances"] == 11 and metrics["skipped"] == 1


def test_connected_digits_keep_their_plan_and_take_speed_perturbation(tmp_path):
    folder = tmp_path / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    for digit in range(10):
        for index in (0, 5, 10, 11):
            _write(folder / f"{digit}_ann_{index}.wav", 0.25, RATE, seed=digit * 20 + index)
    sets = [f"data.fsdd_dir={tmp_path / 'fsdd'}", "data.train_utterances=12", "data.max_digits=3",
            "data.validation_utterances=2", "data.test_utterances=2", "train.batch_size=4"]
    plain = SpeechRecognitionTask(load_config(SpeechRecognitionConfig, overrides=sets), RunDir.at(tmp_path / "a"))
    plain.prepare_data()
    seed = int(np.random.SeedSequence([42, 0]).generate_state(1)[0])
    digits = plain._digits("train", 12, seed)
    # As before lazy loading: every (feasible) generated utterance, planned from its length.
    plan = plan_batches([digits.num_samples(i) for i in range(12)], 4, seed)
    assert plain.train_batches(0) == ([b.tolist() for b in plan], {})
    fast = SpeechRecognitionTask(
        load_config(SpeechRecognitionConfig, overrides=[*sets, "data.speed_perturbation=1.1"]),
        RunDir.at(tmp_path / "b"),
    )
    fast.prepare_data()
    batches, factors = fast.train_batches(0)
    assert factors == {i: 1.1 for i in range(12)}
    lengths = {}
    for batch, (_, batch_lengths, _, _) in zip(batches, _elements(fast.train_dataset(0)), strict=True):
        lengths.update(zip(batch, batch_lengths.tolist(), strict=True))
    assert lengths == {i: speed_perturbed_length(digits.num_samples(i), 1.1, RATE) for i in range(12)}


def test_test_fraction_holds_out_a_disjoint_seeded_test_split(corpus):
    from seqtasks.tasks.speech_recognition.data import user_sources

    manifest = [str(corpus / "manifest.csv")]
    train0, validation0, test0 = user_sources(manifest, validation_fraction=0.25, seed=3)
    assert test0 is None and len(validation0) == 3 and len(train0) == 9
    train, validation, test = user_sources(manifest, validation_fraction=0.25, test_fraction=0.25, seed=3)
    names = [{u.path.name for u in part} for part in (train, validation, test)]
    assert [len(n) for n in names] == [6, 3, 3]
    assert not (names[0] & names[1] or names[0] & names[2] or names[1] & names[2])
    assert names[1] == {u.path.name for u in validation0}  # validation does not move when a test split is added
    assert user_sources(manifest, validation_fraction=0.25, test_fraction=0.25, seed=3)[2] == test
    with pytest.raises(DataError, match="leaves none"):
        user_sources(manifest[:1] * 1, validation_fraction=0.5, test_fraction=0.49, seed=0)


@pytest.mark.parametrize("sets", [["data.test_fraction=1.0"], ["data.validation_fraction=0.6", "data.test_fraction=0.4"]])
def test_fractions_are_checked(corpus, sets):
    with pytest.raises(ConfigError, match="fraction"):
        _task(corpus, *sets).prepare_data()
