"""seqtasks.diagnostics.attention: the attention heat map PNG, and a one-line error for mismatched pieces."""

import numpy as np
import pytest

from seqtasks.diagnostics.attention import plot_attention


def test_writes_a_png_of_the_weights(tmp_path):
    weights = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1]])
    path = plot_attention(weights, ["▁Go", ".", "</s>"], ["▁Va", "</s>"], tmp_path / "sub" / "att.png", "Go.\nVa")
    assert path == tmp_path / "sub" / "att.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_shape_must_match_the_pieces(tmp_path):
    with pytest.raises(ValueError, match=r"shape \(2, 2\) do not match 2 output and 3 source pieces"):
        plot_attention(np.ones((2, 2)), ["a", "b", "c"], ["x", "y"], tmp_path / "att.png")
