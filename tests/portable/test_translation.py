"""Translation's LiteRT/ONNX exports: the encoder and one decoder step run in the converted model, the numpy
runner (`seqtasks_portable.TranslatorPipeline`) tokenizes, searches and detokenizes, and its translations equal
the SavedModel's (greedy and beam) in a process where TensorFlow, Keras and seqtasks cannot be imported."""

from __future__ import annotations

import json
import subprocess
import sys
from types import SimpleNamespace

import keras
import numpy as np
import pytest
import tensorflow as tf
import tensorflow_text  # noqa: F401  (registers the SavedModel's sentencepiece ops)

from seqtasks.portable import sentencepiece_settings, standalone
from seqtasks.portable.convert import write_portable
from seqtasks.runtime import commands
from seqtasks.tasks.translation.export import TranslationServing, translation_portable
from seqtasks.tasks.translation.model import TranslationModel
from seqtasks.tokenizers import train_sentencepiece_model
from tests.portable import runner_script

pytest.importorskip("ai_edge_litert")
pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")
pytest.importorskip("sentencepiece")

NOUNS = {"cat": "chat", "dog": "chien", "house": "maison", "car": "voiture", "tree": "arbre", "bird": "oiseau"}
ADJECTIVES = {"big": "grand", "small": "petit", "green": "vert", "old": "vieux"}
TINY = [
    "data.source_vocab_size=70", "data.valid_size=0.1", "data.test_size=0.1", "model.embedding_dim=16",
    "model.encoder_units=16", "model.decoder_units=24", "train.batch_size=16", "train.learning_rate=0.01",
    "train.warmup_steps=0", "train.checkpoint_every_steps=0", "train.verbose=none", "train.seed=1",
    "train.max_minutes=0", "eval.batch_size=8", "eval.beam_size=3", "eval.score_greedy=false",
    "eval.max_sentences=2", "export.after_train=false",
]
# The default cell (bidirectional GRU encoder, Luong attention), and LSTM with Bahdanau attention, input
# feeding and two layers on both sides (the encoder is always bidirectional).
VARIANTS = {
    "gru": ["train.epochs=20"],
    "lstm": ["train.epochs=12", "model.cell_type=lstm", "model.attention=bahdanau", "model.input_feeding=true",
             "model.encoder_layers=2", "model.decoder_layers=2"],
}
# Inputs whose normalisation must match TensorFlow's exactly: ASCII whitespace is stripped but a no-break
# space is not (tf.strings.strip), NFD becomes NFC, unknown characters, an empty input, and a source longer
# than data.max_source_length (64 tokens: truncated).
TEXTS = [
    "Where is the big cat?", "  The green tree.\t", "\u00a0The small dog.\u00a0", "Where is the old bird ?",
    "The car.", "Ou\u0300 est le chat\u202f?", "", "A zebra \U0001f993 ñ!", "The big cat. " * 30,
    "Where is the small house?", "The old tree.", "The green bird.",
]

# Loads the export's own runner with TensorFlow, Keras and seqtasks unimportable; translates greedily and with
# the run's beam, and teacher-forces the given target tokens through `decode_step` (per-step log-probs).
STANDALONE = runner_script("""
texts = json.loads(open(sys.argv[2], encoding="utf-8").read())
ids = model.source_ids(texts)
greedy_ids, greedy_scores = model.translate_ids(texts)
paths = np.load(sys.argv[3])
enc = model.session.run("serving_default", source_ids=ids)
state, tokens, steps = enc["state"], np.full(len(texts), model.bos_id, np.int32), []
for t in range(paths.shape[1]):
    out = model.session.run("decode_step", tokens=tokens, state=state, memory=enc["memory"], keys=enc["keys"],
                            source_ids=ids)
    steps.append(out["log_probs"])
    state, tokens = out["new_state"], paths[:, t]
np.save(sys.argv[4], np.stack(steps, axis=1))
beam = model.settings["beam_size"]
print(json.dumps({
    "source_ids": ids.tolist(), "greedy_ids": greedy_ids, "greedy_scores": greedy_scores.tolist(),
    "greedy": model.translate(texts), "beam": model.translate(texts, beam_width=beam),
    "beam_scores": model.translate_ids(texts, beam_width=beam)[1].tolist(),
}))
""", blocked=("tensorflow_text",))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Variant -> (run, task, model, SavedModel outputs on TEXTS); the runs train once for the module."""
    root = tmp_path_factory.mktemp("portable_translation")
    data = root / "pairs.tsv"
    rows = []
    for noun, nom in NOUNS.items():
        for adj, fr in ADJECTIVES.items():
            rows += [f"The {adj} {noun}.\tLe {nom} {fr}.", f"Where is the {adj} {noun}?\tOù est le {nom} {fr}\u202f?"]
    data.write_text("\n".join(rows) + "\n", encoding="utf-8")
    out = {}
    for name, overrides in VARIANTS.items():
        run = root / name
        commands.train("translation", run, overrides=[*TINY, *overrides], data_paths=[str(data)])
        served = tf.saved_model.load(str(commands.export(run)))
        reference = {key: {k: v.numpy() for k, v in served.signatures[key](source=tf.constant(TEXTS)).items()}
                     for key in ("translate_greedy", "translate")}
        task, model = commands.load_trained(run)
        out[name] = SimpleNamespace(run=run, task=task, model=model, reference=reference, exports={})
    return out


def exported(trained: SimpleNamespace, fmt: str):
    """The run's float32 export in `fmt` (made once)."""
    if fmt not in trained.exports:
        trained.exports[fmt] = commands.export(trained.run, fmt=fmt)
    return trained.exports[fmt]


def run_standalone(folder, tmp_path, paths: np.ndarray) -> tuple[dict, np.ndarray]:
    (tmp_path / "texts.json").write_text(json.dumps(TEXTS), encoding="utf-8")
    np.save(tmp_path / "paths.npy", paths)
    done = subprocess.run(
        [sys.executable, "-c", STANDALONE, str(folder), str(tmp_path / "texts.json"), str(tmp_path / "paths.npy"),
         str(tmp_path / "log_probs.npy")], capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1]), np.load(tmp_path / "log_probs.npy")


def decoded(values: np.ndarray) -> list[str]:
    return [v.decode("utf-8") for v in values]


def teacher_forced_log_probs(model: TranslationModel, source_ids: tf.Tensor, paths: np.ndarray) -> np.ndarray:
    """TensorFlow's per-step log-probs `(batch, steps, vocab)` reading the target tokens `paths`."""
    memory, mask, states = model.encode(source_ids, training=False)
    step, state = model.step_fn(memory, mask), model.initial_step_state(memory, states)
    tokens, out = tf.fill([len(paths)], model.bos_id), []
    for t in range(paths.shape[1]):
        log_probs, state = step(tokens, state)
        out.append(log_probs.numpy())
        tokens = tf.constant(paths[:, t])
    return np.stack(out, axis=1)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_runner_translations_equal_the_saved_model(runs, tmp_path, fmt, variant):
    trained = runs[variant]
    out = exported(trained, fmt)
    description = json.loads((out / "export.json").read_text())
    assert description["pipeline"] == "translator" and description["assets"] == ["source.model", "target.model"]
    source_model = (out / "assets" / "source.model").read_bytes()
    assert description["settings"]["source_tokenizer"] == {"file": "source.model",
                                                           **sentencepiece_settings(source_model)}
    assert sorted(description["signatures"]) == ["decode_step", "serving_default"]
    assert len(description["outside_model"]) == 2 and description["verification"]["tolerance"] == 1e-4
    if fmt == "onnx":
        assert (out / "model.onnx").is_file() and (out / "decode_step.onnx").is_file()

    greedy, beam = trained.reference["translate_greedy"], trained.reference["translate"]
    # One more step than the longest output: the step that chose the end token.
    paths = np.pad(greedy["token_ids"], [[0, 0], [0, 1]])
    got, runner_log_probs = run_standalone(out, tmp_path, paths)

    serving = trained.task.serving(trained.model)
    in_graph_ids = serving.source_ids(tf.constant(TEXTS))
    np.testing.assert_array_equal(np.asarray(got["source_ids"]), in_graph_ids.numpy())
    assert in_graph_ids.shape[1] == 64  # the long input was truncated, by both
    want = teacher_forced_log_probs(trained.model, in_graph_ids, paths)
    np.testing.assert_allclose(runner_log_probs, want, atol=1e-4, rtol=0)

    assert got["greedy"] == decoded(greedy["translation"])
    assert got["greedy_ids"] == [list(row[:n]) for row, n in zip(greedy["token_ids"], greedy["length"], strict=True)]
    np.testing.assert_allclose(got["greedy_scores"], greedy["score"], atol=1e-4, rtol=1e-5)
    assert got["beam"] == decoded(beam["translation"])
    np.testing.assert_allclose(got["beam_scores"], beam["score"], atol=1e-4, rtol=1e-5)
    # Not all outputs hit the length limit: some end on their own, so the end token is compared too.
    limits = np.ceil(1.5 * (in_graph_ids.numpy() != 0).sum(axis=1) + 10)
    assert np.any(greedy["length"] < limits)


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_other_beam_widths_and_length_limits_equal_tensorflow_search(runs, fmt):
    """Widths other than the run's have no SavedModel signature: the runner is compared with the same search
    in TensorFlow (`TranslationModel.translate_ids`); `max_length` replaces the length rule."""
    trained = runs["gru"]
    runner = standalone.load(exported(trained, fmt))
    ids = runner.source_ids(TEXTS)
    for width, max_length in ((2, None), (4, None), (1, 3), (3, 2)):
        a, b = (1.5, 10) if max_length is None else (0.0, max_length)
        want = trained.model.translate_ids(ids, beam_size=width, length_penalty=0.6 if width > 1 else 0.0,
                                           max_length_a=a, max_length_b=b)
        got, scores = runner.translate_ids(TEXTS, max_length=max_length, beam_width=width)
        lengths = want.lengths.numpy()
        assert got == [list(row[:n]) for row, n in zip(want.sequences.numpy(), lengths, strict=True)], (width, max_length)
        np.testing.assert_allclose(scores, want.scores.numpy(), atol=1e-4, rtol=1e-5)
        if max_length is not None:
            assert max(map(len, got)) <= max_length
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="beam_width must be a positive integer"):
            runner.translate(TEXTS[:1], beam_width=bad)
    with pytest.raises(ValueError, match="max_length must be a positive integer or None"):
        runner.translate(TEXTS[:1], max_length=0)


@pytest.mark.parametrize("policy", ["keep", "narrow_nbsp", "space"])
def test_runner_normalisation_is_the_saved_model_s(policy):
    texts = ["Quoi ?", "Quoi\u00a0!", "« Oui »", "«\u2009non\u202f»", "a  :  b ; c", " \t x \n", "\u3000x\u3000",
             "\u00a0y", "e\u0301te\u0301", "ﬁn …", "Déjà\u2009?!"]
    runner = standalone.TranslatorPipeline.__new__(standalone.TranslatorPipeline)
    runner.settings = {"punctuation_spaces": policy}
    want = TranslationServing.normalize(SimpleNamespace(punctuation_spaces=policy), tf.constant(texts))
    assert [runner.normalize(t) for t in texts] == decoded(want.numpy())


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_dynamic_int8_export_within_tolerance(runs, tmp_path, fmt):
    """Documented tolerance of a dynamic_int8 export: per-step log-probs within 5% of their scale of
    TensorFlow's (measured on this tiny GRU: 0.024 LiteRT, 0.035 ONNX, scale 8.9), and the greedy translations
    of at least 10 of the 12 inputs equal to the SavedModel's (measured: all of them, and all 48 training
    sentences)."""
    trained = runs["gru"]
    out = commands.export(trained.run, export_dir=tmp_path / "q", fmt=fmt, quantize="dynamic_int8")
    description = json.loads((out / "export.json").read_text())
    assert description["quantize"] == "dynamic_int8" and description["verification"]["tolerance"] is None
    for where, diff in description["verification"]["outputs"].items():
        assert diff["max_abs_diff"] <= 0.05 * max(1.0, diff["scale"]), where
    greedy = trained.reference["translate_greedy"]
    got, _ = run_standalone(out, tmp_path, np.zeros((len(TEXTS), 1), np.int32))
    agree = sum(a == b for a, b in zip(got["greedy"], decoded(greedy["translation"]), strict=True))
    assert agree >= 10, (got["greedy"], decoded(greedy["translation"]))


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
def test_other_model_settings_convert(runs, tmp_path, fmt):
    """Settings the trained variants leave out, on an untrained model: Luong dot attention, tied embeddings,
    a GRU decoder of two layers with input feeding; the conversion is checked against TensorFlow by the export
    itself and the runner's greedy translations equal the in-process serving's."""
    trained = runs["gru"]
    pre = trained.task.preprocessor
    keras.utils.set_random_seed(0)  # an untrained model's near-ties are then the same in every run
    model = TranslationModel(pre.source_vocab_size, pre.target_vocab_size, embedding_dim=32, encoder_units=16,
                             decoder_units=32, decoder_layers=2, attention="luong_dot", input_feeding=True,
                             tie_embeddings=True, dropout=0.0)
    model.build()
    protos = (pre.source_tokenizer.model_proto, pre.target_tokenizer.model_proto)
    write_portable(translation_portable(model, *protos, beam_size=2), tmp_path / "out", fmt, "none", "translation")
    runner = standalone.load(tmp_path / "out")
    serving = TranslationServing(model, *protos, beam_size=2)
    texts = TEXTS[:8]
    assert runner.translate(texts) == decoded(serving.translate_greedy(tf.constant(texts))["translation"].numpy())
    assert runner.translate(texts, beam_width=2) == decoded(serving.translate(tf.constant(texts))["translation"].numpy())


def test_runner_source_ids_equal_tensorflow_text_on_near_ties(runs, tmp_path):
    """The `sentencepiece` wheel breaks near-ties of the unigram scores unlike the copy inside
    tensorflow-text (runs of dots here; "50,000" with the English-French model of the benchmark);
    the runner tokenizes sources with `SentencePieceIds`, so its ids are the SavedModel's."""
    import random
    import shutil

    r = random.Random(1)
    words = ["the", "film", "was", "great", "wait", "what", "really", "no", "plot", "fun"]
    marks = ["...", ".", "!!!", "!", "?", "???", "--", "-", "***", "*", "!!", ".."]
    corpus = [" ".join(r.choice(words) + r.choice(["", "", *marks])
                       for _ in range(r.randint(4, 16))) for _ in range(600)]
    source_model = train_sentencepiece_model(corpus, vocab_size=120,
                                             normalization_rule_name="identity")
    trained = runs["gru"]
    folder = tmp_path / "export"
    shutil.copytree(exported(trained, "onnx"), folder)
    (folder / "assets" / "source.model").write_bytes(source_model)
    description = json.loads((folder / "export.json").read_text())
    description["settings"]["source_tokenizer"] = {"file": "source.model",
                                                   **sentencepiece_settings(source_model)}
    (folder / "export.json").write_text(json.dumps(description), encoding="utf-8")
    runner = standalone.load(folder)
    texts = [".......", "Wait....... what!!!!!!!! really???? no---- *****", "the film...",
             *corpus[:50]]
    target_model = trained.task.preprocessor.target_tokenizer.model_proto
    serving = TranslationServing(trained.model, source_model, target_model)
    want = serving.source_ids(tf.constant(texts)).numpy()
    np.testing.assert_array_equal(runner.source_ids(texts), want)
    # bytes are UTF-8 text, as for the SavedModel's string input
    assert runner.translate([b"The car."]) == runner.translate(["The car."])
