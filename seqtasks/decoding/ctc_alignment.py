"""CTC frame alignment: what a CTC acoustic model emits at each output frame of one utterance."""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf


def frame_alignment(model: Any, waveform: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Features, per-output-frame class posteriors and best classes of one utterance.

    Args:
        model: a CTC speech model with `featurizer(waveforms, lengths) -> (features, frame_lengths)` and
            `logits_from_features(features, frame_lengths, training) -> (logits, logit_lengths)` (the speech
            task's `CTCSpeechModel`).
        waveform: float32 samples at the model's sample rate.

    Returns:
        `(features (frames, channels), posteriors (output_frames, num_classes), best (output_frames,))`; the
        greedy (best path) alignment is `best`, with the blank as the last class.
    """
    wave = tf.constant(waveform[None].astype(np.float32))
    length = tf.constant([waveform.size], tf.int32)
    features, frame_lengths = model.featurizer(wave, length)
    logits, logit_lengths = model.logits_from_features(features, frame_lengths, training=False)
    n_frames, n_out = int(frame_lengths[0]), int(logit_lengths[0])
    posteriors = tf.nn.softmax(logits[0, :n_out], axis=-1).numpy()
    return features[0, :n_frames].numpy(), posteriors, posteriors.argmax(axis=-1)


__all__ = ["frame_alignment"]
