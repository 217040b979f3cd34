"""Text generation LiteRT/ONNX exports: the runner generates (greedy: the SavedModel's text) and
scores (the SavedModel's bits per character) without TensorFlow, one `step` call per character;
stepping the states one character at a time gives the sequence signature's logits and states."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.runtime import commands
from tests.portable import runner_script

pytest.importorskip("ai_edge_litert")
pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

# Trained until greedy text is more than one repeated character; the LSTM's recurrent kernel
# (16 x 64) is large enough for the quantizers (>= 1024 values).
TINY = ["model.units=16", "model.embedding_dim=8", "data.seq_len=24", "train.batch_size=8",
        "eval.chunk_len=32", "train.epochs=6", "train.learning_rate=0.02",
        "export.after_train=false"]
CELLS = {
    "gru": [],
    "lstm_2_layers": ["model.cell_type=lstm", "model.num_layers=2"],
    "simple_rnn": ["model.cell_type=simple_rnn"],
}
TEXT = "to be or not to be that is the question\nwhether tis nobler in the mind to suffer\n"
# Prompts and texts with characters outside the vocabulary ("☃", "Z"), an empty prompt (the
# SavedModel starts from "\n") and texts too short to score.
PROMPTS = ["to be", "", "whether tis", "Z☃ the"]
SCORED = [TEXT[:40], "the mind to suffer", "a", "", "nobler ☃ Z question"]
NUM_CHARS = 40

# Loads the export's own runner with TensorFlow, Keras and seqtasks unimportable; prints greedy
# and sampled generations, scores, and how far stepping one character at a time is from the
# sequence signature.
STANDALONE = runner_script("""
prompts, scored, num_chars = json.loads(sys.argv[2])
greedy = [model.generate(p, num_chars, temperature=0.0) for p in prompts]
sampled = [model.generate("to be", num_chars, temperature=0.8, top_k=k, top_p=p, seed=3)
           for k, p in ((0, 1.0), (3, 1.0), (0, 0.9))]
again = model.generate("to be", num_chars, temperature=0.8, top_k=0, top_p=1.0, seed=3)
scores = [model.score(t) for t in scored]

ids = np.random.default_rng(0).integers(0, len(model.chars) + 1, (3, 11)).astype(np.int32)
whole = model.session.run("serving_default", ids=ids)
names = model.settings["states"]
units = model.settings["units"]
states = {"state_" + n: np.zeros((3, units), np.float32) for n in names}
logit_diff = 0.0
for t in range(ids.shape[1]):
    out = model.session.run("step", ids=ids[:, t], **states)
    logit_diff = max(logit_diff, float(np.abs(out["logits"] - whole["logits"][:, t]).max()))
    states = {"state_" + n: out["next_state_" + n] for n in names}
state_diff = max(float(np.abs(states["state_" + n] - whole["next_state_" + n]).max())
                 for n in names)
print(json.dumps({"greedy": greedy, "sampled": sampled, "again": again, "scores": scores,
                  "logit_diff": logit_diff, "state_diff": state_diff, "chars": model.chars}))
""")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("text_generation_portable")
    data = root / "text.txt"
    data.write_text(TEXT * 80, encoding="utf-8")
    for name, overrides in CELLS.items():
        commands.train("text_generation", root / name, data_paths=[str(data)],
                       overrides=[*TINY, *overrides])
    return root


_SAVED: dict[Path, tuple[list[str], list[float]]] = {}


def _saved_model_outputs(run: Path) -> tuple[list[str], list[float]]:
    """Greedy `generate` texts of PROMPTS and `score` bits per character of SCORED."""
    if run not in _SAVED:
        served = tf.saved_model.load(str(commands.export(run)))
        texts = [served.generate(prompt=tf.constant(p), num_chars=tf.constant(NUM_CHARS),
                                 temperature=tf.constant(0.0))["text"].numpy().decode()
                 for p in PROMPTS]
        bits = [float(served.score(text=tf.constant(t))["bits_per_char"]) for t in SCORED]
        _SAVED[run] = (texts, bits)
    return _SAVED[run]


def _run_standalone(folder: Path) -> dict:
    arguments = json.dumps([PROMPTS, SCORED, NUM_CHARS])
    done = subprocess.run([sys.executable, "-c", STANDALONE, str(folder), arguments],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(("fmt", "cell"), [("litert", "gru"), ("onnx", "gru"),
                                           ("litert", "lstm_2_layers"), ("onnx", "lstm_2_layers"),
                                           ("onnx", "simple_rnn")])
def test_runner_without_tensorflow_equals_the_saved_model(runs, fmt, cell):
    run = runs / cell
    out = commands.export(run, fmt=fmt)
    description = json.loads((out / "export.json").read_text())
    assert description["pipeline"] == "char_generator"
    assert set(description["signatures"]) == {"serving_default", "step"}
    assert len(description["settings"]["states"]) == {"gru": 1, "simple_rnn": 1,
                                                      "lstm_2_layers": 4}[cell]
    for where, diff in description["verification"]["outputs"].items():
        assert diff["max_abs_diff"] <= 1e-4 * max(1.0, diff["scale"]), where

    got = _run_standalone(out)
    texts, bits = _saved_model_outputs(run)
    assert len(set("".join(texts))) > 2, "the tiny model should not repeat one character"
    assert got["greedy"] == texts
    np.testing.assert_allclose(got["scores"], bits, atol=1e-4)
    assert got["scores"][2:4] == [0.0, 0.0]
    # The state round trip: one `step` call per character equals the sequence signature.
    assert got["logit_diff"] < 1e-5 and got["state_diff"] < 1e-5
    # Sampling: seeded, NUM_CHARS characters of the vocabulary, never the unknown one.
    assert got["again"] == got["sampled"][0]
    for sample in got["sampled"]:
        assert len(sample) == NUM_CHARS and set(sample) <= set(got["chars"])


@pytest.mark.parametrize(("fmt", "quantize"), [("litert", "dynamic_int8"), ("onnx", "float16")])
def test_quantized_export_scores_close_to_the_saved_model(runs, tmp_path, fmt, quantize):
    run = runs / "lstm_2_layers"
    out = commands.export(run, export_dir=tmp_path / "q", fmt=fmt, quantize=quantize)
    assert json.loads((out / "export.json").read_text())["quantize"] == quantize
    got = _run_standalone(out)
    _, bits = _saved_model_outputs(run)
    # Documented tolerance for quantized weights: bits per character within 0.05 of float32's
    # (measured: 1.5e-3 LiteRT dynamic_int8, 3e-5 ONNX float16). ONNX dynamic_int8 quantizes the
    # activations per call, so there one step at a time differs from the sequence by ~0.05 in
    # the logits; LiteRT's dynamic range quantization and float16 weights do not.
    np.testing.assert_allclose(got["scores"], bits, atol=0.05)
    assert got["logit_diff"] < 1e-4


def test_runner_reads_bytes_as_utf8_and_checks_sampling_settings_up_front(runs):
    """bytes are decoded as UTF-8 as the SavedModel does (invalid sequences -> U+FFFD); sampling
    settings out of range stop in one line before the model runs."""
    from seqtasks.portable import standalone

    out = runs / "gru" / "export-onnx"
    model = standalone.load(out if (out / "export.json").is_file()
                            else commands.export(runs / "gru", fmt="onnx"))
    text = SCORED[4]
    assert model.score(text.encode("utf-8")) == model.score(text)
    assert model.score(b"to be \xff or") == model.score("to be \ufffd or")
    assert model.generate(PROMPTS[3].encode("utf-8"), 12, temperature=0) == model.generate(
        PROMPTS[3], 12, temperature=0)
    bad = [({"top_p": 0.0}, "top_p"), ({"top_p": 1.5}, "top_p"), ({"top_p": float("nan")}, "top_p"),
           ({"top_k": -1}, "top_k"), ({"top_k": 2.5}, "top_k"),
           ({"temperature": float("nan")}, "temperature"),
           ({"temperature": float("inf")}, "temperature"), ({"num_chars": 2.5}, "num_chars"),
           ({"num_chars": -1}, "num_chars")]
    for settings, name in bad:
        arguments = {"num_chars": 5, **settings}
        with pytest.raises(ValueError, match=f"^{name} must be") as caught:
            model.generate("to be", **arguments)
        assert "\n" not in str(caught.value)
    with pytest.raises(TypeError, match="prompt must be a str"):
        model.generate(None, 5)
    assert model.generate("to be", 0, top_p=1.0, top_k=3) == ""
