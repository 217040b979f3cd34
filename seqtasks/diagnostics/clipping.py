"""The exploding side in training: the same network trained with and without gradient clipping.

A recurrent network whose gradients explode (by default a ReLU simple RNN whose recurrent kernel is an orthogonal
matrix times 1.5, see `seqtasks.diagnostics.gradients`) is trained on the adding problem from the same initial
weights and the same batches, once per clipping setting, with the optimizer the runtime builds from the `train`
config section (`seqtasks.runtime.make_optimizer`, so `clip_global_norm` here means exactly what it means in a
recipe). The loss and the gradient norm (before clipping) are recorded at every step and plotted.

Example:

>>> result = clipping_comparison(steps=200)           # doctest: +SKIP
>>> print(format_comparison(result))                  # doctest: +SKIP

Command line: `python -m seqtasks.diagnostics.clipping --steps 300 --out runs/diagnostics/clipping`.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from seqtasks.config import TrainConfig
from seqtasks.diagnostics.gradients import parse_cell_spec
from seqtasks.errors import ConfigError
from seqtasks.layers import RNN
from seqtasks.runtime.optimizers import make_optimizer
from seqtasks.tasks.memory import data as md

DEFAULT_CELL = "simple_rnn(relu, gain=1.5)"
DEFAULT_OUT = "runs/diagnostics/clipping"


@dataclass
class TrainingCurve:
    """One training run: per-step loss and gradient global norm (before clipping)."""

    label: str
    clip_global_norm: float
    loss: list[float] = field(default_factory=list)
    grad_norm: list[float] = field(default_factory=list)
    diverged_at: int | None = None

    def final_loss(self, last: int = 20) -> float:
        """Mean loss of the last `last` steps (inf if the run diverged)."""
        if self.diverged_at is not None or not self.loss:
            return float("inf")
        return float(np.mean(self.loss[-last:]))


@dataclass
class ClippingComparison:
    cell: str
    sequence_length: int
    curves: list[TrainingCurve]
    info: dict[str, Any] = field(default_factory=dict)


def _build_model(cell_spec: str, units: int, seed: int) -> keras.Model:
    spec = parse_cell_spec(cell_spec)
    cell = spec.build_cell(units, 2, seed, dtype="float32")
    inputs = keras.Input(shape=(None, 2), name="sequence")
    x = RNN(cell, name="rnn")(inputs)
    outputs = keras.layers.Dense(1, kernel_initializer=keras.initializers.GlorotUniform(seed=seed + 2), name="head")(x)
    return keras.Model(inputs, outputs)


def train_curve(
    model: keras.Model,
    batches: Sequence[tuple[tf.Tensor, tf.Tensor]],
    train_config: TrainConfig,
    label: str,
) -> TrainingCurve:
    """Trains `model` on `batches` (MSE) with the runtime's optimizer for `train_config`; stops at a non-finite
    loss or gradient."""
    optimizer = make_optimizer(train_config, len(batches))
    variables = model.trainable_variables
    optimizer.build(variables)

    @tf.function
    def step(x, y):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(model(x, training=True) - y))
        grads = tape.gradient(loss, variables)
        norm = tf.linalg.global_norm(grads)
        optimizer.apply(grads, variables)
        return loss, norm

    curve = TrainingCurve(label, train_config.clip_global_norm)
    for i, (x, y) in enumerate(batches):
        loss, norm = step(x, y)
        loss, norm = float(loss), float(norm)
        curve.loss.append(loss)
        curve.grad_norm.append(norm)
        weights_ok = all(np.all(np.isfinite(v.numpy())) for v in variables)
        if not (math.isfinite(loss) and math.isfinite(norm) and weights_ok):
            curve.diverged_at = i
            break
    return curve


def clipping_comparison(
    *,
    cell: str = DEFAULT_CELL,
    units: int = 64,
    sequence_length: int = 50,
    batch_size: int = 32,
    steps: int = 300,
    optimizer: str = "sgd",
    learning_rate: float = 1e-3,
    clip_values: Sequence[float] = (0.0, 1.0),
    seed: int = 0,
) -> ClippingComparison:
    """Trains the same network from the same weights on the same adding-problem batches, once per clip value.

    Args:
        cell: Cell spec of the recurrent layer (see `seqtasks.diagnostics.gradients.parse_cell_spec`).
        units: Units of the cell.
        sequence_length: T of the adding problem.
        batch_size: Sequences per step.
        steps: Optimizer steps per run.
        optimizer: `train.optimizer` (adam, adamw, rmsprop, sgd; sgd has momentum 0.9 as in the runtime).
        learning_rate: `train.learning_rate`.
        clip_values: `train.clip_global_norm` of each run (0 = no clipping).
        seed: Seed of the weights and the batches.

    Returns:
        A `ClippingComparison` with one `TrainingCurve` per clip value.
    """
    for key, value in (("units", units), ("sequence_length", sequence_length - 1), ("batch_size", batch_size),
                       ("steps", steps)):
        if value < 1:
            raise ConfigError(f"{key} is too small: {value + (1 if key == 'sequence_length' else 0)}")
    batches = [md.adding_batch(md.batch_seed(seed, md.TRAIN, 0, i), batch_size, sequence_length) for i in range(steps)]
    template = _build_model(cell, units, seed)
    initial = template.get_weights()
    curves = []
    for clip in clip_values:
        model = _build_model(cell, units, seed)
        model.set_weights(initial)
        config = TrainConfig(optimizer=optimizer, learning_rate=learning_rate, clip_global_norm=float(clip))
        label = f"clip_global_norm={clip:g}" if clip > 0 else "no clipping"
        curves.append(train_curve(model, batches, config, label))
    info = {"units": units, "batch_size": batch_size, "steps": steps, "optimizer": optimizer,
            "learning_rate": learning_rate, "seed": seed}
    return ClippingComparison(parse_cell_spec(cell).label, sequence_length, curves, info)


def format_comparison(result: ClippingComparison) -> str:
    """The printed summary: per run, the final loss, the largest gradient norm and where it diverged."""
    i = result.info
    lines = [f"{result.cell}, units={i['units']}, adding problem T={result.sequence_length}, {i['optimizer']} "
             f"lr={i['learning_rate']:g}, batch {i['batch_size']}, {i['steps']} steps (baseline MSE of answering 1: 0.167)"]
    for c in result.curves:
        finite = [g for g in c.grad_norm if math.isfinite(g)]
        status = f"diverged at step {c.diverged_at}" if c.diverged_at is not None else "finite throughout"
        lines.append(f"  {c.label:<22} first loss {c.loss[0]:.4g}, final loss (last 20 steps) {c.final_loss():.4g}, "
                     f"max grad norm {max(finite) if finite else float('nan'):.3g}, {status}")
    return "\n".join(lines)


def plot_comparison(result: ClippingComparison, path: str | os.PathLike) -> Path:
    """PNG: loss (left) and gradient norm before clipping (right) per step, log scale."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(13, 4.8))
    for c in result.curves:
        steps = np.arange(len(c.loss))
        label = c.label + (f" (diverged at {c.diverged_at})" if c.diverged_at is not None else "")
        loss = np.where(np.isfinite(c.loss), c.loss, np.nan)
        # A run that diverges at once has a point or two: mark them, or the other run's line hides them.
        style = {"marker": "o", "markersize": 7, "markerfacecolor": "none"} if len(c.loss) < 10 else {}
        axes[0].plot(steps, loss, label=label, linewidth=1.2, **style)
        axes[1].plot(steps, np.where(np.isfinite(c.grad_norm), c.grad_norm, np.nan), label=label, linewidth=1.2,
                     **style)
        if c.diverged_at is not None:
            for ax in axes:
                ax.axvline(c.diverged_at, color=ax.lines[-1].get_color(), linestyle=":", linewidth=1)
    axes[0].axhline(2 / 12, color="grey", linestyle="--", linewidth=0.8)
    axes[0].text(0, 2 / 12, " always 1", va="bottom", color="grey", fontsize=8)
    axes[0].set_title("training loss (MSE)")
    axes[1].set_title("gradient global norm before clipping")
    for ax in axes:
        ax.set_yscale("log")
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    i = result.info
    fig.suptitle(f"{result.cell}, units={i['units']}, adding T={result.sequence_length}, {i['optimizer']} "
                 f"lr={i['learning_rate']:g}")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `seqtasks diagnose clipping` / `python -m seqtasks.diagnostics.clipping`."""
    p.add_argument("--cell", default=DEFAULT_CELL, help=f"cell spec of the exploding network (default {DEFAULT_CELL!r})")
    p.add_argument("--units", type=int, default=64)
    p.add_argument("--steps-per-sequence", dest="sequence_length", type=int, default=50,
                   help="adding problem length T (default 50)")
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--train-steps", type=int, default=300, help="optimizer steps per run (default 300)")
    p.add_argument("--optimizer", choices=("sgd", "adam", "rmsprop", "adamw"), default="sgd")
    p.add_argument("--learning-rate", type=float, default=1e-3)
    p.add_argument("--clip", type=float, nargs="+", default=[0.0, 1.0],
                   help="train.clip_global_norm of each run, 0 = off (default 0 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")


def run_from_args(args: argparse.Namespace) -> ClippingComparison:
    result = clipping_comparison(cell=args.cell, units=args.units, sequence_length=args.sequence_length,
                                 batch_size=args.batch_size, steps=args.train_steps, optimizer=args.optimizer,
                                 learning_rate=args.learning_rate, clip_values=args.clip, seed=args.seed)
    out = Path(args.out)
    png = plot_comparison(result, out / "clipping_loss_curves.png")
    text = format_comparison(result)
    (out / "clipping_summary.txt").write_text(text + "\n", encoding="utf-8")
    print(text)
    print(f"png: {png}")
    return result


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m seqtasks.diagnostics.clipping`."""
    from seqtasks.diagnostics.commands import run_module

    return run_module(
        "clipping", "Train an exploding RNN with and without gradient clipping.",
        add_arguments,
        run_from_args,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
