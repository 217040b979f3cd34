"""The CTC alignment PNG (`seqtasks.diagnostics.alignment`)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from seqtasks.data.transcripts import Alphabet
from seqtasks.diagnostics.alignment import plot_alignment


class _Featurizer:
    hop_length = 4

    def __call__(self, waves, lengths):
        return tf.reshape(waves[:, : (tf.shape(waves)[1] // 4) * 4], [1, -1, 4]), lengths // 4


class _StubModel:
    """Three characters + blank; emits 'a', blank, 'b', ' ' in turn."""

    sample_rate = 100
    featurizer = _Featurizer()

    def logits_from_features(self, features, frame_lengths, training=None):
        steps = tf.shape(features)[1]
        return 5.0 * tf.one_hot(tf.gather([1, 3, 2, 0], tf.range(steps) % 4), 4)[None], frame_lengths


def test_plot_alignment_writes_a_png(tmp_path):
    out = plot_alignment(_StubModel(), np.linspace(-1, 1, 64, dtype=np.float32), Alphabet(" ab"),
                         tmp_path / "plots" / "x.png", title="x.wav", transcript="ab")
    assert out == tmp_path / "plots" / "x.png" and out.read_bytes()[:4] == b"\x89PNG"
