"""Training history: metrics.json, TensorBoard scalars and the curves PNG (chief only)."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import tensorflow as tf
from tensorflow.core.framework import summary_pb2

from seqtasks.runtime.run_dir import RunDir, read_json, write_json_atomic


class History:
    """Per-step training losses and per-epoch metrics of one run, kept in `metrics.json`.

    `metrics.json` holds `{"steps": [{"step", "loss", ...}], "epochs": [{"epoch", "step", ...}],
    "evaluation": {...}}`. On resume the entries recorded after the restored step are dropped, so the file
    describes exactly the training that the weights went through.
    """

    def __init__(self, run: RunDir, writer: bool, restored_step: int = 0):
        self.run = run
        self.writer = writer
        data = read_json(run.metrics, default={}) or {}
        self.steps: list[dict[str, Any]] = [s for s in data.get("steps", []) if s["step"] <= restored_step]
        self.epochs: list[dict[str, Any]] = [e for e in data.get("epochs", []) if e["step"] <= restored_step]
        self.evaluation: dict[str, Any] = data.get("evaluation", {})
        self.info: dict[str, Any] = data.get("info", {})
        self._tb_train = self._tb_val = None
        if writer:
            self._tb_train = tf.summary.create_file_writer(str(run.tensorboard / "train"))
            self._tb_val = tf.summary.create_file_writer(str(run.tensorboard / "validation"))

    def log_step(self, step: int, logs: dict[str, Any]) -> None:
        entry = {"step": int(step), **_floats(logs)}
        self.steps.append(entry)
        if self._tb_train is not None:
            with self._tb_train.as_default(step=step):
                for k, v in entry.items():
                    if k != "step":
                        _scalar(k, v)

    def log_epoch(self, epoch: int, step: int, logs: dict[str, Any]) -> None:
        entry = {"epoch": int(epoch), "step": int(step), **_floats(logs)}
        self.epochs.append(entry)
        if self._tb_val is not None:
            with self._tb_val.as_default(step=step):
                for k, v in entry.items():
                    if k.startswith("val_"):
                        _scalar(k[4:], v)
            self._tb_val.flush()
            self._tb_train.flush()

    def save(self, plot: bool = True) -> None:
        if not self.writer:
            return
        write_json_atomic(
            self.run.metrics,
            {"info": self.info, "steps": self.steps, "epochs": self.epochs, "evaluation": self.evaluation},
        )
        if plot:
            self.plot(self.run.curves)

    def panels(self) -> list[tuple[str, list[tuple[str, list, list, str]]]]:
        """What the curves show: `(title, [(label, steps, values, style)])` per panel.

        Losses share the first panel (training per step and per epoch, validation per epoch, one scale); every
        other validation metric gets a panel with its training counterpart; the monitored metric's title says so.
        """
        monitor = self.info.get("monitor")
        steps = [e["step"] for e in self.epochs]

        def epoch_series(key: str) -> list:
            return [e.get(key, math.nan) for e in self.epochs]

        def logged(key: str) -> bool:
            return any(key in e for e in self.epochs)

        losses = []
        if self.steps:
            losses.append(("train loss", [s["step"] for s in self.steps], [s.get("loss", math.nan) for s in self.steps], "-"))
        if logged("loss"):
            losses.append(("train loss (epoch mean)", steps, epoch_series("loss"), "o-"))
        if logged("val_loss"):
            losses.append(("val_loss", steps, epoch_series("val_loss"), "s-"))
        panels = [("loss" + (" (monitored)" if monitor in ("loss", "val_loss") else ""), losses)]
        for name in sorted({k[4:] for e in self.epochs for k in e if k.startswith("val_") and k != "val_loss"}):
            series = [(f"train {name}", steps, epoch_series(name), "o-")] if logged(name) else []
            series.append((f"val_{name}", steps, epoch_series(f"val_{name}"), "s-"))
            panels.append((f"val_{name}" + (" (monitored)" if monitor == f"val_{name}" else ""), series))
        return panels

    def plot(self, path: Path) -> None:
        """Draws `panels()` into a PNG (written next to `path`, then renamed into place)."""
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        panels = self.panels()
        fig, axes = plt.subplots(1, len(panels), figsize=(2 + 4 * len(panels), 4), squeeze=False)
        for ax, (title, series) in zip(axes[0], panels, strict=True):
            for label, xs, ys, style in series:
                ax.plot(xs, ys, style, label=label, alpha=0.8 if style == "-" else 1.0)
            ax.set_title(title)
            ax.set_xlabel("step")
            ax.grid(alpha=0.3)
            if series:
                ax.legend()
        fig.tight_layout()
        tmp = path.with_name(path.stem + ".tmp.png")
        fig.savefig(tmp, dpi=100)
        plt.close(fig)
        tmp.replace(path)


def _scalar(name: str, value: float) -> None:
    # tf.summary.scalar needs the tensorboard package; core tf.summary.write with the scalars plugin's metadata
    # writes the same event, so logs work (and TensorBoard reads them) without installing it here.
    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = "scalars"
    tf.summary.write(name, tf.constant(value, tf.float32), metadata=metadata)


def _floats(logs: dict[str, Any]) -> dict[str, float]:
    out = {}
    for k, v in logs.items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            continue
    return out
