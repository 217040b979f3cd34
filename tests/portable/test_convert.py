"""LiteRT/ONNX exports: conversion checked in the format's runtime, the numpy runner without TensorFlow, the
config and CLI switches, and the same never-delete rules as SavedModel exports (memory task: the smallest model)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from seqtasks import cli
from seqtasks.config import load_config
from seqtasks.errors import ConfigError
from seqtasks.layers.tracing import portable_target, portable_tracing
from seqtasks.portable import PortableExport, PortableFunction
from seqtasks.portable.convert import write_portable
from seqtasks.runtime import commands
from seqtasks.runtime.export import read_marker
from seqtasks.tasks.memory.config import MemoryConfig
from tests.portable import runner_script

pytest.importorskip("ai_edge_litert")
pytest.importorskip("onnxruntime")
pytest.importorskip("tf2onnx")

TINY = ["model.units=4", "train.batch_size=8", "train.steps_per_epoch=2", "train.epochs=1", "data.sequence_length=6",
        "data.validation_samples=16", "eval.test_samples=16", "eval.batch_size=16"]

# Loads the export's own runner with TensorFlow, Keras and seqtasks unimportable, and runs its pipeline.
STANDALONE = runner_script("""
x = np.load(sys.argv[2])
print(json.dumps(np.asarray(model.predict(x)).tolist()))
""")


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("portable")
    for problem in ("adding", "copy"):
        commands.train("memory", root / problem, overrides=[*TINY, f"data.problem={problem}", "export.after_train=false"])
    return root


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
@pytest.mark.parametrize("problem", ["adding", "copy"])
def test_export_runs_in_its_runtime_without_tensorflow_and_equals_the_saved_model(runs, tmp_path, fmt, problem):
    run = runs / problem
    out = commands.export(run, fmt=fmt)
    assert out == (run / f"export-{fmt}").resolve()
    description = json.loads((out / "export.json").read_text())
    assert description["format"] == fmt and description["pipeline"] == "memory" and description["quantize"] == "none"
    assert (out / ("model.tflite" if fmt == "litert" else "model.onnx")).is_file()
    assert read_marker(out)["export_format"] == fmt
    for where, diff in description["verification"]["outputs"].items():
        assert diff["max_abs_diff"] <= 1e-4 * max(1.0, diff["scale"]), where

    saved = commands.export(run)  # the SavedModel export, next to the converted one
    served = tf.saved_model.load(str(saved)).signatures["serving_default"]
    num_features = 2 if problem == "adding" else json.loads((out / "export.json").read_text())["settings"]["num_features"]
    steps = 9 if problem == "adding" else 6 + 2 * description["settings"]["copy_length"]
    x = np.random.default_rng(1).uniform(0, 1, (4, steps, num_features)).astype(np.float32)
    np.save(tmp_path / "x.npy", x)
    done = subprocess.run([sys.executable, "-c", STANDALONE, str(out), str(tmp_path / "x.npy")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    got = np.asarray(json.loads(done.stdout.strip().splitlines()[-1]))
    want = served(sequence=tf.constant(x))
    if problem == "adding":
        np.testing.assert_allclose(got, want["sum"].numpy(), atol=1e-5)
    else:
        np.testing.assert_array_equal(got, want["symbols"].numpy())


@pytest.mark.parametrize("fmt", ["litert", "onnx"])
@pytest.mark.parametrize("quantize", ["float16", "dynamic_int8"])
def test_quantized_exports_record_their_differences(runs, tmp_path, fmt, quantize):
    out = commands.export(runs / "adding", export_dir=tmp_path / "q", fmt=fmt, quantize=quantize)
    description = json.loads((out / "export.json").read_text())
    assert description["quantize"] == quantize and description["verification"]["tolerance"] is None
    (diff,) = description["verification"]["outputs"].values()
    assert np.isfinite(diff["max_abs_diff"]) and diff["max_abs_diff"] <= 0.05 * max(1.0, diff["scale"])


def test_a_conversion_that_computes_something_else_fails_and_leaves_nothing(tmp_path, monkeypatch):
    model = tf.keras.Sequential([tf.keras.Input((3,)), tf.keras.layers.Dense(2)])
    fn = PortableFunction(lambda x: {"y": model(x)}, [tf.TensorSpec([None, 3], tf.float32, name="x")],
                          {"x": np.ones((2, 3), np.float32)})
    export = PortableExport(model=model, pipeline="memory", functions={"serving_default": fn})
    from seqtasks.portable import convert

    real = convert.standalone.Session.run
    monkeypatch.setattr(convert.standalone.Session, "run", lambda self, *a, **k: {
        n: v + 1.0 for n, v in real(self, *a, **k).items()})
    with pytest.raises(ConfigError, match=r"does not compute what the TensorFlow model does: serving_default/y"):
        write_portable(export, tmp_path / "out", "onnx", "none", "toy")
    # Through `seqtasks export` the folder is a staging sibling, removed on failure (tested below).


def test_a_failed_conversion_keeps_the_previous_export(runs, monkeypatch):
    run = runs / "adding"
    out = commands.export(run, fmt="onnx")
    before = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}
    from seqtasks.portable import convert

    def broken(*args, **kwargs):
        raise ConfigError("LiteRT conversion failed (builtin ops only): test")

    monkeypatch.setattr(convert, "write_portable", broken)
    with pytest.raises(ConfigError, match="conversion failed"):
        commands.export(run, fmt="onnx")
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == before
    assert not [p for p in run.iterdir() if p.name.startswith(".")]


def test_portable_exports_follow_the_never_delete_rules(runs, tmp_path):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "export.json").write_text("{}")  # looks like an export, but has a file seqtasks never writes
    (mine / "notes.txt").write_text("keep")
    with pytest.raises(ConfigError, match="is not a seqtasks export"):
        commands.export(runs / "adding", export_dir=mine, fmt="litert", force=True)
    assert sorted(p.name for p in mine.iterdir()) == ["export.json", "notes.txt"]
    other = commands.export(runs / "copy", export_dir=tmp_path / "other", fmt="litert")
    with pytest.raises(ConfigError, match="--force"):
        commands.export(runs / "adding", export_dir=other, fmt="onnx")
    commands.export(runs / "adding", export_dir=other, fmt="onnx", force=True)
    assert sorted(p.name for p in other.iterdir()) == [
        "export.json", "model.onnx", "seqtasks_export.json", "seqtasks_portable.py"]


def test_cli_format_and_quantize_and_config_checks(runs, capsys):
    code = cli.main(["export", "--workdir", str(runs / "adding"), "--format", "litert", "--quantize", "float16"])
    assert code == 0 and "export-litert" in capsys.readouterr().out
    code = cli.main(["export", "--workdir", str(runs / "adding"), "--quantize", "float16"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "applies to --format litert or onnx" in err
    with pytest.raises(ConfigError, match=r"export.quantize.*applies to export.format litert or onnx"):
        load_config(MemoryConfig, overrides=["export.quantize=dynamic_int8"])
    with pytest.raises(ConfigError, match="export.format"):
        load_config(MemoryConfig, overrides=["export.format=tflite"])
    assert load_config(MemoryConfig, overrides=["export.format=onnx", "export.quantize=float16"]).export.quantize == "float16"


def test_train_exports_the_configured_format(tmp_path):
    outcome = commands.train("memory", tmp_path / "run", overrides=[*TINY, "export.format=litert"])
    assert (outcome.export_dir / "model.tflite").is_file()
    assert json.loads((outcome.export_dir / "export.json").read_text())["format"] == "litert"


def test_portable_tracing_is_scoped():
    assert portable_target() is None
    with portable_tracing("litert"):
        assert portable_target() == "litert"
        with portable_tracing("onnx"):
            assert portable_target() == "onnx"
        assert portable_target() == "litert"
    assert portable_target() is None
    with pytest.raises(ValueError, match="expected one of"):
        with portable_tracing("coreml"):
            pass


def test_the_runner_imports_nothing_of_tensorflow_or_seqtasks():
    from seqtasks.portable import standalone

    tree = ast.parse(open(standalone.__file__, encoding="utf-8").read())
    imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                for alias in node.names}
    imported |= {node.module.split(".")[0] for node in ast.walk(tree)
                 if isinstance(node, ast.ImportFrom) and node.module and node.module != "__future__"}
    allowed = {"json", "os", "re", "math", "pathlib", "typing", "collections", "dataclasses", "numpy",
               "ai_edge_litert", "onnxruntime", "sentencepiece", "unicodedata", "functools", "itertools"}
    assert imported <= allowed, imported - allowed


def test_the_runner_loads_export_folders_only_and_names_what_is_missing(runs, tmp_path):
    from seqtasks.portable import standalone

    run = runs / "adding"
    out = run / "export-onnx"
    if not (out / "export.json").is_file():
        out = commands.export(run, fmt="onnx")
    # export.json records each output's dtype and shape (None: any size).
    description = json.loads((out / "export.json").read_text())
    assert description["signatures"]["serving_default"]["outputs"] == [
        {"name": "sum", "dtype": "float32", "shape": [None]}]
    x = np.zeros((2, 5, 2), np.float32)
    want = standalone.load(out).predict(x)
    for path in (out / "export.json", out / "model.onnx"):  # a file of the folder: its folder
        np.testing.assert_array_equal(standalone.load(path).predict(x), want)
    # Malformed sequences: one line naming the expected shape, not an error from inside the runtime.
    model = standalone.load(out)
    for bad, match in ((np.zeros((2, 0, 2)), r"at least 1 step"), (np.zeros((2, 5, 3)), r"\(batch, T, 2\)"),
                       (np.zeros((5, 2)), r"\(batch, T, 2\)")):
        with pytest.raises(ValueError, match=match) as caught:
            model.predict(bad)
        assert "\n" not in str(caught.value)

    def fails(error, match, path):
        with pytest.raises(error, match=match) as caught:
            standalone.load(path)
        assert "\n" not in str(caught.value)
        return str(caught.value)

    saved = run / "export"
    if not (saved / "saved_model.pb").is_file():
        saved = commands.export(run)
    fails(ValueError, "is a SavedModel.*tf.saved_model.load", saved)
    empty = tmp_path / "empty"
    empty.mkdir()
    fails(FileNotFoundError, f"{empty} holds no export.json", empty)
    fails(FileNotFoundError, "no such export folder", tmp_path / "nowhere")
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(out, broken)
    (broken / "model.onnx").unlink()
    message = fails(FileNotFoundError, "model.onnx is missing from the export folder", broken)
    assert str(broken) in message
    session = standalone.Session(out)
    with pytest.raises(ValueError, match=r"must have shape \(any, any, 2\), got \(5, 2\)"):
        session.run(sequence=np.zeros((5, 2), np.float32))
