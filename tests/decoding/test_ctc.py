"""Tests for seqtasks.decoding.ctc: greedy and beam search decoding, ids to strings."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.decoding.ctc import (
    ctc_beam_search_decode,
    ctc_decode,
    ctc_greedy_decode,
    ids_to_strings,
)
from seqtasks.losses.ctc import PAD_LABEL

ALPHABET = ["a", "b"]  # blank = class 2


def _peaked(paths, frames=None):
    frames = frames or max(len(p) for p in paths)
    out = np.full((len(paths), frames), 2)
    for i, p in enumerate(paths):
        out[i, : len(p)] = p
    return tf.one_hot(out, 3) * 10.0


def test_greedy_merges_repeats_and_drops_blanks():
    logits = _peaked([[0, 0, 2, 0, 1, 1, 2], [2, 2, 2], [1, 0, 1, 1, 0, 0, 0]])
    ids, lengths = ctc_greedy_decode(logits, tf.constant([7, 3, 3]))
    assert lengths.numpy().tolist() == [3, 0, 3]
    assert ids.numpy()[0].tolist() == [0, 0, 1]
    assert ids.numpy()[1].tolist() == [PAD_LABEL] * 3
    assert ctc_decode(logits, [7, 3, 3], ALPHABET).numpy().tolist() == [b"aab", b"", b"bab"]


def test_beam_equals_greedy_on_peaked_outputs():
    logits = _peaked([[0, 0, 2, 0, 1, 1, 2], [1, 2, 1, 1, 0]])
    greedy = ctc_decode(logits, [7, 5], ALPHABET, method="greedy").numpy()
    beam = ctc_decode(logits, [7, 5], ALPHABET, method="beam", beam_width=4).numpy()
    assert greedy.tolist() == beam.tolist() == [b"aab", b"bba"]


def test_beam_finds_the_more_probable_labelling():
    # Two frames, p(a) = 0.4, p(blank) = 0.6 each: the best path is blank-blank ("", p = 0.36), but the labelling
    # "a" has probability 0.16 + 0.24 + 0.24 = 0.64.
    probs = np.array([[[0.4, 1e-6, 0.6], [0.4, 1e-6, 0.6]]], np.float32)
    logits = tf.math.log(probs)
    assert ctc_decode(logits, [2], ALPHABET, method="greedy").numpy().tolist() == [b""]
    ids, lengths, log_probs = ctc_beam_search_decode(logits, tf.constant([2]), beam_width=4)
    assert ids.numpy()[0, : lengths.numpy()[0]].tolist() == [0]
    np.testing.assert_allclose(np.exp(log_probs.numpy()[0]), 0.64, rtol=1e-3)


@pytest.mark.parametrize("method", ["greedy", "beam"])
def test_blank_index_zero(method):
    logits = _peaked([[0, 0, 2, 0, 1, 1, 2], [1, 2, 1]])
    blank_first = tf.concat([logits[..., 2:], logits[..., :2]], axis=-1)
    out = ctc_decode(blank_first, [7, 3], ["_", "a", "b"], method=method, blank_index=0).numpy()
    assert out.tolist() == [b"aab", b"bb"]


def test_respects_logit_lengths():
    logits = _peaked([[0, 2, 1, 2, 0]])
    assert ctc_decode(logits, [2], ALPHABET).numpy().tolist() == [b"a"]
    assert ctc_decode(logits, [2], ALPHABET, method="beam").numpy().tolist() == [b"a"]


def test_ids_to_strings_with_separator_and_in_graph():
    ids = tf.constant([[3, 1, 4], [0, PAD_LABEL, PAD_LABEL], [PAD_LABEL] * 3])
    words = ["zero", "one", "two", "three", "four"]
    assert ids_to_strings(ids, words, separator=" ").numpy().tolist() == [b"three one four", b"zero", b""]
    decode = tf.function(lambda x, n: ctc_decode(x, n, ALPHABET, method="beam"))
    assert decode(_peaked([[1, 2, 0]]), tf.constant([3])).numpy().tolist() == [b"ba"]


def test_invalid_arguments():
    with pytest.raises(ValueError, match="method"):
        ctc_decode(_peaked([[0]]), [1], ALPHABET, method="viterbi")
    with pytest.raises(ValueError, match="beam_width"):
        ctc_beam_search_decode(_peaked([[0]]), tf.constant([1]), beam_width=0)
