"""The `sentiment` task end to end on a tiny TSV: train, evaluate, predict, export (reloaded without seqtasks),
fine-tune to a new 3-class label set."""

import io
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from seqtasks.config import load_config
from seqtasks.errors import ConfigError, DataError
from seqtasks.runtime import RunDir, commands
from seqtasks.tasks.sentiment import SentimentConfig, SentimentTask

POS = ["a great fun film", "great acting and a fine plot", "fine fun, great cast", "i loved this great film"]
NEG = ["a dull slow film", "dull acting and a poor plot", "poor slow, dull cast", "i hated this dull film"]
MID = ["an average film", "average acting, ok plot", "ok cast and average fun"]

TINY = [
    "data.vocab_size=60", "data.max_length=12", "data.num_buckets=2", "data.validation_split=0.25",
    "model.embedding_dim=8", "model.units=4", "train.batch_size=8", "train.epochs=1",
    "train.learning_rate=0.01", "train.checkpoint_every_steps=0", "train.verbose=none", "train.seed=1",
    "eval.batch_size=16",
]


def write_tsv(path, rows):
    lines = ["text\tlabel"] + [f"{t}\t{label}" for t, label in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("sentiment")
    rows = [(t, "pos") for t in POS] * 6 + [(t, "neg") for t in NEG] * 6
    data = write_tsv(tmp / "train.tsv", rows)
    test = write_tsv(tmp / "test.tsv", [(t, "pos") for t in POS] + [(t, "neg") for t in NEG])
    outcome = commands.train("sentiment", tmp / "run", overrides=[*TINY, f"data.test_path={test}"],
                             data_paths=[str(data)])
    return tmp, outcome


def test_train_writes_run_and_metrics(trained):
    tmp, outcome = trained
    run = outcome.run.root
    assert json.loads((run / "assets/classes.json").read_text())["classes"] == ["neg", "pos"]
    assert (run / "assets/spm.model").is_file() and (run / "confusion_matrix_validation.png").is_file()
    metrics = json.loads((run / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 1 and "val_accuracy" in metrics["epochs"][0]
    # The final evaluation scores the validation split and the data's test split (here data.test_path).
    assert set(metrics["evaluation"]) == {"validation", "test"}
    assert metrics["evaluation"]["validation"] == outcome.evaluation
    assert metrics["evaluation"]["test"]["num_examples"] == 8 and (run / "confusion_matrix_test.png").is_file()
    evaluation = outcome.evaluation
    assert evaluation["num_examples"] == 12 and 0.0 <= evaluation["accuracy"] <= 1.0
    assert set(evaluation) >= {"macro_f1", "precision/neg", "recall/pos", "confusion_matrix"}
    assert np.sum(evaluation["confusion_matrix"]) == 12


def test_evaluate_any_labelled_file(trained, capsys):
    tmp, outcome = trained
    csv = tmp / "eval.csv"
    csv.write_text('label,text\npos,"great, fun"\nneg,"dull, slow"\nneg,poor film\n', encoding="utf-8")
    metrics = commands.evaluate(outcome.run.root, paths=[str(csv)])
    assert metrics["num_examples"] == 3
    printed = capsys.readouterr().out
    assert "confusion matrix" in printed and "macro avg" in printed
    assert (outcome.run.root / "confusion_matrix_eval.png").is_file()
    stored = json.loads((outcome.run.root / "metrics.json").read_text())["evaluation"]
    assert stored[str(csv)]["num_examples"] == 3
    bad = write_tsv(tmp / "bad.tsv", [("great", "pos"), ("meh", "neutral")])
    with pytest.raises(DataError, match=r"bad\.tsv:3: unknown label 'neutral'"):
        commands.evaluate(outcome.run.root, paths=[str(bad)])


def test_predict_export_same_probabilities_without_seqtasks(trained):
    tmp, outcome = trained
    texts = ["great fun", "dull<br />slow film", "", "x " * 40]
    out = io.StringIO()
    results = commands.predict(outcome.run.root, texts, out=out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 4 and lines[0].split("\t")[0] in ("neg", "pos")
    assert [r["label"] for r in results] == [line.split("\t")[0] for line in lines]
    export_dir = commands.export(outcome.run.root, export_dir=tmp / "exported")
    script = textwrap.dedent(f"""
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # noqa: F401
        served = tf.saved_model.load({str(export_dir)!r})
        out = served.signatures["serving_default"](text=tf.constant({texts!r}))
        print(json.dumps({{"p": out["probabilities"].numpy().tolist(),
                           "label": [s.decode() for s in out["label"].numpy()],
                           "seqtasks": any(m.split(".")[0] == "seqtasks" for m in sys.modules)}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}, cwd="/")
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["seqtasks"]
    expected = [[r["probabilities"][c] for c in ("neg", "pos")] for r in results]
    np.testing.assert_allclose(got["p"], expected, rtol=1e-5, atol=1e-6)
    assert got["label"] == [r["label"] for r in results]


def test_finetune_to_three_classes_keeps_encoder_and_tokenizer(trained):
    tmp, outcome = trained
    rows = [(t, "positive") for t in POS] * 3 + [(t, "negative") for t in NEG] * 3 + [(t, "neutral") for t in MID] * 4
    data = write_tsv(tmp / "mine.tsv", rows)
    # The source run's test file has the old labels: the fine-tune names none (it would score it at the end).
    new = commands.finetune(None, outcome.run.root, tmp / "ft", overrides=["train.epochs=1", "data.test_path="],
                            data_paths=[str(data)])
    run = new.run.root
    assert json.loads((run / "assets/classes.json").read_text())["classes"] == ["negative", "neutral", "positive"]
    assert (run / "assets/spm.model").read_bytes() == (outcome.run.root / "assets/spm.model").read_bytes()
    task, model = commands.load_trained(run)
    assert model.get_layer("classifier").get_weights()[0].shape[-1] == 3
    out = io.StringIO()
    results = commands.predict(run, ["an average film"], out=out)
    assert results[0]["label"] in ("negative", "neutral", "positive")
    assert set(results[0]["probabilities"]) == {"negative", "neutral", "positive"}


def test_config_errors(tmp_path):
    data = write_tsv(tmp_path / "d.tsv", [("x", "a"), ("y", "b")] * 4)
    with pytest.raises(ConfigError, match="data.label_map"):
        commands.train("sentiment", tmp_path / "r1", overrides=[*TINY, "data.label_map=a"], data_paths=[str(data)])
    with pytest.raises(ConfigError, match="model.pooling"):
        commands.train("sentiment", tmp_path / "r2", overrides=[*TINY, "model.pooling=sum"], data_paths=[str(data)])


def test_train_batches_are_deterministic_and_class_weighted(tmp_path):
    rows = [(t, "pos") for t in POS] * 2 + [(t, "neg") for t in NEG] * 6
    data = write_tsv(tmp_path / "imbalanced.tsv", rows)
    config = load_config(SentimentConfig, overrides=[*TINY, "train.class_weights=balanced", f"data.path={data}"])
    task = SentimentTask(config, RunDir.at(tmp_path / "run"))
    task.prepare_data()
    first = [[t.numpy() for t in batch] for batch in task.train_dataset(0)]
    again = [[t.numpy() for t in batch] for batch in task.train_dataset(0)]
    other = [[t.numpy() for t in batch] for batch in task.train_dataset(1)]
    assert all(len(b) == 3 for b in first)  # ids, labels, weights
    assert all((a[0] == b[0]).all() for a, b in zip(first, again, strict=True))
    assert any(a[0].shape != b[0].shape or (a[0] != b[0]).any() for a, b in zip(first, other, strict=True))
    labels = np.concatenate([b[1] for b in first])
    weights = np.concatenate([b[2] for b in first])
    counts = np.bincount(labels, minlength=2)
    # Each class carries the same total weight.
    np.testing.assert_allclose([weights[labels == k].sum() for k in (0, 1)], [len(labels) / 2] * 2, rtol=1e-5)
    assert counts[0] > counts[1]
