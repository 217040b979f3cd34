"""Classification metrics: accuracy, macro-F1, per-class precision/recall and the confusion matrix.

Plain numpy, so that the numbers do not depend on batching or on a Keras metric's streaming state. A class
that is never predicted has precision 0 (and a class absent from the labels has recall 0), the common
`zero_division=0` convention; macro-F1 averages the per-class F1 over every class, present or not.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


def confusion_matrix(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                     num_classes: int) -> np.ndarray:
    """Counts `(true class, predicted class)` pairs.

    Args:
        y_true: integer class ids of the references.
        y_pred: integer class ids of the predictions, same length.
        num_classes: number of classes; every id must be in `[0, num_classes)`.

    Returns:
        An `int64` array of shape `(num_classes, num_classes)`; rows are true classes, columns predictions.
    """
    if not isinstance(num_classes, int | np.integer) or num_classes < 1:
        raise ValueError(
            "Received an invalid value for argument `num_classes`, expected a positive integer, "
            f"got {num_classes!r}."
        )
    t = np.asarray(y_true, dtype=np.int64).reshape(-1)
    p = np.asarray(y_pred, dtype=np.int64).reshape(-1)
    if t.shape != p.shape:
        raise ValueError(f"`y_true` and `y_pred` differ in length: {t.size} vs {p.size}.")
    for name, ids in (("y_true", t), ("y_pred", p)):
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(
                f"`{name}` holds a class id outside [0, {num_classes}): "
                f"min {int(ids.min())}, max {int(ids.max())}."
            )
    return np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(
        num_classes, num_classes
    )


def _ratio(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = num.astype(np.float64)
    den = den.astype(np.float64)
    return np.divide(num, den, out=np.zeros_like(num), where=den > 0)


def classification_report(y_true: Sequence[int] | np.ndarray, y_pred: Sequence[int] | np.ndarray,
                          class_names: Sequence[str]) -> dict[str, Any]:
    """Accuracy, macro-F1, per-class precision/recall/F1/support and the confusion matrix.

    Args:
        y_true: integer class ids of the references.
        y_pred: integer class ids of the predictions.
        class_names: one name per class id, in id order.

    Returns:
        A JSON-serialisable dict: `num_examples`, `accuracy`, `macro_f1`, `macro_precision`,
        `macro_recall`, `per_class` (name -> precision, recall, f1, support) and `confusion_matrix`
        (nested lists, rows = true classes) with `class_names`.

    Example:

    >>> r = classification_report([0, 1, 1], [0, 1, 0], ["neg", "pos"])
    >>> round(r["accuracy"], 4), r["per_class"]["pos"]["recall"]
    (0.6667, 0.5)
    """
    names = [str(n) for n in class_names]
    cm = confusion_matrix(y_true, y_pred, len(names))
    tp = np.diag(cm)
    predicted = cm.sum(axis=0)
    support = cm.sum(axis=1)
    precision = _ratio(tp, predicted)
    recall = _ratio(tp, support)
    f1 = _ratio(2 * precision * recall, precision + recall)
    total = int(cm.sum())
    return {
        "num_examples": total,
        "accuracy": float(tp.sum() / total) if total else 0.0,
        "macro_f1": float(f1.mean()),
        "macro_precision": float(precision.mean()),
        "macro_recall": float(recall.mean()),
        "per_class": {
            name: {
                "precision": float(precision[i]),
                "recall": float(recall[i]),
                "f1": float(f1[i]),
                "support": int(support[i]),
            }
            for i, name in enumerate(names)
        },
        "class_names": names,
        "confusion_matrix": cm.tolist(),
    }


def format_report(report: dict[str, Any]) -> str:
    """Renders a `classification_report` as a plain-text table followed by the confusion matrix."""
    names = report["class_names"]
    width = max(9, *(len(n) for n in names))
    lines = [f"{'class':<{width}}  precision  recall     f1  support"]
    for name in names:
        c = report["per_class"][name]
        lines.append(
            f"{name:<{width}}  {c['precision']:9.4f}  {c['recall']:6.4f}  {c['f1']:.4f}  {c['support']:7d}"
        )
    lines.append(
        f"{'macro avg':<{width}}  {report['macro_precision']:9.4f}  {report['macro_recall']:6.4f}  "
        f"{report['macro_f1']:.4f}  {report['num_examples']:7d}"
    )
    lines.append(f"accuracy {report['accuracy']:.4f} on {report['num_examples']} examples")
    lines.append("")
    lines.append("confusion matrix (rows = true class, columns = predicted class)")
    cm = report["confusion_matrix"]
    cell = max(width, *(len(str(v)) for row in cm for v in row))
    lines.append(" " * width + "  " + "  ".join(f"{n:>{cell}}" for n in names))
    for name, row in zip(names, cm, strict=True):
        lines.append(f"{name:<{width}}  " + "  ".join(f"{v:>{cell}d}" for v in row))
    return "\n".join(lines)


def plot_confusion_matrix(report: dict[str, Any], path: str | os.PathLike, title: str = "") -> Path:
    """Writes the report's confusion matrix as a PNG (counts in the cells, row-normalised colour).

    Args:
        report: a dict from `classification_report`.
        path: the PNG file to write; its folder is created.
        title: optional figure title.

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = report["class_names"]
    cm = np.asarray(report["confusion_matrix"], dtype=np.int64)
    rows = cm.sum(axis=1, keepdims=True)
    shade = _ratio(cm, np.broadcast_to(rows, cm.shape))
    size = 2.0 + 0.7 * len(names)
    fig, ax = plt.subplots(figsize=(size + 1.0, size))
    image = ax.imshow(shade, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ax.set_xticks(range(len(names)), labels=names, rotation=45, ha="right")
    ax.set_yticks(range(len(names)), labels=names)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    for i in range(len(names)):
        for j in range(len(names)):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center",
                    color="white" if shade[i, j] > 0.5 else "black")
    ax.set_title(title or f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}")
    fig.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
