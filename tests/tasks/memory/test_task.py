"""The `memory` task through the shared runtime: train, evaluate, predict, export (reloaded without seqtasks),
config checks, and (slow) that a GRU really solves a short adding problem."""

import io
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from seqtasks.config import load_config
from seqtasks.errors import ConfigError, DataError
from seqtasks.runtime import commands
from seqtasks.tasks.memory import data as md
from seqtasks.tasks.memory.config import MemoryConfig

ROOT = Path(__file__).resolve().parents[3]
TINY = ["model.units=6", "train.batch_size=8", "train.epochs=2", "train.steps_per_epoch=3", "train.verbose=none",
        "data.validation_samples=16", "eval.test_samples=40", "eval.batch_size=16", "train.checkpoint_every_steps=0"]


@pytest.fixture(scope="module")
def adding_run(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("memory")
    outcome = commands.train("memory", tmp / "adding", overrides=TINY + ["data.sequence_length=6"])
    return outcome


def test_train_reports_test_mse_and_baseline(adding_run):
    e = adding_run.evaluation
    assert set(e) == {"test_mse", "baseline_mse", "solved"}
    assert e["test_mse"] > 0 and 0.05 < e["baseline_mse"] < 0.35
    assert e["solved"] is (e["test_mse"] < 0.01)
    metrics = json.loads((adding_run.run.root / "metrics.json").read_text())
    assert len(metrics["epochs"]) == 2 and "val_loss" in metrics["epochs"][0]
    assert metrics["evaluation"] == {"test": e}  # the fixed test set is scored, filed as "test"
    assert not (adding_run.run.root / "assets").exists() or not any((adding_run.run.root / "assets").iterdir())
    assert adding_run.fit.step == 6


def test_evaluate_matches_train_and_rejects_files(adding_run):
    again = commands.evaluate(adding_run.run.root, out=io.StringIO())
    assert again["test_mse"] == pytest.approx(adding_run.evaluation["test_mse"], rel=1e-5)
    assert set(json.loads((adding_run.run.root / "metrics.json").read_text())["evaluation"]) == {"test"}
    with pytest.raises(ConfigError, match="reads no files"):
        commands.evaluate(adding_run.run.root, paths=["x.tsv"], out=io.StringIO())


def test_predict_parses_marked_numbers_and_random(adding_run):
    out = io.StringIO()
    results = commands.predict(adding_run.run.root, ["0.2 0.7* 0.1 0.4* 0.9", "random"], out=out)
    assert results[0]["marked"] == pytest.approx([0.7, 0.4]) and results[0]["steps"] == 5
    assert "target" in results[1] and results[1]["steps"] == 6
    assert out.getvalue().count("sum:") == 2
    with pytest.raises(DataError, match="is not a number"):
        commands.predict(adding_run.run.root, ["0.2 x* 0.3"], out=io.StringIO())


def test_export_runs_without_seqtasks(adding_run):
    export_dir = adding_run.export_dir
    x, _ = md.fixed_set("adding", 0, md.EXAMPLES, 3, 6)
    _, model = commands.load_trained(adding_run.run.root)
    expected = model(x).numpy()[:, 0]
    script = textwrap.dedent(f"""
        import json, sys
        import numpy as np, tensorflow as tf
        served = tf.saved_model.load({str(export_dir)!r})
        x = np.array({x.numpy().tolist()!r}, np.float32)
        out = served.signatures["serving_default"](sequence=tf.constant(x))
        print(json.dumps({{"sum": out["sum"].numpy().tolist(),
                           "seqtasks": any(m.split(".")[0] == "seqtasks" for m in sys.modules)}}))
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          env={"TF_CPP_MIN_LOG_LEVEL": "2", "PATH": "/usr/bin:/bin"}, cwd="/")
    assert proc.returncode == 0, proc.stderr[-2000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert not got["seqtasks"]
    np.testing.assert_allclose(got["sum"], expected, rtol=1e-5, atol=1e-6)


def test_copy_problem_end_to_end(tmp_path):
    overrides = TINY + ["data.problem=copy", "data.sequence_length=3", "data.copy_length=2", "data.num_symbols=3",
                        "model.cell_type=gru", "export.after_train=false"]
    outcome = commands.train("memory", tmp_path / "copy", overrides=overrides)
    e = outcome.evaluation
    assert set(e) == {"copy_accuracy", "baseline_accuracy", "solved"}
    assert 0.0 <= e["copy_accuracy"] <= 1.0 and e["baseline_accuracy"] == pytest.approx(1 / 3)
    assert "val_copy_accuracy" in json.loads((outcome.run.root / "metrics.json").read_text())["epochs"][0]
    out = io.StringIO()
    results = commands.predict(outcome.run.root, ["1 3", "random"], out=out)
    assert results[0]["input"] == "1 3" and len(results[0]["recalled"]) == 2
    assert "after a delay of 3" in out.getvalue()
    with pytest.raises(DataError, match="2 integers in 1..3"):
        commands.predict(outcome.run.root, ["1 4"], out=io.StringIO())


@pytest.mark.parametrize("override,match", [
    ("data.path=a.txt", "generates its data"),
    ("data.sequence_length=1", "sequence_length must be >= 2 for the adding problem"),
    ("model.activation=relux", r"'model.activation' \(from --set\) expects one of '', 'tanh'"),
    ("data.copy_length=0", r"'data.copy_length' \(from --set\) must be at least 1, got 0"),
    ("data.num_symbols=0", "'data.num_symbols' .* must be at least 1"),
    ("data.validation_samples=0", "'data.validation_samples' .* must be at least 1"),
    ("eval.test_samples=0", "'eval.test_samples' .* must be at least 1"),
    ("model.units=0", "'model.units' .* must be at least 1"),
])
def test_bad_config_is_one_line_error(tmp_path, override, match):
    with pytest.raises(ConfigError, match=match) as info:
        commands.train("memory", tmp_path / "bad", overrides=TINY + [override])
    assert "\n" not in str(info.value)
    assert not (tmp_path / "bad").exists() or not any((tmp_path / "bad").iterdir())


def test_schema_checks_ranges_before_the_task(tmp_path):
    # The ranges are the schema's (config loading), the copy problem's delay of 1 is valid.
    with pytest.raises(ConfigError, match="'data.sequence_length' .* must be at least 1"):
        load_config(MemoryConfig, overrides=["data.problem=copy", "data.sequence_length=0"])
    assert load_config(MemoryConfig, overrides=["data.problem=copy", "data.sequence_length=1"]).data.sequence_length == 1


def test_recipe_config_lists_the_defaults():
    assert load_config(MemoryConfig, [ROOT / "recipes/configs/memory.yaml"]) == MemoryConfig()


def test_every_key_has_a_comment_in_the_recipe_config():
    import dataclasses

    lines = (ROOT / "recipes/configs/memory.yaml").read_text().splitlines()
    for section in dataclasses.fields(MemoryConfig):
        start = lines.index(f"{section.name}:")
        for f in dataclasses.fields(getattr(MemoryConfig(), section.name)):
            idx = next(i for i in range(start, len(lines)) if lines[i].strip().startswith(f"{f.name}:"))
            assert lines[idx - 1].strip().startswith("#"), f"{section.name}.{f.name} has no comment above it"


@pytest.mark.slow
def test_gru_solves_a_short_adding_problem(tmp_path):
    overrides = ["model.cell_type=gru", "model.units=32", "data.sequence_length=20", "train.epochs=8",
                 "train.steps_per_epoch=100", "train.learning_rate=0.003", "train.verbose=none",
                 "export.after_train=false"]
    outcome = commands.train("memory", tmp_path / "gru20", overrides=overrides)
    assert outcome.evaluation["test_mse"] < 0.01, outcome.evaluation
