"""Attention heat maps: which source pieces each output piece looked at (used by the translation task's
`evaluate` and `predict --set eval.attention_plot=PNG`)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np


def plot_attention(
    weights: np.ndarray,
    source_pieces: Sequence[str],
    target_pieces: Sequence[str],
    path: str | os.PathLike,
    title: str = "",
) -> Path:
    """Writes a PNG heat map of attention `weights` (`(len(target_pieces), len(source_pieces))`).

    Rows are output pieces (top to bottom), columns source pieces; each row sums to 1.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    weights = np.asarray(weights, dtype=np.float32)
    if weights.shape != (len(target_pieces), len(source_pieces)):
        raise ValueError(
            f"attention weights of shape {weights.shape} do not match {len(target_pieces)} output and "
            f"{len(source_pieces)} source pieces"
        )
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    width = max(4.0, 0.5 * len(source_pieces) + 2.0)
    height = max(3.0, 0.4 * len(target_pieces) + 1.5)
    fig, ax = plt.subplots(figsize=(width, height))
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=1.0, aspect="auto")
    ax.set_xticks(range(len(source_pieces)), list(source_pieces), rotation=60, ha="right")
    ax.set_yticks(range(len(target_pieces)), list(target_pieces))
    ax.set_xlabel("source")
    ax.set_ylabel("translation")
    if title:
        ax.set_title(title, fontsize=9)
    fig.colorbar(image, ax=ax, fraction=0.04)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path
