"""Tests of seqtasks.decoding.search against brute force, greedy equivalence and a SavedModel round trip."""

import itertools

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.decoding.search import (
    beam_search,
    greedy_search,
    length_penalty_factor,
    max_target_lengths,
    tile_for_beams,
)

PAD, START, END = 0, 1, 2


class TinyRNN:
    """A random recurrent language model whose next-token distribution depends on the whole prefix."""

    def __init__(self, vocab_size=6, dim=8, seed=0, batch=3):
        rng = np.random.default_rng(seed)
        self.vocab_size = vocab_size
        self.embed = rng.normal(size=(vocab_size, dim)).astype("float32")
        self.recur = (rng.normal(size=(dim, dim)) * 0.8).astype("float32")
        self.out = (rng.normal(size=(dim, vocab_size)) * 1.5).astype("float32")
        # A per-sentence "source" vector, closed over by the step function like encoder outputs.
        self.source = rng.normal(size=(batch, dim)).astype("float32")

    def step_np(self, token, h, b):
        h = np.tanh(h @ self.recur + self.embed[token] + self.source[b])
        logits = h @ self.out
        return logits - np.log(np.exp(logits - logits.max()).sum()) - logits.max(), h

    def step_fn(self, source):
        embed, recur, out = tf.constant(self.embed), tf.constant(self.recur), tf.constant(self.out)

        def step(tokens, state):
            h = tf.tanh(state["h"][0] @ recur + tf.gather(embed, tokens) + source)
            return tf.nn.log_softmax(h @ out), {"h": (h,), "count": state["count"] + 1}

        return step

    def initial_state(self, batch):
        return {
            "h": (tf.zeros([batch, self.embed.shape[1]]),),
            "count": tf.zeros([batch], tf.int32),
        }


def brute_force(model, b, max_length, alpha):
    """Exact best hypothesis under the same rules: no padding, end token forced at `max_length`."""
    words = [t for t in range(model.vocab_size) if t not in (PAD, START, END)] + [START]
    best = (-np.inf, None, None)
    for n in range(max_length + 1):
        for prefix in itertools.product(words, repeat=n):
            h, token, total = np.zeros(model.embed.shape[1], "float32"), START, 0.0
            for next_token in (*prefix, END):
                log_probs, h = model.step_np(token, h, b)
                total += log_probs[next_token]
                token = next_token
            score = total / ((5 + n + 1) / 6) ** alpha
            if score > best[0]:
                best = (score, list(prefix), total)
    return best


@pytest.mark.parametrize("alpha", [0.0, 0.8])
def test_wide_beam_finds_the_exact_best_hypothesis(alpha):
    model = TinyRNN()
    max_lengths = tf.constant([3, 2, 4])
    beam = 64
    result = beam_search(
        model.step_fn(tile_for_beams(tf.constant(model.source), beam)),
        model.initial_state(3),
        3,
        START,
        END,
        max_lengths,
        beam_size=beam,
        length_penalty=alpha,
    )
    for b, max_length in enumerate(max_lengths.numpy()):
        score, prefix, total = brute_force(model, b, int(max_length), alpha)
        length = int(result.lengths[b])
        assert result.sequences[b, :length].numpy().tolist() == prefix
        assert np.all(result.sequences[b, length:].numpy() == PAD)
        np.testing.assert_allclose(result.scores[b], score, rtol=1e-5)
        np.testing.assert_allclose(result.log_probs[b], total, rtol=1e-5)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_beam_size_one_equals_greedy(seed):
    model = TinyRNN(vocab_size=9, seed=seed)
    source = tf.constant(model.source)
    max_lengths = max_target_lengths(tf.constant([2, 5, 3]), a=1.0, b=2)
    greedy = greedy_search(
        model.step_fn(source), model.initial_state(3), 3, START, END, max_lengths
    )
    beam = beam_search(
        model.step_fn(source),
        model.initial_state(3),
        3,
        START,
        END,
        max_lengths,
        beam_size=1,
        length_penalty=0.6,
    )
    np.testing.assert_array_equal(greedy.sequences.numpy(), beam.sequences.numpy())
    np.testing.assert_array_equal(greedy.lengths.numpy(), beam.lengths.numpy())
    np.testing.assert_allclose(greedy.log_probs.numpy(), beam.log_probs.numpy(), rtol=1e-6)


def markov_step(table):
    table = tf.math.log(tf.constant(table, tf.float32) + 1e-12)

    def step(tokens, state):
        return tf.gather(table, tokens), state + 1

    return step


def test_beam_beats_greedy_on_a_garden_path():
    # After the start token (1): A=3 with 0.6, B=4 with 0.4. After A the mass is spread over three words that
    # each end (0.34/0.33/0.33), after B the end token has 0.9. Greedy takes A (0.6 * 0.34 = 0.204), the best
    # sequence is B END (0.36).
    vocab = 8
    table = np.zeros((vocab, vocab))
    table[START, 3], table[START, 4] = 0.6, 0.4
    table[3, 5], table[3, 6], table[3, 7] = 0.34, 0.33, 0.33
    table[4, END], table[4, 5] = 0.9, 0.1
    for word in (5, 6, 7):
        table[word, END] = 1.0
    table[END, END] = table[PAD, END] = 1.0
    state = tf.zeros([1], tf.int32)
    greedy = greedy_search(markov_step(table), state, 1, START, END, 5)
    beam = beam_search(markov_step(table), state, 1, START, END, 5, beam_size=2)
    assert greedy.sequences[0, : int(greedy.lengths[0])].numpy().tolist() == [3, 5]
    assert beam.sequences[0, : int(beam.lengths[0])].numpy().tolist() == [4]
    assert float(beam.log_probs[0]) > float(greedy.log_probs[0])
    np.testing.assert_allclose(float(beam.log_probs[0]), np.log(0.36), rtol=1e-5)
    np.testing.assert_allclose(float(greedy.log_probs[0]), np.log(0.6 * 0.34), rtol=1e-5)


def test_max_length_forces_end_and_pad_is_never_generated():
    vocab = 6
    table = np.full((vocab, vocab), 1e-6)
    table[:, PAD] = 2.0  # a model that loves padding must still not emit it
    table[:, 4] = 1.0  # free words: with a length penalty the longest output wins
    state = tf.zeros([2], tf.int32)
    searches = (greedy_search, lambda *a: beam_search(*a, beam_size=3, length_penalty=1.0))
    for search in searches:
        result = search(markov_step(table), state, 2, START, END, tf.constant([3, 1]))
        assert result.lengths.numpy().tolist() == [3, 1]
        assert result.sequences.numpy().tolist() == [[4, 4, 4, 0], [4, 0, 0, 0]]


def test_helpers():
    np.testing.assert_array_equal(
        max_target_lengths(tf.constant([0, 4, 10]), 1.5, 2, limit=12), [2, 8, 12]
    )
    tiled = tile_for_beams({"a": tf.constant([[1], [2]])}, 3)
    assert tiled["a"].numpy().ravel().tolist() == [1, 1, 1, 2, 2, 2]
    np.testing.assert_allclose(length_penalty_factor(tf.constant(1), 0.6), 1.0)
    with pytest.raises(ValueError, match="`beam_size`"):
        beam_search(markov_step(np.ones((4, 4))), tf.zeros([1]), 1, START, END, 3, beam_size=0)


def test_searches_run_in_an_exported_savedmodel(tmp_path):
    model = TinyRNN(vocab_size=7, seed=3)
    embed, recur, out = (tf.Variable(x) for x in (model.embed, model.recur, model.out))

    class Decoder(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, 8], tf.float32), tf.TensorSpec([None], tf.int32)]
        )
        def decode(self, source, source_lengths):
            batch = tf.shape(source)[0]
            max_lengths = max_target_lengths(source_lengths, 1.0, 1)

            def step_for(src):
                def step(tokens, state):
                    h = tf.tanh(state[0] @ recur + tf.gather(embed, tokens) + src)
                    return tf.nn.log_softmax(h @ out), (h,)

                return step

            h0 = (tf.zeros([batch, 8]),)
            greedy = greedy_search(step_for(source), h0, batch, START, END, max_lengths)
            beam = beam_search(
                step_for(tile_for_beams(source, 4)), h0, batch, START, END, max_lengths, 4, 0.6
            )
            return {"greedy": greedy.sequences, "beam": beam.sequences, "beam_scores": beam.scores}

    module = Decoder()
    module.vars = [embed, recur, out]
    source, lengths = tf.constant(model.source), tf.constant([2, 3, 1])
    expected = module.decode(source, lengths)
    tf.saved_model.save(module, str(tmp_path / "m"))
    restored = tf.saved_model.load(str(tmp_path / "m"))
    got = restored.decode(source, lengths)
    for key in expected:
        np.testing.assert_allclose(got[key].numpy(), expected[key].numpy(), rtol=1e-6)
    eager_beam = beam_search(
        model.step_fn(tile_for_beams(source, 4)),
        model.initial_state(3),
        3,
        START,
        END,
        max_target_lengths(lengths, 1.0, 1),
        4,
        0.6,
    )
    np.testing.assert_array_equal(got["beam"].numpy(), eager_beam.sequences.numpy())
