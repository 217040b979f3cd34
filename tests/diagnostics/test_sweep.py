"""Memory sweep smoke runs with tiny settings: statuses, skipping after a failure, the table and the files."""

import csv

import pytest

from seqtasks.diagnostics import sweep as sw
from seqtasks.errors import ConfigError

TINY = ["model.units=4", "train.batch_size=4", "data.validation_samples=8", "eval.test_samples=8",
        "train.checkpoint_every_steps=0"]


def test_sweep_solved_everywhere_trains_every_length(tmp_path):
    result = sw.sweep(["gru"], [5, 3], steps=2, steps_per_epoch=1, workdir=tmp_path,
                      overrides=TINY + ["eval.solved_mse=1e9"])
    assert result.lengths == [3, 5]
    assert [(r.sequence_length, r.status, r.steps) for r in result.runs] == [(3, "solved", 2), (5, "solved", 2)]
    assert result.longest_solved("gru") == 5
    rows = list(csv.DictReader((tmp_path / "sweep.csv").open()))
    assert [r["status"] for r in rows] == ["solved", "solved"] and float(rows[0]["test_mse"]) > 0
    assert (tmp_path / "sweep.png").stat().st_size > 1000
    assert "| gru |" in (tmp_path / "sweep.md").read_text()


def test_sweep_skips_longer_lengths_after_a_failure(tmp_path, capsys):
    assert sw.main(["--cells", "simple_rnn", "--lengths", "3", "4", "--steps", "1", "--workdir", str(tmp_path)]
                   + [a for s in TINY + ["eval.solved_mse=0"] for a in ("--set", s)]) == 0
    out = capsys.readouterr().out
    assert "| simple_rnn |" in out and "skipped" in out and "longest T solved = none" in out
    assert not (tmp_path / "simple_rnn_T4").exists()


def test_sweep_rejects_bad_arguments(tmp_path):
    with pytest.raises(ConfigError, match="unknown cell type"):
        sw.sweep(["rnn"], [3], workdir=tmp_path)
    with pytest.raises(ConfigError, match="lengths must be"):
        sw.sweep(["gru"], [1], workdir=tmp_path)
