"""Exports never delete what seqtasks did not write, and replace a previous export atomically."""

from __future__ import annotations

import sys

import pytest

from seqtasks import cli
from seqtasks.errors import ConfigError
from seqtasks.runtime import commands
from seqtasks.runtime.export import MARKER, read_marker
from tests.runtime.test_trainer import TINY
from tests.runtime.toy import ToyTask  # noqa: F401 - registers toy_regression


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("runs")
    for name in ("a", "b"):
        commands.train("toy_regression", root / name, overrides=[*TINY, "train.epochs=1", "export.after_train=true"])
    return root


def snapshot(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_train_writes_a_marked_export_and_rerunning_replaces_it(runs):
    export = runs / "a" / "export"
    assert (export / "saved_model.pb").is_file() and read_marker(export)["run"] == str(runs / "a")
    again = commands.train("toy_regression", runs / "a", overrides=["export.after_train=true"])  # already done
    assert again.export_dir == export and read_marker(export)["task"] == "toy_regression"
    assert [p.name for p in runs.joinpath("a").iterdir() if p.name.startswith(".")] == []  # no staging left


def test_a_folder_with_other_files_is_never_emptied(runs, tmp_path, capsys, monkeypatch):
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    (mine / "saved_model.pb").write_bytes(b"not ours")
    before = snapshot(mine)
    for force in (False, True):
        with pytest.raises(ConfigError, match=r"is not empty and is not a seqtasks export.*new or empty --out"):
            commands.export(runs / "a", export_dir=mine, force=force)
    assert snapshot(mine) == before
    monkeypatch.chdir(mine)  # `seqtasks export --out .` used to empty the current folder
    code = cli.main(["export", "--workdir", str(runs / "a"), "--out", ".", "--force"])
    err = capsys.readouterr().err
    assert code == 2 and len(err.strip().splitlines()) == 1 and str(mine) in err
    assert snapshot(mine) == before and sorted(p.name for p in tmp_path.iterdir()) == ["mine"]
    (tmp_path / "file").write_text("x")
    with pytest.raises(ConfigError, match="is not a folder"):
        commands.export(runs / "a", export_dir=tmp_path / "file")


def test_another_runs_export_needs_force_and_a_failed_export_keeps_the_old_one(runs, tmp_path, monkeypatch):
    out = tmp_path / "out"
    assert commands.export(runs / "a", export_dir=out) == out
    commands.export(runs / "a", export_dir=out)  # the same run's export: replaced without --force
    with pytest.raises(ConfigError, match=r"holds an export of run .*a; pass --force"):
        commands.export(runs / "b", export_dir=out)
    commands.export(runs / "b", export_dir=out, force=True)
    assert read_marker(out)["run"] == str(runs / "b")
    before = snapshot(out)

    def broken(module, export_dir):
        export_dir.mkdir(parents=True)
        (export_dir / "saved_model.pb").write_bytes(b"half")
        raise OSError("disk full")

    # `seqtasks.runtime.export` is also the name of the export command: patch the module itself.
    monkeypatch.setattr(sys.modules["seqtasks.runtime.export"], "save_serving_module", broken)
    with pytest.raises(OSError, match="disk full"):
        commands.export(runs / "b", export_dir=out)
    assert snapshot(out) == before and sorted(p.name for p in tmp_path.iterdir()) == ["out"]
    assert (out / MARKER).is_file()
