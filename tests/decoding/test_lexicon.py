"""The lexicon-constrained CTC decoder against an independent reference: the best CTC alignment score (Viterbi,
in NumPy) of every word sequence, enumerated."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.decoding.lexicon import LexiconCTCDecoder
from seqtasks.losses.ctc import PAD_LABEL

SEP, BLANK, K = 0, 5, 6
LEXICON = [[1, 2], [2, 3, 3], [4], [1, 1]]


def best_alignment_score(log_probs: np.ndarray, labels: list[int]) -> float:
    """Max over CTC alignments of `labels` of the summed frame log-probabilities (textbook Viterbi)."""
    ext = [BLANK]
    for label in labels:
        ext += [label, BLANK]
    t_len, s_len = len(log_probs), len(ext)
    delta = np.full(s_len, -np.inf)
    delta[0] = log_probs[0, ext[0]]
    if s_len > 1:
        delta[1] = log_probs[0, ext[1]]
    for t in range(1, t_len):
        new = np.full(s_len, -np.inf)
        for s in range(s_len):
            best = delta[s]
            if s >= 1:
                best = max(best, delta[s - 1])
            if s >= 2 and ext[s] != BLANK and ext[s] != ext[s - 2]:
                best = max(best, delta[s - 2])
            new[s] = best + log_probs[t, ext[s]]
        delta = new
    return float(max(delta[-1], delta[-2] if s_len > 1 else -np.inf))


def reference(log_probs: np.ndarray, max_words: int = 4) -> tuple[list[int], float]:
    best, best_score = [], -np.inf
    for n in range(1, max_words + 1):
        for words in itertools.product(LEXICON, repeat=n):
            labels = list(words[0])
            for w in words[1:]:
                labels += [SEP, *w]
            score = best_alignment_score(log_probs, labels)
            if score > best_score + 1e-6:
                best, best_score = labels, score
    return best, best_score


@pytest.mark.parametrize("seed", range(6))
def test_matches_exhaustive_search_over_word_sequences(seed):
    rng = np.random.default_rng(seed)
    frames = 7
    logits = rng.normal(0, 2.0, (3, frames, K)).astype(np.float32)
    lengths = np.array([frames, 5, 4], np.int32)
    ids, out_lengths = LexiconCTCDecoder(LEXICON, SEP, BLANK).decode(tf.constant(logits), tf.constant(lengths))
    log_probs = tf.nn.log_softmax(logits).numpy()
    for b in range(3):
        # At most 4 words fit in 7 frames (each character and separator needs a frame).
        expected, _ = reference(log_probs[b, : lengths[b]])
        got = ids.numpy()[b, : out_lengths.numpy()[b]].tolist()
        assert got == expected, (b, got, expected)
        assert np.all(ids.numpy()[b, out_lengths.numpy()[b]:] == PAD_LABEL)


def test_spells_only_lexicon_words_where_free_decoding_would_not():
    # The frames say 1 3 (not a word); the closest words under the constraint win.
    path = [1, 1, BLANK, 3, 3, BLANK]
    logits = tf.one_hot([path], K) * 4.0
    ids, lengths = LexiconCTCDecoder(LEXICON, SEP, BLANK).decode(logits, tf.constant([6]))
    decoded = ids.numpy()[0, : lengths.numpy()[0]].tolist()
    words = [tuple(w) for w in LEXICON]
    pieces = [tuple(int(x) for x in piece.split()) for piece in " ".join(map(str, decoded)).split(f" {SEP} ")]
    assert decoded and all(piece in words for piece in pieces), decoded


def test_too_short_rows_decode_to_nothing_and_graph_mode_works():
    decoder = LexiconCTCDecoder([[1, 2, 3]], SEP, BLANK)  # needs 3 frames
    fn = tf.function(decoder.decode, input_signature=[tf.TensorSpec([None, None, K]), tf.TensorSpec([None], tf.int32)])
    ids, lengths = fn(tf.zeros([2, 4, K]), tf.constant([2, 0]))
    assert lengths.numpy().tolist() == [0, 0]
    ids, lengths = fn(tf.zeros([1, 1, K]), tf.constant([1]))
    assert lengths.numpy().tolist() == [0]


def test_invalid_lexicon_is_refused():
    with pytest.raises(ValueError, match="lexicon"):
        LexiconCTCDecoder([[1, SEP, 2]], SEP, BLANK)
    with pytest.raises(ValueError, match="lexicon"):
        LexiconCTCDecoder([], SEP, BLANK)
