"""End to end: train a few steps on a handful of FSDD files, evaluate, predict (with alignment PNG), export,
reload the SavedModel in a process without seqtasks, fine-tune on a user manifest."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile

from seqtasks.errors import DataError
from seqtasks.runtime import commands

TINY = [
    "data.train_utterances=16", "data.validation_utterances=4", "data.test_utterances=4", "data.max_digits=2",
    "model.units=8", "model.num_layers=1", "model.conv_filters=4,4", "model.n_mels=16",
    "model.freq_mask_width=2", "train.epochs=1", "train.batch_size=8", "eval.batch_size=8",
    "eval.beam_width=2", "train.verbose=none", "train.max_minutes=0", "train.checkpoint_every_steps=0",
]
SPEAKERS = ("george", "jackson")
INDICES = (0, 1, 5, 10, 11)


def _fsdd(root, shared):
    """A handful of FSDD recordings: real ones when the shared data is present, else synthetic stand-ins."""
    folder = root / "fsdd" / "recordings"
    folder.mkdir(parents=True)
    source = shared / "fsdd" / "recordings" if shared is not None else None
    rng = np.random.default_rng(0)
    for speaker in SPEAKERS:
        for digit in range(10):
            for index in INDICES:
                name = f"{digit}_{speaker}_{index}.wav"
                if source is not None and (source / name).is_file():
                    shutil.copy(source / name, folder / name)
                else:
                    t = np.arange(2400) / 8000
                    tone = 0.3 * np.sin(2 * np.pi * (200 + 60 * digit) * t) + 0.01 * rng.standard_normal(t.size)
                    soundfile.write(folder / name, tone.astype(np.float32), 8000)
    return root


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    from tests.conftest import SHARED_DATA

    root = tmp_path_factory.mktemp("speech")
    data_dir = _fsdd(root / "data", SHARED_DATA if (SHARED_DATA / "fsdd").is_dir() else None)
    workdir = root / "run"
    outcome = commands.train(
        "speech_recognition", workdir, overrides=TINY + ["data.validation_indices=5"], data_dir=str(data_dir)
    )
    return outcome, data_dir


def test_train_writes_run_and_evaluates(trained):
    outcome, _ = trained
    run = outcome.run
    assert (run.assets / "alphabet.json").is_file()
    assert json.loads((run.assets / "alphabet.json").read_text())["characters"].startswith(" ")
    assert set(outcome.evaluation) == {"cer", "wer", "utterances", "skipped"}
    assert outcome.evaluation["utterances"] == 4 and outcome.evaluation["cer"] >= 0.0
    metrics = json.loads(run.metrics.read_text())
    assert "evaluation" in metrics
    assert (outcome.export_dir / "saved_model.pb").is_file()
    info = json.loads((outcome.export_dir / "assets" / "speech_model.json").read_text())
    assert info == {"sample_rate": 8000, "alphabet": json.loads((run.assets / "alphabet.json").read_text())["characters"],
                    "blank_index": len(info["alphabet"]), "decoder": "lexicon", "beam_width": 2,
                    "lexicon": ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"],
                    "lexicon_counts": None, "lexicon_lm_weight": 0.5, "lexicon_word_bonus": 0.0,
                    "lexicon_spellings": None, "lexicon_bigrams": None, "lexicon_sentences": None}
    assert outcome.fit.monitor == "val_cer"


def test_curves_show_the_monitored_cer(trained):
    from seqtasks.runtime.reporting import History

    outcome, _ = trained
    epoch = json.loads(outcome.run.metrics.read_text())["epochs"][0]
    assert {"loss", "val_loss", "cer", "val_cer"} <= set(epoch)
    history = History(outcome.run, writer=False, restored_step=outcome.fit.step)
    panels = {title: [label for label, *_ in series] for title, series in history.panels()}
    # One loss panel (one scale) holds train and validation loss; val_cer, the monitored metric, has its own.
    assert panels["loss"][-2:] == ["train loss (epoch mean)", "val_loss"]
    assert panels["val_cer (monitored)"] == ["train cer", "val_cer"]
    assert [title for title in panels if "val_loss" in panels[title]] == ["loss"]
    assert outcome.run.curves.read_bytes()[:4] == b"\x89PNG"


def test_evaluate_manifest_and_predict_with_alignment(trained, tmp_path):
    outcome, data_dir = trained
    recordings = data_dir / "fsdd" / "recordings"
    manifest = tmp_path / "eval.csv"
    manifest.write_text(
        "path,transcript\n"
        f"{recordings / '3_george_0.wav'},Three.\n"
        f"{recordings / '7_jackson_1.wav'},\"Seven\"\n"
    )
    metrics = commands.evaluate(outcome.run.root, paths=[str(manifest)], out=io.StringIO())
    assert metrics["utterances"] == 2
    out = io.StringIO()
    results = commands.predict(outcome.run.root, [str(recordings / "3_george_0.wav")], out=out)
    assert len(results) == 1 and isinstance(results[0], str)
    assert out.getvalue().startswith(str(recordings / "3_george_0.wav") + "\t")
    png = outcome.run.root / "alignments" / "3_george_0.png"
    assert png.is_file() and png.read_bytes()[:4] == b"\x89PNG"


def test_export_reloads_without_seqtasks_and_matches(trained, tmp_path):
    outcome, data_dir = trained
    wav = data_dir / "fsdd" / "recordings" / "5_george_0.wav"
    expected = commands.predict(outcome.run.root, [str(wav)], out=io.StringIO())[0]
    audio, rate = soundfile.read(wav, dtype="float32")
    np.save(tmp_path / "audio.npy", audio)
    script = f"""
import sys
sys.modules["seqtasks"] = None  # any import of seqtasks now fails
import numpy as np, tensorflow as tf
model = tf.saved_model.load({str(outcome.export_dir)!r})
audio = np.load({str(tmp_path / 'audio.npy')!r})
native = model.transcribe(waveform=tf.constant(audio), sample_rate=tf.constant({rate}))["transcript"]
doubled = np.repeat(audio, 2)  # the same audio at twice the rate (crude, but a valid 16 kHz waveform)
other = model.transcribe(waveform=tf.constant(doubled), sample_rate=tf.constant({2 * rate}))["transcript"]
batch = model.signatures["transcribe_batch"](waveforms=tf.constant(audio[None]), lengths=tf.constant([audio.size]))
import json
print(json.dumps([native.numpy().decode(), batch["transcripts"].numpy()[0].decode(), type(other.numpy()).__name__]))
"""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300
    )
    assert result.returncode == 0, result.stderr[-2000:]
    native, batch, kind = json.loads(result.stdout.strip().splitlines()[-1])
    assert native == expected and batch == expected and kind == "bytes"


def test_finetune_on_manifest_extends_alphabet(trained, tmp_path, capsys):
    outcome, data_dir = trained
    recordings = data_dir / "fsdd" / "recordings"
    manifest = tmp_path / "mine.jsonl"
    rows = [{"path": str(recordings / f"{d}_jackson_10.wav"), "transcript": f"{w}!" if d else "0 zero"}
            for d, w in enumerate(["zero", "one", "two", "three"])]
    manifest.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    sets = ["train.epochs=1", "data.validation_fraction=0.25"]
    with pytest.raises(DataError, match="characters the source model cannot output: '0'"):
        commands.finetune(None, outcome.run.root, tmp_path / "ft_error", overrides=sets, data_paths=[str(manifest)])
    result = commands.finetune(
        None, outcome.run.root, tmp_path / "ft", overrides=sets + ["data.new_characters=extend"],
        data_paths=[str(manifest)],
    )
    old = json.loads((outcome.run.assets / "alphabet.json").read_text())["characters"]
    new = json.loads((result.run.assets / "alphabet.json").read_text())["characters"]
    assert new == old + "0"
    assert result.evaluation["utterances"] >= 1
    printed = capsys.readouterr().out
    assert "Fine-tuning: copied all" in printed and "output layer extended by 1 characters ('0')" in printed


@pytest.mark.parametrize("change, named", [
    ("model.n_mels=12", "model.n_mels (16 -> 12)"),
    ("data.sample_rate=16000", "data.sample_rate (8000 -> 16000)"),
    ("model.units=6", "model.units (8 -> 6)"),
])
def test_finetune_refuses_a_model_that_differs_from_the_source(trained, tmp_path, change, named):
    from seqtasks.errors import ConfigError

    outcome, data_dir = trained
    manifest = tmp_path / "mine.csv"
    wav = data_dir / "fsdd" / "recordings" / "1_jackson_10.wav"
    manifest.write_text(f"path,transcript\n{wav},one\n{wav},one\n")
    sets = ["train.epochs=1", "data.validation_fraction=0.5", "model.dropout=0.3", change]  # dropout may change
    with pytest.raises(ConfigError, match=re.escape(named) + r" differ from the source run"):
        commands.finetune(None, outcome.run.root, tmp_path / "ft", overrides=sets, data_paths=[str(manifest)])


def test_evaluate_and_predict_with_a_character_lm(trained, tmp_path, monkeypatch):
    from seqtasks.decoding import ctc_lm
    from seqtasks.decoding.char_lm import CharNGramLM
    from seqtasks.errors import ConfigError

    outcome, data_dir = trained
    alphabet = "".join(json.loads((outcome.run.assets / "alphabet.json").read_text())["characters"])
    lm = CharNGramLM.train(["three one four", "one five nine two six", "seven eight zero"], order=3,
                           alphabet=alphabet)
    lm_path = lm.save(tmp_path / "digits.npz")
    calls = []
    original = ctc_lm.CTCLMDecoder.__call__

    def counting(self, logits, lengths):
        calls.append((self.lm_weight, self.word_bonus, self.beam_width))
        return original(self, logits, lengths)

    monkeypatch.setattr(ctc_lm.CTCLMDecoder, "__call__", counting)
    sets = [f"eval.lm_path={lm_path}", "eval.lm_weight=0.5", "eval.word_bonus=1.0"]
    metrics = commands.evaluate(outcome.run.root, overrides=sets, out=io.StringIO())
    assert metrics["utterances"] == 4 and 0.0 <= metrics["cer"]
    assert calls and set(calls) == {(0.5, 1.0, 2)}
    wav = str(data_dir / "fsdd" / "recordings" / "3_george_0.wav")
    text = commands.predict(outcome.run.root, [wav], overrides=sets, out=io.StringIO())[0]
    assert set(text) <= set(alphabet)
    with pytest.raises(ConfigError, match="eval.decoder=beam"):
        commands.evaluate(outcome.run.root, overrides=[*sets, "eval.decoder=greedy"], out=io.StringIO())
    other = CharNGramLM.train(["abc"], order=2, alphabet="abc").save(tmp_path / "abc.npz")
    with pytest.raises(DataError, match="alphabet"):
        commands.evaluate(outcome.run.root, overrides=[f"eval.lm_path={other}"], out=io.StringIO())


def test_a_counted_word_list_decodes_in_evaluate_predict_and_the_export(trained, tmp_path):
    import tensorflow as tf

    outcome, data_dir = trained
    words = tmp_path / "words.tsv"
    # Two digit words and a few others the model's characters can spell; the counts make "two" likely.
    words.write_text("two\t500\nfive\t3\nnine\t2\nfour\t1\n", encoding="utf-8")
    sets = [f"eval.lexicon={words}", "eval.lexicon_lm_weight=1.0", "eval.lexicon_word_bonus=0.5"]
    wav = data_dir / "fsdd" / "recordings" / "2_george_0.wav"
    predicted = commands.predict(outcome.run.root, [str(wav)], overrides=sets, out=io.StringIO())[0]
    assert predicted and set(predicted.split()) <= {"two", "five", "nine", "four"}
    target = commands.export(outcome.run.root, "speech_recognition", export_dir=tmp_path / "export", overrides=sets)
    info = json.loads((target / "assets" / "speech_model.json").read_text())
    assert info["decoder"] == "lexicon" and info["lexicon"] == ["two", "five", "nine", "four"]
    assert info["lexicon_counts"] == [500.0, 3.0, 2.0, 1.0]
    assert (info["lexicon_lm_weight"], info["lexicon_word_bonus"]) == (1.0, 0.5)
    audio, rate = soundfile.read(wav, dtype="float32")
    model = tf.saved_model.load(str(target))
    exported = model.transcribe(waveform=tf.constant(audio), sample_rate=tf.constant(rate))["transcript"]
    assert exported.numpy().decode() == predicted
    # With word pairs (a bigram LM): predict and the SavedModel decode alike, and the export records the pairs.
    paired = tmp_path / "pairs.tsv"
    paired.write_text("<s>\t20\ntwo\t500\nfive\t3\nnine\t2\nfour\t1\n<s> five\t15\nfive nine\t4\n", encoding="utf-8")
    sets = [f"eval.lexicon={paired}", "eval.lexicon_lm_weight=1.0"]
    predicted = commands.predict(outcome.run.root, [str(wav)], overrides=sets, out=io.StringIO())[0]
    assert predicted and set(predicted.split()) <= {"two", "five", "nine", "four"}
    target = commands.export(outcome.run.root, "speech_recognition", export_dir=tmp_path / "export-pairs", overrides=sets)
    info = json.loads((target / "assets" / "speech_model.json").read_text())
    assert info["lexicon_bigrams"] == [[-1, 1, 15.0], [1, 2, 4.0]] and info["lexicon_sentences"] == 20.0
    model = tf.saved_model.load(str(target))
    exported = model.transcribe(waveform=tf.constant(audio), sample_rate=tf.constant(rate))["transcript"]
    assert exported.numpy().decode() == predicted


def test_a_malformed_word_list_is_one_line_naming_file_and_line(trained, tmp_path):
    from seqtasks.errors import ConfigError

    outcome, data_dir = trained
    words = tmp_path / "words.tsv"
    words.write_text("two\t5\nfive\n", encoding="utf-8")
    wav = data_dir / "fsdd" / "recordings" / "2_george_0.wav"
    with pytest.raises(ConfigError) as error:
        commands.predict(outcome.run.root, [str(wav)], overrides=[f"eval.lexicon={words}"], out=io.StringIO())
    message = str(error.value)
    assert "eval.lexicon" in message and str(words) in message and "line 2" in message and "\n" not in message


needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng, or make install)")


@needs_espeak
def test_phoneme_targets_train_and_output_words_in_predict_and_the_export(trained, tmp_path, monkeypatch):
    import tensorflow as tf

    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    _, data_dir = trained
    outcome = commands.train("speech_recognition", tmp_path / "run", data_dir=str(data_dir),
                             overrides=TINY + ["data.validation_indices=5", "data.targets=phonemes"])
    saved = json.loads((outcome.run.assets / "alphabet.json").read_text(encoding="utf-8"))
    assert saved["voice"] == "en-gb" and set(saved["pronunciations"]) == {
        "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"}
    assert len(saved["characters"]) == len(saved["phonemes"]) + 1  # the separator and one code per phoneme
    assert outcome.evaluation["utterances"] == 4 and outcome.evaluation["wer"] >= 0.0
    wav = data_dir / "fsdd" / "recordings" / "7_george_0.wav"
    predicted = commands.predict(outcome.run.root, [str(wav)], out=io.StringIO())[0]
    # The digits lexicon ("auto") spelt by pronunciation: only whole digit words come out.
    digits = set(saved["pronunciations"])
    assert set(predicted.split()) <= digits
    target = commands.export(outcome.run.root, "speech_recognition", export_dir=tmp_path / "export")
    info = json.loads((target / "assets" / "speech_model.json").read_text())
    assert info["decoder"] == "lexicon" and set(info["lexicon"]) == digits
    assert [len(s) for s in info["lexicon_spellings"]] == [len(saved["pronunciations"][w].split()) for w in info["lexicon"]]
    audio, rate = soundfile.read(wav, dtype="float32")
    model = tf.saved_model.load(str(target))
    exported = model.transcribe(waveform=tf.constant(audio), sample_rate=tf.constant(rate))["transcript"]
    assert exported.numpy().decode() == predicted
    from seqtasks.errors import ConfigError

    # The run outputs phonemes whatever a --set says: without a word list it is refused, not spelt in codes.
    with pytest.raises(ConfigError, match="outputs phonemes"):
        commands.predict(outcome.run.root, [str(wav)], overrides=["data.targets=characters", "eval.lexicon="],
                         out=io.StringIO())
    shouting = tmp_path / "upper.tsv"
    shouting.write_text("ONE\t5\nTwo\t3\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="normalised"):
        commands.predict(outcome.run.root, [str(wav)], overrides=[f"eval.lexicon={shouting}"], out=io.StringIO())


@needs_espeak
def test_phoneme_targets_without_a_word_list_are_refused_before_training(tmp_path):
    from seqtasks.errors import ConfigError

    manifest = tmp_path / "data.csv"
    manifest.write_text("path,transcript\na.wav,hello\n", encoding="utf-8")
    for extra, named in ((["eval.lexicon="], "eval.lexicon"), (["eval.lexicon=digits", "eval.lm_path=lm.npz"],
                                                                 "eval.lm_path")):
        with pytest.raises(ConfigError, match=named):
            commands.train("speech_recognition", tmp_path / "run", overrides=TINY + [
                f"data.path={manifest}", "data.targets=phonemes", *extra])
        assert not (tmp_path / "run").exists()
    with pytest.raises(ConfigError, match="data.alphabet"):
        commands.train("speech_recognition", tmp_path / "run", overrides=TINY + [
            f"data.path={manifest}", "data.targets=phonemes", "data.alphabet=abc "])


def test_a_run_builds_its_word_list_without_its_held_out_sentences(trained, tmp_path):
    _, data_dir = trained
    recordings = sorted((data_dir / "fsdd" / "recordings").glob("*_george_*.wav"))[:10]
    phrases = ["a no", "no go", "go on", "so on", "on a", "a go", "no no", "go so", "so a", "on so"]
    # Marker words of the model's letters, one per sentence, none ending in a letter a phrase starts with.
    markers = ["sags", "nags", "gags", "snags", "songs", "gongs", "snogs", "sangs", "goons", "nogs"]
    manifest = tmp_path / "data.csv"
    manifest.write_text("path,transcript\n" + "".join(f"{p},{t}\n" for p, t in zip(recordings, phrases, strict=True)),
                        encoding="utf-8")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("".join(f"{m} {t}.\n" for m, t in zip(markers, phrases, strict=True)), encoding="utf-8")
    sets = [f"data.path={manifest}", "data.validation_fraction=0.2", "data.test_fraction=0.2", "eval.lexicon=build",
            f"eval.lexicon_text=[{corpus.name}]", "eval.lexicon_min_pair_count=1", "eval.lexicon_lm_weight=1.0"]
    outcome = commands.train("speech_recognition", tmp_path / "run", overrides=TINY + sets, data_dir=str(tmp_path))
    built = outcome.run.assets / "lexicon.tsv"
    from seqtasks.decoding.lexicon import Lexicon

    lexicon = Lexicon.read(built)
    task, _ = commands.load_trained(outcome.run.root)
    task.prepare_evaluation_data()
    held_out = {u.transcript for u in task._validation.utterances} | {u.transcript for u in task._test_utterances}
    assert len(held_out) == 4
    for marker, phrase in zip(markers, phrases, strict=True):  # a sentence with a held-out transcript is left out
        assert (marker in lexicon.words) == (not any(h in f"{marker} {phrase}" for h in held_out)), (marker, phrase)
    assert lexicon.bigrams and lexicon.sentences == sum(m in lexicon.words for m in markers)
    info = json.loads((outcome.export_dir / "assets" / "speech_model.json").read_text())
    assert info["lexicon"] == list(lexicon.words) and info["lexicon_bigrams"]
    before = built.read_bytes()
    commands.evaluate(outcome.run.root, out=io.StringIO())
    assert built.read_bytes() == before


def test_lexicon_settings_are_checked_before_anything_runs(tmp_path):
    from seqtasks.errors import ConfigError

    malformed = tmp_path / "four.tsv"
    malformed.write_text("one 2\ntwo three four 5\n", encoding="utf-8")
    for sets, named in ((["eval.lexicon=build"], "eval.lexicon_text"),
                        ([f"eval.lexicon={tmp_path / 'missing.tsv'}"], "missing.tsv"),
                        ([f"eval.lexicon={malformed}"], "four.tsv, line 2"),
                        (["eval.lexicon=build", "eval.lexicon_text=[nowhere.txt]"], "nowhere.txt")):
        with pytest.raises(ConfigError, match=named):
            commands.train("speech_recognition", tmp_path / "run", overrides=TINY + sets, data_dir=str(tmp_path))
        assert not (tmp_path / "run").exists()


def test_extra_training_speech_joins_the_generated_digits_of_every_epoch(tmp_path):
    from seqtasks.config import load_config
    from seqtasks.runtime.run_dir import RunDir
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig
    from seqtasks.tasks.speech_recognition.data import ConcatSource, DigitsSource
    from seqtasks.tasks.speech_recognition.task import SpeechRecognitionTask

    data_dir = _fsdd(tmp_path / "data", None)
    extra = data_dir / "read"
    extra.mkdir()
    texts = ["Hello, world.", "Quick brown fox", "zero is a word"]
    rng = np.random.default_rng(1)
    for i in range(len(texts)):
        soundfile.write(extra / f"{i}.wav", (0.1 * rng.standard_normal(8000)).astype(np.float32), 8000)
    (extra / "m.csv").write_text("path,transcript\n" + "".join(f"{i}.wav,\"{t}\"\n" for i, t in enumerate(texts)),
                                 encoding="utf-8")
    overrides = [*TINY, "data.extra_train_path=[read/m.csv]", "data.speed_perturbation=[0.9,1.0,1.1]"]
    # read/m.csv is relative: found under the data directory.

    outcome = commands.train("speech_recognition", tmp_path / "run", overrides=overrides, data_dir=str(data_dir))
    assert set("hqkxfw,") & set(commands.load_trained(outcome.run.root)[0].alphabet.characters) == set("hqkxfw")

    config = load_config(SpeechRecognitionConfig, overrides=[*overrides, f"data.data_dir={data_dir}"])
    task = SpeechRecognitionTask(config, RunDir.at(tmp_path / "run2"))
    task.prepare_data()
    assert isinstance(task._validation, DigitsSource)  # validation and test stay connected digits
    again = SpeechRecognitionTask(config, RunDir.at(tmp_path / "run2b"))
    again.prepare_data()
    perturbed = set()
    for epoch in (0, 1):
        source, batches, factors = task._epoch(epoch)
        assert isinstance(source, ConcatSource) and len(source) == 16 + 3
        planned = sorted(i for batch in batches for i in batch)
        assert planned[-3:] == [16, 17, 18] and all(i < 16 for i in planned[:-3])
        assert [source.transcript(i) for i in (16, 17, 18)] == ["hello world", "quick brown fox", "zero is a word"]
        wave, labels = source.example(17)
        assert wave.shape == (8000,) and task.alphabet.decode(labels) == "quick brown fox"
        # A pure function of (seed, epoch): what a resumed run (a fresh task) plans is the same.
        copy, copy_batches, copy_factors = again._epoch(epoch)
        assert (copy_batches, copy_factors) == (batches, factors)
        assert [copy.transcript(i) for i in range(len(copy))] == [source.transcript(i) for i in range(len(source))]
        perturbed |= {i for i in factors if i >= 16}
        if epoch == 0:
            examples = sum(int(b[1]["label_length"].shape[0]) for b in task.train_dataset(0))
            assert examples == len(planned)
    assert perturbed  # the extra utterances are speed-perturbed too

    missing = load_config(SpeechRecognitionConfig, overrides=[*TINY, "data.extra_train_path=[read/none.csv]",
                                                             f"data.data_dir={data_dir}"])
    with pytest.raises(DataError, match=r"^data.extra_train_path: read/none.csv does not exist \(nor under the data "
                                        r"directory .*data\). Fix: correct the path, or give the folder it is "
                                        r"relative to with --data-dir / \$SEQTASKS_DATA_DIR.$"):
        SpeechRecognitionTask(missing, RunDir.at(tmp_path / "run3")).prepare_data()
    # Scoring a run needs none of it.
    evaluation = SpeechRecognitionTask(missing, RunDir.at(tmp_path / "run4"))
    evaluation.prepare_evaluation_data()
    assert evaluation._extra is None
    # A fine-tune on other data does not carry the source's extra speech over (nor need its files).
    (extra / "m.csv").rename(extra / "moved.csv")
    result = commands.finetune(None, outcome.run.root, tmp_path / "ft", data_paths=[str(extra / "moved.csv")],
                               overrides=["train.epochs=1", "data.validation_fraction=0.34"])
    assert "extra_train_path: []" in (result.run.root / "config.yaml").read_text()
