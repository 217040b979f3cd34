"""The CTC frame alignment of one utterance (`seqtasks.decoding.ctc_alignment`)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from seqtasks.decoding.ctc_alignment import frame_alignment


class _StubModel:
    """Features = the waveform cut into frames of 4; logits favour class (frame index mod 3), 2 = blank."""

    def featurizer(self, waves, lengths):
        frames = tf.reshape(waves[:, : (tf.shape(waves)[1] // 4) * 4], [1, -1, 4])
        return frames, lengths // 4

    def logits_from_features(self, features, frame_lengths, training=None):
        assert training is False
        steps = tf.shape(features)[1]
        logits = 5.0 * tf.one_hot(tf.range(steps) % 3, 3)[None]
        return logits, frame_lengths - 1  # the last frame is padding


def test_frame_alignment_returns_features_posteriors_and_best_path():
    features, posteriors, best = frame_alignment(_StubModel(), np.arange(24, dtype=np.float32))
    assert features.shape == (6, 4) and features[1, 0] == 4.0
    assert posteriors.shape == (5, 3)
    np.testing.assert_allclose(posteriors.sum(axis=-1), 1.0, rtol=1e-6)
    assert best.tolist() == [0, 1, 2, 0, 1]
