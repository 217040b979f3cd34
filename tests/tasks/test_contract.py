"""The task contract, for every registered task (`list_tasks()`): train a tiny model -> evaluate -> predict ->
export -> reload the SavedModel in a process where seqtasks cannot be imported, and get what the in-process
serving module gives -> fine-tune from the run. Plus what every task folder and config must provide.

A new task is added to `CASES` with its tiny settings; the test fails until it is (so none is forgotten).
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile

from seqtasks.config import config_to_dict, load_config, read_yaml
from seqtasks.errors import ConfigError
from seqtasks.runtime import commands
from seqtasks.runtime.task import Task
from seqtasks.tasks import get_task, list_tasks

ROOT = Path(__file__).resolve().parents[2]
QUIET = ["train.verbose=none", "train.checkpoint_every_steps=0", "train.max_minutes=0", "train.epochs=1"]


@dataclass
class Case:
    """How to run one task tiny: its settings, data and inputs."""

    overrides: list[str]
    data: Callable[[Path], dict[str, Any]]  # folder -> train/finetune keyword arguments (data_paths / data_dir)
    finetune_data: Callable[[Path], dict[str, Any]]
    predict_inputs: Callable[[Path], list[str]]
    signature: str
    serving_inputs: Callable[[Path], dict[str, Any]]  # folder -> signature keyword arguments (numpy / lists)
    finetune_overrides: list[str] = field(default_factory=list)


def _lines(path: Path, rows: list[str]) -> Path:
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _text(tmp: Path) -> dict[str, Any]:
    line = "to be or not to be that is the question whether tis nobler in the mind to suffer"
    return {"data_paths": [str(_lines(tmp / "text.txt", [line] * 12))]}


def _sentiment(tmp: Path) -> dict[str, Any]:
    rows = ["text\tlabel"] + [f"a great fun film {i}\tpos" for i in range(12)] + [f"a dull slow film {i}\tneg" for i in range(12)]
    return {"data_paths": [str(_lines(tmp / "reviews.tsv", rows))]}


def _pairs(tmp: Path) -> dict[str, Any]:
    words = {"cat": "chat", "dog": "chien", "house": "maison", "tree": "arbre", "car": "voiture"}
    adjectives = {"big": "grand", "small": "petit", "green": "vert", "old": "vieux"}
    rows = [f"The {a} {n}.\tLe {fn} {fa}." for n, fn in words.items() for a, fa in adjectives.items()]
    return {"data_paths": [str(_lines(tmp / "pairs.tsv", rows))]}


def _language_rows(tmp: Path) -> dict[str, Any]:
    rows = [f"the {w} is here\ten" for w in ("cat", "dog", "car", "tree")] * 5
    rows += [f"le {w} est ici\tfr" for w in ("chat", "chien", "arbre", "vélo")] * 5
    return {"data_paths": [str(_lines(tmp / "languages.tsv", rows))]}


def _fsdd(tmp: Path) -> dict[str, Any]:
    """A few FSDD-named recordings: synthetic tones (so the test needs no shared data)."""
    folder = tmp / "fsdd" / "recordings"
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for speaker in ("george", "jackson"):
        for digit in range(10):
            for index in (0, 1, 5, 10, 11):
                t = np.arange(2400) / 8000
                tone = 0.3 * np.sin(2 * np.pi * (200 + 60 * digit) * t) + 0.01 * rng.standard_normal(t.size)
                soundfile.write(folder / f"{digit}_{speaker}_{index}.wav", tone.astype(np.float32), 8000)
    return {"data_dir": str(tmp)}


def _speech_manifest(tmp: Path) -> dict[str, Any]:
    _fsdd(tmp)
    names = ["zero", "one", "two", "three", "four", "five"]
    rows = ["path,transcript"] + [f"{tmp}/fsdd/recordings/{d}_jackson_0.wav,{w}" for d, w in enumerate(names)]
    return {"data_paths": [str(_lines(tmp / "mine.csv", rows))]}


def _wave(tmp: Path) -> dict[str, Any]:
    audio, _ = soundfile.read(tmp / "fsdd" / "recordings" / "3_george_0.wav", dtype="float32")
    return {"waveforms": audio[None], "lengths": np.array([audio.size], np.int32)}


CASES: dict[str, Case] = {
    "text_generation": Case(
        ["model.units=8", "model.embedding_dim=4", "data.seq_len=16", "train.batch_size=8", "eval.chunk_len=32",
         "predict.num_chars=12"],
        _text, _text, lambda tmp: ["to be"], "score", lambda tmp: {"text": "to be or not"},
    ),
    "sentiment": Case(
        ["data.vocab_size=40", "data.max_length=12", "data.num_buckets=2", "data.validation_split=0.25",
         "model.embedding_dim=4", "model.units=4", "train.batch_size=8"],
        _sentiment, _sentiment, lambda tmp: ["a great film"], "serving_default",
        lambda tmp: {"text": ["a great film", "a dull film"]},
    ),
    "translation": Case(
        ["data.source_vocab_size=40", "data.target_vocab_size=40", "data.valid_size=0.1", "data.test_size=0.1",
         "model.embedding_dim=8", "model.encoder_units=8", "model.decoder_units=8", "train.batch_size=8",
         "eval.batch_size=8", "eval.beam_size=2", "eval.max_sentences=3"],
        _pairs, _pairs, lambda tmp: ["The big cat."], "translate", lambda tmp: {"source": ["The big cat."]},
    ),
    "speech_recognition": Case(
        ["data.train_utterances=8", "data.validation_utterances=2", "data.test_utterances=2", "data.max_digits=1",
         "data.validation_indices=5", "model.units=4", "model.num_layers=1", "model.conv_filters=2,2",
         "model.n_mels=8", "model.freq_mask_width=1", "train.batch_size=4", "eval.batch_size=4",
         "eval.beam_width=1"],
        _fsdd, _speech_manifest, lambda tmp: [str(tmp / "fsdd" / "recordings" / "3_george_0.wav")],
        "transcribe_batch", _wave, ["data.validation_fraction=0.25"],
    ),
    "memory": Case(
        ["model.units=4", "train.batch_size=8", "train.steps_per_epoch=2", "data.sequence_length=6",
         "data.validation_samples=16", "eval.test_samples=16", "eval.batch_size=16"],
        lambda tmp: {}, lambda tmp: {}, lambda tmp: ["0.2 0.7* 0.1 0.4* 0.9"], "serving_default",
        lambda tmp: {"sequence": np.array([[[0.2, 0.0], [0.7, 1.0], [0.1, 0.0], [0.4, 1.0]]], np.float32)},
        ["data.sequence_length=8"],  # a curriculum: fine-tune on longer sequences
    ),
    "language_identification": Case(
        ["model.units=4", "model.embedding_dim=4", "train.batch_size=8", "data.validation_fraction=0.2",
         "data.min_char_count=1"],
        _language_rows, _language_rows, lambda tmp: ["le chat est ici"], "serving_default",
        lambda tmp: {"text": ["le chien est ici", "the dog is here", ""]},
    ),
}

RELOAD = """
import json, sys
sys.modules["seqtasks"] = None  # any import of seqtasks now fails
import numpy as np, tensorflow as tf
import tensorflow_text  # noqa: F401 - registers the SentencePiece ops of the exported tokenizers (as a server must)
served = tf.saved_model.load(sys.argv[1])
inputs = {k: tf.constant(np.load(sys.argv[2], allow_pickle=False)[k]) for k in json.loads(sys.argv[3])}
out = {k: v.numpy() for k, v in served.signatures[sys.argv[4]](**inputs).items()}
strings = {k: np.vectorize(lambda b: b.decode("utf-8"))(v).astype(str) for k, v in out.items() if v.dtype == object}
np.savez(sys.argv[5], **{**out, **strings})
"""


def _shipped_tasks() -> set[str]:
    # Tasks that other test modules register for themselves (tests/runtime/toy.py) are fixtures, not shipped tasks;
    # which of them are registered depends on the order pytest imports the test modules.
    return {name for name in list_tasks() if not get_task(name).__module__.startswith("tests.")}


def test_every_registered_task_has_a_contract_case():
    assert _shipped_tasks() == set(CASES), "add the new task's tiny settings to CASES"


def _as_arrays(inputs: dict[str, Any]) -> dict[str, np.ndarray]:
    return {k: np.asarray(v) if not isinstance(v, str) else np.asarray(v, dtype=str) for k, v in inputs.items()}


@pytest.mark.parametrize("name", sorted(CASES))
def test_train_evaluate_predict_export_reload_finetune(name, tmp_path):
    case = CASES[name]
    data = case.data(tmp_path)
    outcome = commands.train(name, tmp_path / "run", overrides=QUIET + case.overrides, **data)
    assert outcome.evaluation and outcome.export_dir is not None
    assert json.loads(outcome.run.metrics.read_text())["evaluation"]

    metrics = commands.evaluate(outcome.run.root, out=io.StringIO())  # again, from the run directory alone
    assert set(metrics) == set(outcome.evaluation)
    for key, value in outcome.evaluation.items():
        if "second" in key:  # timings differ from run to run
            continue
        if isinstance(value, float):
            assert metrics[key] == pytest.approx(value, rel=1e-4, abs=1e-6), key
        else:
            assert metrics[key] == value, key
    printed = io.StringIO()
    results = commands.predict(outcome.run.root, case.predict_inputs(tmp_path), out=printed)
    assert len(results) == len(case.predict_inputs(tmp_path)) and printed.getvalue().strip()

    # The SavedModel in a process without seqtasks gives what the in-process serving module gives.
    task, model = commands.load_trained(outcome.run.root)
    inputs = _as_arrays(case.serving_inputs(tmp_path))
    module = task.serving_module(model)
    expected = module.signatures()[case.signature](**inputs)
    np.savez(tmp_path / "inputs.npz", **inputs)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    proc = subprocess.run(
        [sys.executable, "-c", RELOAD, str(outcome.export_dir), str(tmp_path / "inputs.npz"), json.dumps(list(inputs)),
         case.signature, str(tmp_path / "outputs.npz")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = np.load(tmp_path / "outputs.npz")
    assert set(got.files) == set(expected)
    for key, value in expected.items():
        value = value.numpy()
        if value.dtype == object:
            value = np.vectorize(lambda b: b.decode("utf-8"))(value).astype(str)
        if value.dtype.kind in "fc":
            np.testing.assert_allclose(got[key], value, rtol=1e-5, atol=1e-5, err_msg=key)
        else:
            np.testing.assert_array_equal(got[key], value, err_msg=key)

    # LiteRT: a task with a portable export converts (verified in the interpreter inside `export`); one without
    # says so in one line and writes nothing.
    if type(task).portable_export is not Task.portable_export:
        converted = commands.export(outcome.run.root, fmt="litert")
        assert json.loads((converted / "export.json").read_text())["task"] == name
    else:
        with pytest.raises(ConfigError, match="has no LiteRT/ONNX export"):
            commands.export(outcome.run.root, fmt="litert")
        assert not (outcome.run.root / "export-litert").exists()

    (tmp_path / "new").mkdir()
    tuned = commands.finetune(None, outcome.run.root, tmp_path / "tuned", overrides=case.finetune_overrides,
                              **case.finetune_data(tmp_path / "new"))
    assert tuned.evaluation and (tuned.export_dir / "saved_model.pb").is_file()
    assert read_yaml(tuned.run.config)  # the fine-tuned run is a complete run of its own


@pytest.mark.parametrize("name", sorted(CASES))
def test_default_yaml_lists_every_key_with_a_comment_and_equals_the_defaults(name):
    """Per-task defaults live in the config dataclasses; recipes/configs/<task>.yaml lists every key, commented."""
    cls = get_task(name).config_class
    path = ROOT / "recipes" / "configs" / f"{name}.yaml"
    assert config_to_dict(load_config(cls, [path])) == config_to_dict(cls())
    lines = path.read_text(encoding="utf-8").splitlines()
    for section in dataclasses.fields(cls):
        start = lines.index(f"{section.name}:")
        for f in dataclasses.fields(getattr(cls(), section.name)):
            at = next(i for i in range(start + 1, len(lines)) if lines[i].strip().startswith(f"{f.name}:"))
            above = at - 1  # a comment above the key, or above the group of keys it belongs to
            while lines[above].startswith("  ") and not lines[above].strip().startswith("#"):
                above -= 1
            assert lines[above].strip().startswith("#"), f"{path.name}: {section.name}.{f.name} has no comment"


@pytest.mark.parametrize("name", sorted(CASES))
def test_preprocessor_build_is_deterministic(name, tmp_path):
    """Every worker of a multi-worker run builds its own preprocessor: two builds must save identical files."""
    case = CASES[name]
    cls = get_task(name)
    config = load_config(cls.config_class, overrides=QUIET + case.overrides)
    data = case.data(tmp_path)
    if data.get("data_paths"):
        config.data.path = data["data_paths"]
    if data.get("data_dir"):
        config.data.data_dir = data["data_dir"]
    saved = []
    for attempt in ("a", "b"):
        from seqtasks.runtime.run_dir import RunDir

        task = cls(config, RunDir.at(tmp_path / attempt))
        task.prepare_data()
        folder = tmp_path / attempt / "assets"
        saved.append({p.name: p.read_bytes() for p in sorted(folder.glob("*"))} if folder.is_dir() else {})
    assert saved[0] == saved[1]
    assert set(saved[0]) == set(cls.preprocessor_class.files)
