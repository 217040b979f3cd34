"""Clipping comparison: same start, same batches; clipping keeps the exploding network finite."""

import numpy as np

from seqtasks.diagnostics import clipping


def test_clipping_keeps_the_exploding_network_finite(tmp_path):
    result = clipping.clipping_comparison(units=32, sequence_length=30, batch_size=8, steps=6, clip_values=(0.0, 1.0))
    unclipped, clipped = result.curves
    assert unclipped.label == "no clipping" and clipped.label == "clip_global_norm=1"
    # same weights and batches: the first loss and gradient are identical
    assert unclipped.loss[0] == clipped.loss[0] and unclipped.grad_norm[0] == clipped.grad_norm[0]
    assert clipped.grad_norm[0] > 1e3  # it does explode
    assert unclipped.diverged_at is not None
    assert clipped.diverged_at is None and len(clipped.loss) == 6 and np.all(np.isfinite(clipped.loss))
    assert clipped.final_loss(3) < clipped.loss[0]
    png = clipping.plot_comparison(result, tmp_path / "c.png")
    assert png.stat().st_size > 1000
    assert "diverged at step" in clipping.format_comparison(result)


def test_command_line(tmp_path, capsys):
    assert clipping.main(["--units", "4", "--steps-per-sequence", "5", "--batch-size", "2", "--train-steps", "2",
                          "--clip", "0", "0.5", "--out", str(tmp_path)]) == 0
    assert "clip_global_norm=0.5" in capsys.readouterr().out
    assert (tmp_path / "clipping_loss_curves.png").is_file() and (tmp_path / "clipping_summary.txt").is_file()
