"""Long-range memory sweep: train each cell type on the `memory` task at increasing T within a fixed step budget
and report the longest T each one solves.

Every (cell, T) pair is an ordinary `seqtasks train --task memory` run (same runtime, same config keys) in its
own folder `WORKDIR/<cell>_T<T>`, so a sweep that is stopped resumes where it was, and each run can be
inspected, evaluated or predicted from afterwards. The sweep only sets `model.cell_type`,
`data.sequence_length`, the step budget (`train.epochs` x `train.steps_per_epoch`) and `export.after_train=false`;
everything else comes from `config_files` and `overrides` (e.g. `model.units=64`).

With `stop_after_failure` (default) a cell that fails at some T is not trained at longer T (reported as
`skipped`): on these problems a longer T is never easier, and the long runs are the expensive ones.

Example:

>>> result = sweep(("simple_rnn", "lstm", "gru"), (50, 100, 200), steps=1000, workdir="runs/memory_sweep")  # doctest: +SKIP
>>> print(result.table())                                                                               # doctest: +SKIP

Command line: `python -m seqtasks.diagnostics.sweep --lengths 50 100 200 400 1000 --steps 1000`.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from seqtasks.errors import ConfigError

CELL_TYPES = ("simple_rnn", "lstm", "gru")
DEFAULT_LENGTHS = (50, 100, 200, 400, 1000)
DEFAULT_WORKDIR = "runs/memory_sweep"


@dataclass
class SweepRun:
    """One (cell, T) run of the sweep."""

    cell_type: str
    sequence_length: int
    # "solved" | "failed" | "skipped" (not trained: failed at a shorter T) | "out_of_time" (sweep budget spent)
    status: str
    metric: float | None = None
    steps: int = 0
    # Training wall-clock seconds (validation included; summed over resumes, from the run's history).
    seconds: float = 0.0
    stopped: str = ""
    workdir: str = ""
    evaluation: dict[str, Any] = field(default_factory=dict)


@dataclass
class SweepResult:
    problem: str
    metric_name: str
    cell_types: list[str]
    lengths: list[int]
    runs: list[SweepRun]
    settings: dict[str, Any] = field(default_factory=dict)

    def run(self, cell_type: str, sequence_length: int) -> SweepRun | None:
        for r in self.runs:
            if r.cell_type == cell_type and r.sequence_length == sequence_length:
                return r
        return None

    def longest_solved(self, cell_type: str) -> int | None:
        """The longest T solved by `cell_type` with every shorter T tried also solved (None: not even the first)."""
        best = None
        for length in self.lengths:
            r = self.run(cell_type, length)
            if r is None or r.status != "solved":
                break
            best = length
        return best

    def table(self) -> str:
        """Markdown table: one row per cell, the metric at every T and the longest T solved."""
        head = ["cell"] + [f"T={t}" for t in self.lengths] + ["longest T solved"]
        lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for cell in self.cell_types:
            cells = [cell]
            for length in self.lengths:
                r = self.run(cell, length)
                if r is None or r.metric is None:
                    cells.append(r.status if r else "-")
                else:
                    mark = " ✓" if r.status == "solved" else ""
                    cut = f" ({r.steps} steps: time cap)" if r.stopped == "time_budget" else ""
                    cells.append(f"{r.metric:.4f}{mark}{cut}")
            longest = self.longest_solved(cell)
            cells.append(str(longest) if longest else "none")
            lines.append("| " + " | ".join(cells) + " |")
        return "\n".join(lines)


def _metric(problem: str, evaluation: dict[str, Any]) -> float:
    return float(evaluation["test_mse"] if problem == "adding" else evaluation["copy_accuracy"])


def sweep(
    cell_types: Sequence[str] = CELL_TYPES,
    lengths: Sequence[int] = DEFAULT_LENGTHS,
    *,
    problem: str = "adding",
    steps: int = 1000,
    steps_per_epoch: int = 100,
    workdir: str | os.PathLike = DEFAULT_WORKDIR,
    config_files: Sequence[str | os.PathLike] = (),
    overrides: Sequence[str] = (),
    stop_after_failure: bool = True,
    max_minutes_per_run: float = 0.0,
    max_minutes: float = 0.0,
    verbose: str = "none",
) -> SweepResult:
    """Trains every cell type at every T (shortest first) with the same step budget and records what solves.

    Args:
        cell_types: Cells to compare (`simple_rnn`, `lstm`, `gru`).
        lengths: The T values, tried in increasing order.
        problem: `"adding"` (solved: test MSE < `eval.solved_mse`) or `"copy"` (copy accuracy >=
            `eval.solved_accuracy`).
        steps: Optimizer steps per run (rounded up to whole epochs of `steps_per_epoch`).
        steps_per_epoch: Steps between validations/checkpoints.
        workdir: Folder of the sweep; run (cell, T) lives in `WORKDIR/<cell>_T<T>` (existing runs are resumed).
        config_files: YAML files applied to every run (e.g. `recipes/configs/memory.yaml`).
        overrides: `section.key=value` strings applied to every run.
        stop_after_failure: Do not train a cell at longer T once it failed at a shorter one.
        max_minutes_per_run: `train.max_minutes` of each run (0 = none); a run cut short is scored as it is.
        max_minutes: Wall-clock budget of the whole sweep (0 = none); runs not started in time are `out_of_time`.
        verbose: `train.verbose` of the runs (`none`, `epoch`, `bar`).

    Returns:
        A `SweepResult` (also written to `WORKDIR/sweep.csv`, `sweep.md` and `sweep.png`).
    """
    from seqtasks.runtime import resolve_config, train

    if problem not in ("adding", "copy"):
        raise ConfigError(f"problem must be adding or copy, got {problem!r}")
    unknown = [c for c in cell_types if c not in CELL_TYPES]
    if unknown or not cell_types:
        raise ConfigError(f"unknown cell type(s) {unknown or cell_types!r}; choose from {', '.join(CELL_TYPES)}")
    if not lengths or any(int(t) < 2 for t in lengths):
        raise ConfigError(f"lengths must be integers >= 2, got {list(lengths)!r}")
    if steps < 1 or steps_per_epoch < 1:
        raise ConfigError(f"steps and steps_per_epoch must be >= 1, got {steps} and {steps_per_epoch}")
    lengths = sorted(int(t) for t in lengths)
    epochs = math.ceil(steps / steps_per_epoch)
    root = Path(workdir)
    root.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    runs: list[SweepRun] = []
    metric_name = "test_mse" if problem == "adding" else "copy_accuracy"
    thresholds: dict[str, float] = {}
    for cell in cell_types:
        failed = False
        for length in lengths:
            run_dir = root / f"{cell}_T{length}"
            if failed and stop_after_failure:
                runs.append(SweepRun(cell, length, "skipped", workdir=str(run_dir)))
                continue
            if max_minutes > 0 and time.monotonic() - started >= max_minutes * 60:
                runs.append(SweepRun(cell, length, "out_of_time", workdir=str(run_dir)))
                failed = True
                continue
            sets = list(overrides) + [
                f"data.problem={problem}",
                f"model.cell_type={cell}",
                f"data.sequence_length={length}",
                f"train.epochs={epochs}",
                f"train.steps_per_epoch={steps_per_epoch}",
                f"train.max_minutes={max_minutes_per_run}",
                f"train.verbose={verbose}",
                "export.after_train=false",
            ]
            print(f"[sweep] {cell} T={length}: training {epochs * steps_per_epoch} steps in {run_dir}", flush=True)
            t0 = time.monotonic()
            outcome = train("memory", run_dir, config_files, sets)
            seconds = float(outcome.fit.history.info.get("elapsed_seconds", time.monotonic() - t0))
            if "solved_threshold" not in thresholds:
                evaluated = resolve_config("memory", outcome.run).eval
                thresholds["solved_threshold"] = evaluated.solved_mse if problem == "adding" else evaluated.solved_accuracy
            evaluation = dict(outcome.evaluation)
            metric = _metric(problem, evaluation)
            status = "solved" if evaluation.get("solved") else "failed"
            failed = failed or status == "failed"
            runs.append(SweepRun(cell, length, status, metric, outcome.fit.step, round(seconds, 1),
                                 outcome.fit.stopped, str(run_dir), evaluation))
            print(f"[sweep] {cell} T={length}: {metric_name} {metric:.4f} -> {status} "
                  f"({outcome.fit.step} steps, {seconds:.0f} s of training)", flush=True)
    settings = {"problem": problem, "steps": epochs * steps_per_epoch, "steps_per_epoch": steps_per_epoch,
                "config_files": [str(c) for c in config_files], "overrides": list(overrides),
                "stop_after_failure": stop_after_failure, "max_minutes_per_run": max_minutes_per_run,
                "max_minutes": max_minutes, "seconds": round(time.monotonic() - started, 1), **thresholds}
    result = SweepResult(problem, metric_name, list(cell_types), lengths, runs, settings)
    write_outputs(result, root)
    return result


def write_outputs(result: SweepResult, out_dir: str | os.PathLike) -> dict[str, Path]:
    """Writes `sweep.csv` (every run), `sweep.md` (the table) and `sweep.png` (metric against T)."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    csv_path = out_dir / "sweep.csv"
    with csv_path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["cell_type", "sequence_length", "status", result.metric_name, "steps", "train_seconds", "stopped",
                         "workdir"])
        for r in result.runs:
            writer.writerow([r.cell_type, r.sequence_length, r.status, "" if r.metric is None else f"{r.metric:.6f}",
                             r.steps, r.seconds, r.stopped, r.workdir])
    md_path = out_dir / "sweep.md"
    s = result.settings
    rule = ""
    if s.get("solved_threshold") is not None:
        rule = f": {'<' if result.problem == 'adding' else '>='} {s['solved_threshold']:g}"
    md_path.write_text(
        f"{result.problem} problem, {s['steps']} steps per run, metric {result.metric_name} (✓ = solved{rule})\n\n"
        + result.table() + "\n", encoding="utf-8")
    return {"csv": csv_path, "md": md_path, "png": plot_sweep(result, out_dir / "sweep.png")}


def plot_sweep(result: SweepResult, path: str | os.PathLike) -> Path:
    """PNG of the metric against T, one line per cell, with the solved threshold and the no-memory baseline."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for cell in result.cell_types:
        points = [(r.sequence_length, r.metric) for r in result.runs if r.cell_type == cell and r.metric is not None]
        if points:
            ax.plot(*zip(*points, strict=True), marker="o", label=cell)
    threshold = result.settings.get("solved_threshold")
    if result.problem == "adding":
        threshold = 0.01 if threshold is None else threshold
        ax.axhline(threshold, color="green", linestyle="--", linewidth=0.8, label=f"solved (< {threshold:g})")
        ax.axhline(2 / 12, color="grey", linestyle=":", linewidth=0.8, label="always 1 (0.167)")
        ax.set_yscale("log")
        ax.set_ylabel("test MSE")
    else:
        threshold = 0.99 if threshold is None else threshold
        ax.axhline(threshold, color="green", linestyle="--", linewidth=0.8, label=f"solved (>= {threshold:g})")
        ax.set_ylabel("copy accuracy")
    ax.set_xscale("log")
    ax.set_xticks(result.lengths, [str(t) for t in result.lengths])
    ax.minorticks_off()
    ax.set_xlabel("T")
    ax.set_title(f"{result.problem} problem, {result.settings.get('steps')} steps per run")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `seqtasks diagnose sweep` / `python -m seqtasks.diagnostics.sweep`."""
    p.add_argument("--cells", nargs="+", default=list(CELL_TYPES), choices=CELL_TYPES, help="cell types (default all)")
    p.add_argument("--lengths", nargs="+", type=int, default=list(DEFAULT_LENGTHS), help="T values (default 50 100 200 400 1000)")
    p.add_argument("--problem", choices=("adding", "copy"), default="adding")
    p.add_argument("--steps", type=int, default=1000, help="optimizer steps per run (default 1000)")
    p.add_argument("--steps-per-epoch", type=int, default=100, help="steps between validations (default 100)")
    p.add_argument("--workdir", default=DEFAULT_WORKDIR, help=f"sweep folder (default {DEFAULT_WORKDIR})")
    p.add_argument("--config", action="append", default=[], metavar="YAML", help="config file for every run (repeatable)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="SECTION.KEY=VALUE",
                   help="override for every run (repeatable), e.g. --set model.units=64")
    p.add_argument("--keep-going", action="store_true", help="also train longer T after a failure")
    p.add_argument("--max-minutes-per-run", type=float, default=0.0, help="wall-clock cap of each run (0 = none)")
    p.add_argument("--max-minutes", type=float, default=0.0, help="wall-clock budget of the sweep (0 = none)")
    p.add_argument("--verbose", choices=("none", "epoch", "bar"), default="none", help="progress output of each run")


def run_from_args(args: argparse.Namespace) -> SweepResult:
    result = sweep(args.cells, args.lengths, problem=args.problem, steps=args.steps,
                   steps_per_epoch=args.steps_per_epoch, workdir=args.workdir, config_files=args.config,
                   overrides=args.overrides, stop_after_failure=not args.keep_going,
                   max_minutes_per_run=args.max_minutes_per_run, max_minutes=args.max_minutes, verbose=args.verbose)
    print()
    print(result.table())
    print()
    for cell in result.cell_types:
        longest = result.longest_solved(cell)
        print(f"{cell}: longest T solved = {longest if longest else 'none'}")
    print(f"results: {Path(args.workdir) / 'sweep.md'}, sweep.csv, sweep.png "
          f"({result.settings['seconds']:.0f} s in all)")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m seqtasks.diagnostics.sweep`."""
    from seqtasks.diagnostics.commands import run_module

    return run_module(
        "sweep", "Longest T each recurrent cell solves on the memory task.",
        add_arguments,
        run_from_args,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
