"""A refused or failed command leaves the run directory as it was, and a failed attempt's settings never stick."""

from __future__ import annotations

import pytest
import yaml

from seqtasks import cli
from seqtasks.config import read_yaml
from seqtasks.errors import CheckpointError, ConfigError, DataError
from seqtasks.runtime import commands
from tests.runtime.test_trainer import TINY
from tests.runtime.toy import ToyTask


def snapshot(folder):
    """Every file under `folder` (relative name -> bytes) and every folder name."""
    return {str(p.relative_to(folder)): (p.read_bytes() if p.is_file() else None) for p in sorted(folder.rglob("*"))}


def test_a_refused_resume_leaves_the_run_untouched(tmp_path, capsys):
    run = tmp_path / "run"
    commands.train("toy_regression", run, overrides=[*TINY, "train.epochs=1"])
    before = snapshot(run)
    with pytest.raises(CheckpointError, match=r"model\.units \(8 -> 4\).*does not fit the model"):
        commands.train("toy_regression", run, overrides=["model.units=4", "train.epochs=2"])
    assert snapshot(run) == before
    code = cli.main(["train", "--task", "toy_regression", "--workdir", str(run), "--set", "model.units=4"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and "model.units (8 -> 4)" in err
    assert snapshot(run) == before
    # The run still works: evaluate, predict and export use its own config.
    assert commands.predict(run, ["1,0,0,0"])
    assert (commands.export(run) / "saved_model.pb").is_file()


def test_a_refused_finetune_does_not_stick(tmp_path):
    commands.train("toy_regression", tmp_path / "src", overrides=[*TINY, "train.epochs=1"])
    with pytest.raises(ConfigError, match=r"model\.units \(8 -> 4\)"):
        commands.finetune("toy_regression", tmp_path / "src", tmp_path / "ft", overrides=["model.units=4"],
                          data_paths=["unused.csv"])
    assert not (tmp_path / "ft").exists()
    out = commands.finetune("toy_regression", tmp_path / "src", tmp_path / "ft", data_paths=["unused.csv"])
    assert out.fit.step > 0 and read_yaml(tmp_path / "ft" / "config.yaml")["model"]["units"] == 8


def test_a_failed_first_attempt_leaves_nothing_and_its_data_does_not_stick(tmp_path, monkeypatch):
    run = tmp_path / "run"
    run.mkdir()
    (run / "mine.txt").write_text("the user's own file")
    original = ToyTask.prepare_data

    def prepare(self, source=None):
        original(self, source)
        self.run.assets.mkdir(parents=True, exist_ok=True)
        (self.run.assets / "vocabulary.json").write_text("[]")  # as a real task saves its preprocessor
        if self.config.data.path:
            raise DataError(f"{self.config.data.path[0]} is too short")

    monkeypatch.setattr(ToyTask, "prepare_data", prepare)
    with pytest.raises(DataError, match="too short"):
        commands.train("toy_regression", run, overrides=TINY, data_paths=["tiny.txt"])
    assert snapshot(run) == {"mine.txt": b"the user's own file"}
    out = commands.train("toy_regression", run, overrides=[*TINY, "train.epochs=1"])  # without --data
    assert out.fit.step == 5 and read_yaml(run / "config.yaml")["data"]["path"] == []
    assert (run / "mine.txt").read_text() == "the user's own file"


def test_a_failure_before_the_first_checkpoint_removes_the_new_run(tmp_path, monkeypatch):
    def crash(self, batch, logs=None):
        raise KeyboardInterrupt

    from seqtasks.runtime import trainer

    monkeypatch.setattr(trainer._LoopCallback, "on_train_batch_end", crash)
    with pytest.raises(KeyboardInterrupt):
        commands.train("toy_regression", tmp_path / "run", overrides=[*TINY, "train.learning_rate=0.5"])
    assert not (tmp_path / "run").exists()


def test_relative_data_paths_are_saved_absolute(tmp_path, monkeypatch):
    (tmp_path / "data.csv").write_text("unused by the toy task")
    monkeypatch.chdir(tmp_path)
    commands.train("toy_regression", "run", overrides=[*TINY, "train.epochs=1"], data_paths=["data.csv"],
                   data_dir="offline")
    saved = yaml.safe_load((tmp_path / "run" / "config.yaml").read_text())["data"]
    assert saved["path"] == [str(tmp_path / "data.csv")] and saved["data_dir"] == str(tmp_path / "offline")
