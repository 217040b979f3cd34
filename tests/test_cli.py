"""The `seqtasks` command: user errors are one line `error: ...` with exit status 2, never a traceback."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from seqtasks import cli
from seqtasks.data import shakespeare

SEQTASKS = Path(sys.executable).with_name("seqtasks")


def run_main(capsys, *argv):
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_line_error(code, err, expected):
    assert code == 2
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in err, err
    assert expected in lines[0], lines[0]


def test_console_script_reports_config_errors_in_one_line(tmp_path):
    assert SEQTASKS.is_file(), "the package must be installed (make install) for the `seqtasks` entry point"
    proc = subprocess.run(
        [str(SEQTASKS), "train", "--task", "text_generation", "--workdir", str(tmp_path / "run"),
         "--set", "train.lerning_rate=0.1"],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert_one_line_error(
        proc.returncode, "\n".join(ln for ln in proc.stderr.splitlines() if ln.startswith("error") or "Trace" in ln),
        "unknown config key 'train.lerning_rate' (from --set); did you mean 'train.learning_rate'?",
    )
    assert not (tmp_path / "run").exists()  # nothing is written for a bad config


@pytest.mark.parametrize(
    "content, expected",
    [(None, "does not exist"), (b"", "is empty"), (b"\x00\x01\x02binary", "looks like a binary file"),
     (b"caf\xe9\n", "is not UTF-8 text (byte 0xe9 at offset 3, line 1)")],
)
def test_bad_text_files(capsys, tmp_path, content, expected):
    path = tmp_path / "input.txt"
    if content is not None:
        path.write_bytes(content)
    code, _, err = run_main(capsys, "train", "--task", "text_generation", "--workdir", str(tmp_path / "run"),
                            "--data", str(path))
    assert_one_line_error(code, err, expected)
    assert str(path) in err


def test_dataset_missing_offline(capsys, tmp_path, monkeypatch):
    monkeypatch.delenv("SEQTASKS_DATA_DIR", raising=False)
    monkeypatch.setattr(shakespeare, "network_available", lambda *a, **k: False)
    code, _, err = run_main(capsys, "train", "--task", "text_generation", "--workdir", str(tmp_path / "run"),
                            "--set", f"data.tfds_data_dir={tmp_path / 'tfds'}")
    assert_one_line_error(code, err, "dataset 'tiny_shakespeare' is not available offline")
    assert "--data-dir" in err and "input.txt" in err


def test_unknown_task_and_missing_run(capsys, tmp_path):
    code, _, err = run_main(capsys, "train", "--task", "text_generaton", "--workdir", str(tmp_path / "r"))
    assert_one_line_error(code, err, "unknown task 'text_generaton'")
    assert "did you mean 'text_generation'" in err
    code, _, err = run_main(capsys, "evaluate", "--workdir", str(tmp_path / "nothing"))
    assert_one_line_error(code, err, "is not a seqtasks run directory")
    code, _, err = run_main(capsys, "predict", "--task", "text_generation", "--workdir", str(tmp_path / "nothing"))
    assert_one_line_error(code, err, "does not exist")
    code, _, err = run_main(capsys, "train", "--task", "text_generation", "--workdir", str(tmp_path / "r"),
                            "--config", str(tmp_path / "missing.yaml"))
    assert_one_line_error(code, err, "config file")


def test_cli_train_predict_export_roundtrip(capsys, tmp_path, monkeypatch):
    text = tmp_path / "t.txt"
    text.write_text("to be or not to be, that is the question\n" * 30)
    sets = ["model.units=8", "model.embedding_dim=4", "data.seq_len=16", "train.epochs=1", "train.verbose=none",
            "export.after_train=false", "train.max_minutes=0"]
    code, out, err = run_main(capsys, "train", "--task", "text_generation", "--workdir", str(tmp_path / "run"),
                              "--data", str(text), *[x for s in sets for x in ("--set", s)])
    assert code == 0, err
    assert "bits_per_char:" in out and "exported" not in out
    code, out, _ = run_main(capsys, "predict", "--workdir", str(tmp_path / "run"), "--set", "predict.num_chars=12",
                            "--set", "predict.sampler=greedy", "to be")
    assert code == 0 and out.startswith("to be") and len(out.rstrip("\n")) == len("to be") + 12
    code, out, _ = run_main(capsys, "export", "--workdir", str(tmp_path / "run"), "--out", str(tmp_path / "sm"))
    assert code == 0 and (tmp_path / "sm" / "saved_model.pb").is_file()
    latin1 = tmp_path / "prompts.txt"
    latin1.write_bytes(b"ok\ncaf\xe9\n")
    code, _, err = run_main(capsys, "predict", "--workdir", str(tmp_path / "run"), "--input-file", str(latin1))
    assert_one_line_error(code, err, f"input file {latin1} is not UTF-8 text (byte 0xe9 at offset 6, line 2)")
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(b"caf\xe9\n"), encoding="utf-8"))
    code, _, err = run_main(capsys, "predict", "--workdir", str(tmp_path / "run"), "--input-file", "-")
    assert_one_line_error(code, err, "standard input is not UTF-8 text (byte 0xe9 at offset 3")
    code, _, err = run_main(capsys, "finetune", "--from", str(tmp_path / "run"), "--workdir", str(tmp_path / "run"),
                            "--data", str(text))
    assert_one_line_error(code, err, "must differ from --from")


@pytest.mark.parametrize("override", ["train.batch_size=0", "model.dropout=1.5", "train.learning_rate=nan"])
def test_bad_values_are_one_line_errors_from_the_cli_and_the_recipes(capsys, tmp_path, override):
    code, _, err = run_main(capsys, "train", "--task", "text_generation", "--workdir", str(tmp_path / "run"),
                            "--set", override)
    assert_one_line_error(code, err, f"config key '{override.split('=')[0]}' (from --set) must be")
    if override != "train.batch_size=0":
        return
    proc = subprocess.run(  # the recipes report user errors through the same helper as the CLI
        [sys.executable, str(Path(__file__).parents[1] / "recipes" / "text_generation.py"),
         "--workdir", str(tmp_path / "run"), "--set", override],
        capture_output=True, text=True, timeout=300, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
    assert [ln for ln in proc.stderr.splitlines() if ln.strip()] == [
        "error: config key 'train.batch_size' (from --set) must be at least 1, got 0; fix the value"]
    assert not (tmp_path / "run").exists()
