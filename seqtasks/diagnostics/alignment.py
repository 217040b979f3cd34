"""A PNG of an utterance's spectrogram with the CTC output alignment under it (`seqtasks predict` of the speech
task writes one per input file)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from seqtasks.data.transcripts import Alphabet
from seqtasks.decoding.ctc_alignment import frame_alignment


def plot_alignment(
    model: Any,
    waveform: np.ndarray,
    alphabet: Alphabet,
    out_path: str | os.PathLike,
    title: str = "",
    transcript: str | None = None,
) -> Path:
    """Writes a PNG: the model's input features on top; below, the posterior of every character per output frame
    (blank left out) with the greedy CTC alignment written where a character is emitted.

    Args:
        model: a `CTCSpeechModel`.
        waveform: float32 samples at the model's sample rate.
        alphabet: the model's alphabet.
        out_path: the PNG to write (its folder is created).
        title: figure title (e.g. the file name).
        transcript: a transcript to show in the title (e.g. the decoded one).

    Returns:
        The written path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    features, posteriors, best = frame_alignment(model, waveform)
    sample_rate = model.sample_rate
    hop = model.featurizer.hop_length
    duration = waveform.size / sample_rate
    out_step = duration / max(len(best), 1)
    blank = alphabet.blank_index

    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8.0, duration * 4.0), 6.0), sharex=True)
    top.imshow(
        features.T, origin="lower", aspect="auto", cmap="magma",
        extent=(0.0, features.shape[0] * hop / sample_rate, 0, features.shape[1]),
    )
    top.set_ylabel("feature channel")
    heading = title + (f"\n{transcript!r}" if transcript is not None else "")
    top.set_title(heading, fontsize=10)

    times = (np.arange(len(best)) + 0.5) * out_step
    bottom.plot(times, posteriors[:, blank], color="0.8", lw=1.0, label="blank")
    emitted = [(i, c) for i, c in enumerate(best) if c != blank and (i == 0 or best[i - 1] != c)]
    for c in sorted({int(c) for _, c in emitted}):
        bottom.plot(times, posteriors[:, c], lw=1.2)
    for i, c in emitted:
        char = alphabet.characters[c]
        bottom.annotate(
            "\u2423" if char == " " else char, (times[i], posteriors[i, c]), textcoords="offset points",
            xytext=(0, 4), ha="center", fontsize=9,
        )
    bottom.set_ylim(0.0, 1.12)
    bottom.set_xlim(0.0, duration)
    bottom.set_xlabel("time (s)")
    bottom.set_ylabel("CTC posterior")
    bottom.legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_path, dpi=100)
    plt.close(fig)
    return out_path


__all__ = ["plot_alignment"]
