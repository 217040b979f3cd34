"""Tests for seqtasks.losses.ctc: padding invariance, blank/padding conventions, infeasible transcripts."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.losses.ctc import (
    PAD_LABEL,
    ctc_feasible,
    ctc_loss,
    ctc_min_frames,
    ctc_required_frames,
)

NUM_CLASSES = 6  # 5 characters + blank (last)


def _pad(labels, logits):
    batch, width = len(labels), max(1, max(len(label) for label in labels))
    frames = max(x.shape[0] for x in logits)
    dense = np.full((batch, width), PAD_LABEL, np.int32)
    padded = np.zeros((batch, frames, NUM_CLASSES), np.float32)
    for i, (label, x) in enumerate(zip(labels, logits, strict=True)):
        dense[i, : len(label)] = label
        padded[i, : x.shape[0]] = x
    lengths = np.array([len(label) for label in labels], np.int32)
    frame_lengths = np.array([x.shape[0] for x in logits], np.int32)
    return dense, padded, lengths, frame_lengths


@pytest.fixture
def batch():
    rng = np.random.default_rng(0)
    labels = [[0, 1, 1, 2], [4], [3, 3, 3], [2, 0, 4, 1, 3, 2], []]
    frames = [9, 4, 6, 12, 3]
    logits = [rng.standard_normal((t, NUM_CLASSES)).astype(np.float32) for t in frames]
    return labels, logits


def test_padded_batch_equals_unpadded_per_example_losses(batch):
    labels, logits = batch
    dense, padded, lengths, frame_lengths = _pad(labels, logits)
    batched = ctc_loss(dense, padded, lengths, frame_lengths).numpy()
    single = []
    for label, x in zip(labels, logits, strict=True):
        d, p, n, f = _pad([label], [x])
        single.append(ctc_loss(d, p, n, f).numpy()[0])
    np.testing.assert_allclose(batched, single, rtol=1e-5)
    assert np.all(np.isfinite(batched)) and np.all(batched > 0)


def test_matches_tensorflow_dense_reference(batch):
    labels, logits = batch
    dense, padded, lengths, frame_lengths = _pad(labels, logits)
    ours = ctc_loss(dense, padded, lengths, frame_lengths).numpy()
    reference = tf.nn.ctc_loss(
        np.maximum(dense, 0), padded, lengths, frame_lengths, logits_time_major=False, blank_index=NUM_CLASSES - 1
    ).numpy()
    np.testing.assert_allclose(ours, reference, rtol=1e-4)


def test_empty_transcript_is_all_blank_probability(batch):
    _, logits = batch
    x = logits[4]
    expected = -np.sum(tf.nn.log_softmax(x).numpy()[:, NUM_CLASSES - 1])
    d, p, n, f = _pad([[]], [x])
    np.testing.assert_allclose(ctc_loss(d, p, n, f).numpy()[0], expected, rtol=1e-5)


def test_blank_first_gives_same_loss_as_blank_last(batch):
    labels, logits = batch
    dense, padded, lengths, frame_lengths = _pad(labels, logits)
    last = ctc_loss(dense, padded, lengths, frame_lengths).numpy()
    # Move the blank to class 0 and shift every character up by one.
    rolled = np.concatenate([padded[..., -1:], padded[..., :-1]], axis=-1)
    shifted = np.where(dense >= 0, dense + 1, PAD_LABEL)
    first = ctc_loss(shifted, rolled, lengths, frame_lengths, blank_index=0).numpy()
    np.testing.assert_allclose(first, last, rtol=1e-5)


def test_required_frames_count_repeats():
    assert ctc_min_frames([]) == 0
    assert ctc_min_frames([1, 2, 3]) == 3
    assert ctc_min_frames([1, 1, 2, 2, 2]) == 8
    dense = tf.constant([[1, 1, 2, PAD_LABEL], [3, 3, 3, 3], [2, 2, PAD_LABEL, PAD_LABEL]])
    # Row 2 is only one label long: the repeat past its length does not count.
    required = ctc_required_frames(dense, tf.constant([3, 4, 1])).numpy()
    assert required.tolist() == [4, 7, 1]
    assert ctc_feasible(dense, tf.constant([3, 4, 1]), tf.constant([4, 6, 1])).numpy().tolist() == [True, False, True]


def test_impossible_transcripts_are_masked_never_nan():
    rng = np.random.default_rng(1)
    logits = tf.Variable(rng.standard_normal((3, 5, NUM_CLASSES)).astype(np.float32))
    labels = tf.constant([[0, 1, PAD_LABEL], [2, 2, 2], [0, 1, 2]])  # "aaa"-like row needs 5 frames
    label_lengths = tf.constant([2, 3, 3])
    logit_lengths = tf.constant([5, 4, 2])  # rows 1 and 2 cannot fit
    with tf.GradientTape() as tape:
        losses = ctc_loss(labels, logits, label_lengths, logit_lengths)
        total = tf.reduce_sum(losses)
    grads = tape.gradient(total, logits).numpy()
    assert losses.numpy()[1] == 0.0 and losses.numpy()[2] == 0.0
    assert np.isfinite(losses.numpy()).all() and losses.numpy()[0] > 0
    assert np.isfinite(grads).all()
    assert np.all(grads[1:] == 0.0) and np.abs(grads[0]).max() > 0


def test_impossible_transcripts_can_raise():
    logits = tf.zeros([1, 2, NUM_CLASSES])
    with pytest.raises(tf.errors.InvalidArgumentError, match="CTC transcript longer than its frames"):
        ctc_loss(tf.constant([[1, 1]]), logits, tf.constant([2]), tf.constant([2]), on_infeasible="raise")
    with pytest.raises(ValueError, match="on_infeasible"):
        ctc_loss(tf.constant([[1]]), logits, tf.constant([1]), tf.constant([2]), on_infeasible="ignore")


def test_works_inside_tf_function(batch):
    labels, logits = batch
    dense, padded, lengths, frame_lengths = _pad(labels, logits)
    eager = ctc_loss(dense, padded, lengths, frame_lengths).numpy()
    graph = tf.function(ctc_loss)(dense, padded, lengths, frame_lengths).numpy()
    np.testing.assert_allclose(graph, eager, rtol=1e-6)
