"""The whole text generation path on a tiny text: train, evaluate, predict, export, reload without seqtasks,
finetune (both policies for new characters), and the recipe script."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqtasks.decoding.generation import Generator, score_ids
from seqtasks.decoding.samplers import GreedySampler
from seqtasks.runtime import commands
from seqtasks.tasks.text_generation import CharVocabulary

ROOT = Path(__file__).resolve().parents[3]
TINY = [
    "model.units=24", "model.embedding_dim=8", "data.seq_len=24", "train.batch_size=16", "train.epochs=2",
    "train.checkpoint_every_steps=4", "train.verbose=none", "eval.chunk_len=64", "predict.num_chars=40",
    "train.max_minutes=0",
]

RELOAD = r"""
import json, sys
import tensorflow as tf
m = tf.saved_model.load(sys.argv[1])
expected = json.loads(sys.argv[2])
greedy = m.generate(prompt=tf.constant(expected["prompt"]), num_chars=tf.constant(40), temperature=tf.constant(0.0))
sampled = m.signatures["generate"](prompt=tf.constant("ROMEO:"), num_chars=tf.constant(25), temperature=tf.constant(0.8))
scored = m.score(text=tf.constant(expected["text"]))
print(json.dumps({
    "greedy": greedy["text"].numpy().decode(), "sampled": sampled["text"].numpy().decode(),
    "nats": float(scored["nats_per_char"]), "seqtasks_imported": any(k.startswith("seqtasks") for k in sys.modules),
}))
"""


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    text = ("ROMEO:\nBut, soft! what light through yonder window breaks?\nIt is the east, and Juliet is the sun.\n"
            "JULIET:\nO Romeo, Romeo! wherefore art thou Romeo?\n") * 12
    path = tmp_path_factory.mktemp("corpus") / "play.txt"
    path.write_text(text)
    return path


@pytest.fixture(scope="module")
def trained(corpus, tmp_path_factory):
    run = tmp_path_factory.mktemp("runs") / "tg"
    outcome = commands.train("text_generation", run, overrides=TINY, data_paths=[str(corpus)])
    return run, outcome


def test_train_writes_a_complete_run(trained):
    run, outcome = trained
    for name in ("config.yaml", "task.txt", "assets/vocabulary.json", "metrics.json", "curves.png",
                 "export/saved_model.pb", "export/assets/vocabulary.json", "best/checkpoint",
                 "checkpoints/checkpoint"):
        assert (run / name).exists(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    assert metrics["epochs"][-1]["val_loss"] < metrics["epochs"][0]["val_loss"] < np.log(40)  # it learns
    ev = outcome.evaluation
    assert ev["bits_per_char"] == pytest.approx(ev["nats_per_char"] / np.log(2))
    assert ev["unknown_chars"] == 0 and ev["chars"] > 0


def test_evaluate_counts_unknown_characters(trained, tmp_path):
    run, _ = trained
    other = tmp_path / "other.txt"
    other.write_text("Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich.\n")
    out = io.StringIO()
    metrics = commands.evaluate(run, paths=[str(other)], out=out)
    assert metrics["unknown_chars"] > 0 and "bits_per_char:" in out.getvalue()
    assert str(other) in json.loads((run / "metrics.json").read_text())["evaluation"]


def test_predict_streams_samples(trained):
    run, _ = trained
    out = io.StringIO()
    results = commands.predict(run, ["ROMEO:"], overrides=["predict.num_samples=2", "predict.seed=3"], out=out)
    assert len(results) == 1 and len(results[0]) == 2 and all(len(t) == 40 for t in results[0])
    assert out.getvalue().startswith("--- prompt: 'ROMEO:'\n") and "[2] " in out.getvalue()


def test_export_reloads_without_seqtasks(trained):
    run, _ = trained
    task, model = commands.load_trained(run)
    expected_greedy = Generator(model, task.vocab, GreedySampler()).generate("JULIET:\n", 40)[0]
    text = "O Romeo, Romeo! wherefore art thou Romeo?\n"
    total, n = score_ids(model, task.vocab.encode(text), batch_size=1)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", RELOAD, str(run / "export"), json.dumps({"prompt": "JULIET:\n", "text": text})],
        capture_output=True, text=True, timeout=300, cwd="/", env=env,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["seqtasks_imported"] is False
    assert got["greedy"] == expected_greedy
    assert len(got["sampled"]) == 25
    assert got["nats"] == pytest.approx(total / n, rel=1e-4)


@pytest.mark.parametrize("policy", ["extend", "unknown"])
def test_finetune_on_new_text(trained, tmp_path, policy):
    run, _ = trained
    new_text = tmp_path / "mine.txt"
    new_text.write_text("Ça va? Très bien, merci. Où est la bibliothèque?\n" * 15)
    out = commands.finetune(
        None, run, tmp_path / f"ft_{policy}", overrides=["train.epochs=1", f"data.new_chars={policy}"],
        data_paths=[str(new_text)],
    )
    source_vocab = CharVocabulary.load(run / "assets" / "vocabulary.json")
    vocab = CharVocabulary.load(tmp_path / f"ft_{policy}" / "assets" / "vocabulary.json")
    assert vocab.chars[: len(source_vocab.chars)] == source_vocab.chars
    if policy == "extend":
        assert {"Ç", "è", "ù"} <= set(vocab.chars[len(source_vocab.chars):])
        assert out.evaluation["unknown_chars"] == 0
    else:
        assert vocab.chars == source_vocab.chars and out.evaluation["unknown_chars"] > 0
    assert (tmp_path / f"ft_{policy}" / "export" / "saved_model.pb").is_file()
    assert json.loads((tmp_path / f"ft_{policy}" / "metrics.json").read_text())["info"]["steps"] > 0


def test_recipe_script_runs_the_same_path(corpus, tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "recipes" / "text_generation.py"), "--workdir", str(tmp_path / "run"),
         "--data", str(corpus), *[a for s in [*TINY, "train.epochs=1", "predict.num_chars=10"] for a in ("--set", s)]],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "exported:" in proc.stdout and "bits_per_char" in proc.stdout
    assert (tmp_path / "run" / "export" / "saved_model.pb").is_file()
