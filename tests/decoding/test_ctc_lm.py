"""Tests of seqtasks.decoding.ctc_lm: prefix beam search semantics, agreement with the TensorFlow decoders, LM
fusion, repeated characters, batches."""

from __future__ import annotations

import collections
import itertools

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.decoding.char_lm import CharNGramLM
from seqtasks.decoding.ctc import ctc_beam_search_decode, ctc_greedy_decode
from seqtasks.decoding.ctc_lm import CTCLMDecoder, ctc_beam_search_lm, ctc_beam_search_lm_batch
from seqtasks.errors import DataError
from seqtasks.losses.ctc import ctc_loss

EXACT = {"top_k": None, "prune_log_prob": -np.inf}  # no per-frame pruning


def _log_softmax(x):
    x = np.asarray(x, np.float64)
    return x - np.log(np.exp(x - x.max(-1, keepdims=True)).sum(-1, keepdims=True)) - x.max(-1, keepdims=True)


def reference_prefix_beam_search(log_probs, beam_width, blank):
    """Textbook prefix beam search (dicts of prefixes, no LM) for comparison; returns (prefix, log prob)."""
    beams = {(): (0.0, -np.inf)}  # prefix -> (log p_blank, log p_non_blank)
    for frame in log_probs:
        nxt = collections.defaultdict(lambda: [-np.inf, -np.inf])
        for prefix, (pb, pnb) in beams.items():
            total = np.logaddexp(pb, pnb)
            nxt[prefix][0] = np.logaddexp(nxt[prefix][0], total + frame[blank])
            if prefix:
                nxt[prefix][1] = np.logaddexp(nxt[prefix][1], pnb + frame[prefix[-1]])
            for c in range(len(frame)):
                if c == blank:
                    continue
                source = pb if prefix and prefix[-1] == c else total
                nxt[prefix + (c,)][1] = np.logaddexp(nxt[prefix + (c,)][1], source + frame[c])
        ranked = sorted(nxt.items(), key=lambda kv: -np.logaddexp(*kv[1]))[:beam_width]
        beams = {p: tuple(v) for p, v in ranked if np.isfinite(np.logaddexp(*v))}
    best = max(beams.items(), key=lambda kv: np.logaddexp(*kv[1]))
    return best[0], float(np.logaddexp(*best[1]))


def _peaky(rng, frames, classes, blank, sharpness=5.0):
    """CTC-like outputs: each frame favours the blank or one character."""
    logits = rng.normal(size=(frames, classes))
    for t in range(frames):
        logits[t, blank if rng.random() < 0.5 else rng.integers(classes)] += sharpness
    return logits


@pytest.mark.parametrize("seed", range(6))
def test_equals_textbook_prefix_beam_search_on_random_logits(seed):
    rng = np.random.default_rng(seed)
    alphabet = "abcd"
    logits = rng.normal(size=(14, 5)) * 2.0
    for beam_width in (1, 3, 8):
        hyp = CTCLMDecoder(alphabet, beam_width=beam_width, **EXACT).decode(logits)[0]
        prefix, log_prob = reference_prefix_beam_search(_log_softmax(logits), beam_width, blank=4)
        assert hyp.text == "".join(alphabet[i] for i in prefix)
        assert hyp.acoustic == pytest.approx(log_prob, abs=1e-9)
        assert hyp.lm == 0.0 and hyp.score == hyp.acoustic


@pytest.mark.parametrize("blank_index", [None, 0])
def test_equals_tensorflow_beam_search_without_lm(blank_index):
    # Transcripts only: TensorFlow's decoder loses the extensions of a beam that is pushed out and reached again
    # within one frame, which can change which prefixes share the beam (and so their scores) without changing
    # the best transcript on CTC-like outputs; the scores are checked against the textbook search above.
    rng = np.random.default_rng(7)
    alphabet = "abcdefg"
    blank = 7 if blank_index is None else 0
    chars = [c for c in range(8) if c != blank]
    batch = np.stack([_peaky(rng, 30, 8, blank) for _ in range(12)])
    lengths = rng.integers(5, 31, size=12)
    for beam_width in (1, 4, 8, 16):
        ids, lens, _ = ctc_beam_search_decode(tf.constant(batch, tf.float32), lengths, beam_width, blank_index)
        expected = ["".join(alphabet[chars.index(i)] for i in row[:n])
                    for row, n in zip(ids.numpy(), lens.numpy(), strict=True)]
        decoder = CTCLMDecoder(alphabet, beam_width=beam_width, blank_index=blank_index, **EXACT)
        assert decoder(batch, lengths) == expected


def test_equals_tensorflow_on_flat_logits_when_the_beam_holds_every_prefix():
    # With beam >= number of possible prefixes nothing is pruned, so both searches are exact.
    rng = np.random.default_rng(3)
    logits = rng.normal(size=(6, 4, 3)) * 2.0  # 2 characters, 4 frames: 31 prefixes at most
    ids, lens, _ = ctc_beam_search_decode(tf.constant(logits, tf.float32), [4] * 6, beam_width=32)
    expected = ["".join("ab"[i] for i in row[:n]) for row, n in zip(ids.numpy(), lens.numpy(), strict=True)]
    assert CTCLMDecoder("ab", beam_width=32, **EXACT)(logits, [4] * 6) == expected


def test_acoustic_score_is_the_exact_ctc_probability_with_a_wide_beam():
    rng = np.random.default_rng(11)
    logits = rng.normal(size=(5, 3)) * 2.0
    for hyp in CTCLMDecoder("ab", beam_width=64, **EXACT).decode(logits, top_paths=5):
        labels = [["ab".index(ch) for ch in hyp.text] or [0]]
        loss = ctc_loss(tf.constant(labels), tf.constant(logits[None], tf.float32), [len(hyp.text)], [5])
        assert hyp.acoustic == pytest.approx(-float(loss[0]), abs=1e-4)


def test_beam_width_one_agrees_with_greedy_on_peaked_outputs():
    rng = np.random.default_rng(5)
    alphabet = "abcdef"
    batch = np.stack([_peaky(rng, 25, 7, 6, sharpness=8.0) for _ in range(8)])
    lengths = np.full(8, 25)
    ids, lens = ctc_greedy_decode(tf.constant(batch, tf.float32), lengths)
    greedy = ["".join(alphabet[i] for i in row[:n]) for row, n in zip(ids.numpy(), lens.numpy(), strict=True)]
    assert ctc_beam_search_lm_batch(batch, lengths, alphabet, beam_width=1) == greedy


def test_pruning_keeps_the_result_on_peaked_outputs():
    rng = np.random.default_rng(8)
    alphabet = "abcdefghij"
    for _ in range(5):
        logits = _peaky(rng, 40, 11, 10)
        exact = ctc_beam_search_lm(logits, alphabet, beam_width=8, **EXACT)
        assert ctc_beam_search_lm(logits, alphabet, beam_width=8, top_k=3, prune_log_prob=np.log(1e-3)) == exact


def _tie(alphabet, first, second, text):
    """Log-probs spelling `text` with the character at `first`'s position ambiguous between `first` and `second`."""
    frames = []
    for ch in text:
        row = np.full(len(alphabet) + 1, -30.0)
        if ch == first:
            row[alphabet.index(first)] = row[alphabet.index(second)] = np.log(0.5)
        else:
            row[alphabet.index(ch)] = 0.0
        frames.append(row)
        blank = np.full(len(alphabet) + 1, -30.0)
        blank[-1] = 0.0
        frames.append(blank)
    return np.array(frames)


def test_lm_flips_an_acoustic_tie_toward_its_spelling():
    alphabet = " 'abcdefghijklmnopqrstuvwxyz"
    logits = _tie(alphabet, "e", "a", "the cat")  # acoustically "the cat" == "tha cat"
    hyps = ctc_beam_search_lm(logits, alphabet, beam_width=8, top_paths=2)
    assert {h.text for h in hyps} == {"the cat", "tha cat"}
    assert hyps[0].score == pytest.approx(hyps[1].score, abs=1e-9)
    likes_the = CharNGramLM.train(["the cat sat on the mat", "the dog"] * 5, order=4, alphabet=alphabet)
    likes_tha = CharNGramLM.train(["tha cat sat on tha mat", "tha dog"] * 5, order=4, alphabet=alphabet)
    assert ctc_beam_search_lm(logits, alphabet, likes_the, lm_weight=0.5) == "the cat"
    assert ctc_beam_search_lm(logits, alphabet, likes_tha, lm_weight=0.5) == "tha cat"
    best = ctc_beam_search_lm(logits, alphabet, likes_the, lm_weight=0.5, top_paths=1)[0]
    expected_lm = 0.5 * sum(likes_the.log_prob(ch, "the cat"[:i]) for i, ch in enumerate("the cat"))
    expected_lm += 0.5 * likes_the.log_prob("</s>", "the cat")
    assert best.lm == pytest.approx(expected_lm) and best.score == pytest.approx(best.acoustic + best.lm)


def test_lm_weight_zero_equals_no_lm():
    alphabet = " 'abcdefghijklmnopqrstuvwxyz"
    lm = CharNGramLM.train(["the cat sat on the mat"], order=3, alphabet=alphabet)
    rng = np.random.default_rng(2)
    batch = np.stack([_peaky(rng, 30, 29, 28, sharpness=3.0) for _ in range(6)])
    lengths = rng.integers(10, 31, size=6)
    plain = ctc_beam_search_lm_batch(batch, lengths, alphabet, None, beam_width=6)
    assert ctc_beam_search_lm_batch(batch, lengths, alphabet, lm, beam_width=6, lm_weight=0.0) == plain


def test_repeated_characters_need_a_blank_even_when_the_lm_wants_them():
    alphabet = "ab"
    lm = CharNGramLM.train(["aa"] * 20, order=3, alphabet=alphabet)
    a, blank = [0.0, -1e9, -1e9], [-1e9, -1e9, 0.0]
    assert ctc_beam_search_lm(np.array([a, a]), alphabet, lm, lm_weight=5.0, **EXACT) == "a"
    assert ctc_beam_search_lm(np.array([a, blank, a]), alphabet, lm, lm_weight=5.0, **EXACT) == "aa"
    assert ctc_beam_search_lm(np.array([a, a, blank, a, a]), alphabet, None, **EXACT) == "aa"


def test_word_bonus_counts_words():
    alphabet = " ab"
    decoder = CTCLMDecoder(alphabet, word_bonus=1.5, char_bonus=0.25, beam_width=4, **EXACT)
    rows = {"a": [-1e9, 0.0, -1e9, -1e9], " ": [0.0, -1e9, -1e9, -1e9], "-": [-1e9, -1e9, -1e9, 0.0]}
    hyp = decoder.decode(np.array([rows[c] for c in "a- a-a"]))[0]
    assert hyp.text == "a aa" or hyp.text == "a a"
    assert hyp.lm == pytest.approx(1.5 * 2 + 0.25 * len(hyp.text))


def test_batch_respects_lengths():
    rng = np.random.default_rng(4)
    alphabet = "abc"
    batch = np.stack([_peaky(rng, 20, 4, 3) for _ in range(3)])
    batch[:, 12::2, :] = [-9.0, 0.0, -9.0, -9.0]  # padding frames spell "bbbb"
    batch[:, 13::2, :] = [-9.0, -9.0, -9.0, 0.0]
    lengths = [12, 7, 20]
    texts = ctc_beam_search_lm_batch(batch, lengths, alphabet, beam_width=4)
    assert texts == [ctc_beam_search_lm(batch[b, :n], alphabet, beam_width=4) for b, n in enumerate(lengths)]
    assert texts[0] != ctc_beam_search_lm(batch[0], alphabet, beam_width=4)
    assert ctc_beam_search_lm_batch(batch, [0, 0, 0], alphabet) == ["", "", ""]
    with pytest.raises(ValueError, match="logit_lengths"):
        ctc_beam_search_lm_batch(batch, [21, 1, 1], alphabet)


def test_argument_and_alphabet_errors(tmp_path):
    with pytest.raises(ValueError, match="`beam_width`"):
        CTCLMDecoder("ab", beam_width=0)
    with pytest.raises(ValueError, match="`lm_weight`"):
        CTCLMDecoder("ab", lm_weight=float("nan"))
    with pytest.raises(ValueError, match="shape"):
        CTCLMDecoder("ab").decode(np.zeros((4, 4)))
    lm = CharNGramLM.train(["abc"], order=2, alphabet="abc")
    with pytest.raises(DataError, match="LM adds 'c'"):
        CTCLMDecoder("ab", lm)
    path = lm.save(tmp_path / "lm.npz")
    with pytest.raises(DataError, match="LM adds 'c'"):
        CTCLMDecoder.from_file(str(path), "ab")
    assert CTCLMDecoder.from_file(str(path), "cab").lm.order == 2
    assert CTCLMDecoder.from_file("", "ab").lm is None


def test_n_best_is_sorted_and_distinct():
    rng = np.random.default_rng(9)
    hyps = ctc_beam_search_lm(rng.normal(size=(10, 4)), "abc", beam_width=8, top_paths=8)
    assert len({h.text for h in hyps}) == len(hyps) == 8
    assert all(x.score >= y.score for x, y in itertools.pairwise(hyps))
