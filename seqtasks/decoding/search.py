"""Greedy and beam search over a step function, in TensorFlow ops so that they run inside an exported graph.

A decoder is seen through one function::

    step_fn(tokens, state) -> (log_probs, new_state)

`tokens` is an int32 vector `(N,)` of the previous output tokens (the start id at the first step), `state` a
nested structure (tuple, list, dict) of tensors whose first dimension is `N`, and `log_probs` a float32
`(N, vocab_size)` tensor of next-token log-probabilities. For greedy search `N` is the batch size; for beam search
`N = batch_size * beam_size`, beams of a sentence being adjacent (row `b * beam_size + k`). Beam search tiles the
initial state itself and reorders the state after every step. Per-sentence constants that the step function
closes over (encoder outputs, source mask) must be tiled the same way with `tile_for_beams`; they need no
reordering because beams never move across sentences.

Both searches stop a hypothesis at `end_id`, force the end token once a hypothesis reaches its maximum length
(see `max_target_lengths`), never emit `pad_id` while a hypothesis is alive, and stop the loop as soon as every
hypothesis has ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NamedTuple

import tensorflow as tf

StepFn = Callable[[tf.Tensor, Any], tuple[tf.Tensor, Any]]

_NEG = -1e9


class SearchResult(NamedTuple):
    """Output of `greedy_search` and `beam_search`.

    Attributes:
        sequences: int32 `(batch, T)`, the best hypothesis of each sentence without the end token, padded with
            `pad_id`.
        lengths: int32 `(batch,)`, number of tokens of each sequence (end token not counted).
        log_probs: float32 `(batch,)`, total log-probability of the hypothesis, end token included.
        scores: float32 `(batch,)`, the score used to rank hypotheses: `log_probs` divided by the GNMT length
            penalty (equal to `log_probs` for greedy search and for `length_penalty=0`).
    """

    sequences: tf.Tensor
    lengths: tf.Tensor
    log_probs: tf.Tensor
    scores: tf.Tensor


def max_target_lengths(
    source_lengths: tf.Tensor, a: float = 1.5, b: int = 10, limit: int | None = None
) -> tf.Tensor:
    """Maximum output length per sentence, `ceil(a * source_length + b)`, optionally capped at `limit`.

    Args:
        source_lengths: int `(batch,)` source lengths in tokens.
        a: multiple of the source length.
        b: constant added.
        limit: optional upper bound for every sentence.

    Returns:
        int32 `(batch,)`.
    """
    lengths = tf.math.ceil(a * tf.cast(source_lengths, tf.float32) + float(b))
    lengths = tf.cast(tf.maximum(lengths, 1.0), tf.int32)
    if limit is not None:
        lengths = tf.minimum(lengths, limit)
    return lengths


def tile_for_beams(structure: Any, beam_size: int) -> Any:
    """Repeats every tensor of a nested structure `beam_size` times along axis 0 (`[a, b] -> [a, a, b, b]`)."""
    return tf.nest.map_structure(lambda x: tf.repeat(x, beam_size, axis=0), structure)


def length_penalty_factor(lengths: tf.Tensor, alpha: float) -> tf.Tensor:
    """GNMT length penalty `((5 + length) / 6) ** alpha` (Wu et al., 2016)."""
    return tf.pow((5.0 + tf.cast(lengths, tf.float32)) / 6.0, alpha)


def _as_max_lengths(max_lengths: Any, batch_size: tf.Tensor) -> tf.Tensor:
    max_lengths = tf.convert_to_tensor(max_lengths, dtype=tf.int32)
    return tf.broadcast_to(max_lengths, tf.reshape(batch_size, [1]))


def _prepare_log_probs(
    log_probs: tf.Tensor, force_end: tf.Tensor, end_id: int, pad_id: int
) -> tf.Tensor:
    """Forbids padding, and allows only the end token where `force_end` is true."""
    log_probs = tf.cast(log_probs, tf.float32)
    vocab = tf.range(tf.shape(log_probs)[-1])
    neg = tf.fill(tf.shape(log_probs), _NEG)
    log_probs = tf.where(tf.equal(vocab, pad_id)[None, :], neg, log_probs)
    only_end = tf.logical_and(force_end[:, None], tf.not_equal(vocab, end_id)[None, :])
    return tf.where(only_end, neg, log_probs)


def _relaxed_shape(x: tf.Tensor) -> tf.TensorShape:
    return tf.TensorShape([None] + x.shape.as_list()[1:])


def _strip_end(sequences: tf.Tensor, end_id: int, pad_id: int) -> tf.Tensor:
    return tf.where(tf.equal(sequences, end_id), tf.cast(pad_id, sequences.dtype), sequences)


def greedy_search(
    step_fn: StepFn,
    initial_state: Any,
    batch_size: Any,
    start_id: int,
    end_id: int,
    max_lengths: Any,
    pad_id: int = 0,
) -> SearchResult:
    """Picks the most likely token at every step.

    Args:
        step_fn: `(tokens, state) -> (log_probs, state)`, see the module docstring.
        initial_state: nested state with first dimension `batch_size`.
        batch_size: number of sentences (Python int or scalar tensor).
        start_id: token fed at the first step.
        end_id: token that ends a hypothesis.
        max_lengths: int scalar or `(batch,)` maximum number of tokens before the end token is forced.
        pad_id: token written after the end of a sequence, never generated.

    Returns:
        A `SearchResult`.
    """
    batch_size = tf.convert_to_tensor(batch_size, dtype=tf.int32)
    max_lengths = _as_max_lengths(max_lengths, batch_size)
    max_steps = tf.reduce_max(max_lengths) + 1

    def cond(t, tokens, state, finished, sequences, log_probs_sum, lengths):
        return tf.logical_and(t < max_steps, tf.logical_not(tf.reduce_all(finished)))

    def body(t, tokens, state, finished, sequences, log_probs_sum, lengths):
        log_probs, state = step_fn(tokens, state)
        log_probs = _prepare_log_probs(log_probs, t >= max_lengths, end_id, pad_id)
        next_tokens = tf.argmax(log_probs, axis=-1, output_type=tf.int32)
        token_log_probs = tf.gather(log_probs, next_tokens, batch_dims=1)
        next_tokens = tf.where(finished, pad_id, next_tokens)
        log_probs_sum += tf.where(finished, 0.0, token_log_probs)
        lengths += tf.where(finished, 0, 1)
        finished = tf.logical_or(finished, tf.equal(next_tokens, end_id))
        sequences = tf.concat([sequences, next_tokens[:, None]], axis=1)
        return t + 1, next_tokens, state, finished, sequences, log_probs_sum, lengths

    loop_vars = (
        tf.constant(0),
        tf.fill(tf.reshape(batch_size, [1]), tf.constant(start_id, tf.int32)),
        initial_state,
        tf.zeros(tf.reshape(batch_size, [1]), tf.bool),
        tf.zeros(tf.stack([batch_size, 0]), tf.int32),
        tf.zeros(tf.reshape(batch_size, [1]), tf.float32),
        tf.zeros(tf.reshape(batch_size, [1]), tf.int32),
    )
    invariants = (
        tf.TensorShape([]),
        tf.TensorShape([None]),
        tf.nest.map_structure(_relaxed_shape, initial_state),
        tf.TensorShape([None]),
        tf.TensorShape([None, None]),
        tf.TensorShape([None]),
        tf.TensorShape([None]),
    )
    _, _, _, finished, sequences, log_probs_sum, lengths = tf.while_loop(
        cond, body, loop_vars, shape_invariants=invariants
    )
    # Every hypothesis ends with the (possibly forced) end token, which the length excludes.
    lengths = lengths - tf.cast(finished, tf.int32)
    return SearchResult(
        _strip_end(sequences, end_id, pad_id), lengths, log_probs_sum, log_probs_sum
    )


def beam_search(
    step_fn: StepFn,
    initial_state: Any,
    batch_size: Any,
    start_id: int,
    end_id: int,
    max_lengths: Any,
    beam_size: int = 5,
    length_penalty: float = 0.0,
    pad_id: int = 0,
) -> SearchResult:
    """Keeps the `beam_size` best-scoring hypotheses per sentence at every step.

    A hypothesis that has produced the end token stays in its beam with a frozen score (extended by padding at
    no cost) until better hypotheses push it out, so with `beam_size=1` the search is exactly greedy search.
    Hypotheses are ranked by `log_prob / length_penalty_factor(length, length_penalty)`, the length counting
    the end token; `length_penalty=0` ranks by raw log-probability.

    Args:
        step_fn: `(tokens, state) -> (log_probs, state)` over `batch_size * beam_size` rows, see the module
            docstring.
        initial_state: nested state with first dimension `batch_size` (tiled here).
        batch_size: number of sentences (Python int or scalar tensor).
        start_id: token fed at the first step.
        end_id: token that ends a hypothesis.
        max_lengths: int scalar or `(batch,)` maximum number of tokens before the end token is forced.
        beam_size: positive integer, hypotheses kept per sentence (at most the vocabulary size).
        length_penalty: GNMT alpha, >= 0 (0.6 to 1.0 favours longer outputs).
        pad_id: token written after the end of a sequence, never generated.

    Returns:
        A `SearchResult` with the best hypothesis of each sentence.
    """
    if not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size <= 0:
        raise ValueError(
            "Received an invalid value for argument `beam_size`, expected a positive integer, "
            f"got {beam_size!r}."
        )
    if length_penalty < 0:
        raise ValueError(
            "Received an invalid value for argument `length_penalty`, expected a number >= 0, "
            f"got {length_penalty!r}."
        )
    k = beam_size
    batch_size = tf.convert_to_tensor(batch_size, dtype=tf.int32)
    max_lengths = _as_max_lengths(max_lengths, batch_size)
    beam_max_lengths = tf.repeat(max_lengths, k)
    max_steps = tf.reduce_max(max_lengths) + 1
    batch_offsets = tf.range(batch_size)[:, None] * k

    def normalise(log_probs, lengths):
        if length_penalty == 0:
            return log_probs
        return log_probs / length_penalty_factor(lengths, length_penalty)

    # Log-probabilities only decrease and the length penalty only grows, so an alive hypothesis can at best
    # reach its current log-probability divided by the penalty of the longest allowed output.
    best_penalty = length_penalty_factor(max_lengths + 1, length_penalty)[:, None]

    def all_sentences_done(finished, log_probs_sum, lengths):
        best_finished = tf.reduce_max(
            tf.where(finished, normalise(log_probs_sum, lengths), 2 * _NEG), axis=1
        )
        alive_bound = tf.reduce_max(
            tf.where(finished, 2 * _NEG, log_probs_sum / best_penalty), axis=1
        )
        return tf.reduce_all(best_finished >= alive_bound)

    def cond(t, tokens, state, finished, sequences, log_probs_sum, lengths):
        return tf.logical_and(
            t < max_steps, tf.logical_not(all_sentences_done(finished, log_probs_sum, lengths))
        )

    def body(t, tokens, state, finished, sequences, log_probs_sum, lengths):
        step_log_probs, state = step_fn(tokens, state)
        step_log_probs = _prepare_log_probs(step_log_probs, t >= beam_max_lengths, end_id, pad_id)
        vocab_size = tf.shape(step_log_probs)[-1]
        step_log_probs = tf.reshape(step_log_probs, tf.stack([batch_size, k, vocab_size]))
        alive_candidates = log_probs_sum[:, :, None] + step_log_probs
        is_pad = tf.equal(tf.range(vocab_size), pad_id)[None, None, :]
        finished_candidates = tf.where(is_pad, log_probs_sum[:, :, None], _NEG)
        candidates = tf.where(finished[:, :, None], finished_candidates, alive_candidates)
        candidate_lengths = tf.where(finished, lengths, lengths + 1)
        ranking = normalise(candidates, candidate_lengths[:, :, None])
        flat_shape = tf.stack([batch_size, k * vocab_size])
        _, flat_index = tf.math.top_k(tf.reshape(ranking, flat_shape), k=k)
        beam_index = flat_index // vocab_size
        next_tokens = flat_index % vocab_size
        log_probs_sum = tf.gather(tf.reshape(candidates, flat_shape), flat_index, batch_dims=1)
        lengths = tf.gather(candidate_lengths, beam_index, batch_dims=1)
        finished = tf.logical_or(
            tf.gather(finished, beam_index, batch_dims=1), tf.equal(next_tokens, end_id)
        )
        sequences = tf.concat(
            [tf.gather(sequences, beam_index, batch_dims=1), next_tokens[:, :, None]], axis=2
        )
        rows = tf.reshape(beam_index + batch_offsets, [-1])
        state = tf.nest.map_structure(lambda s: tf.gather(s, rows), state)
        return (
            t + 1,
            tf.reshape(next_tokens, [-1]),
            state,
            finished,
            sequences,
            log_probs_sum,
            lengths,
        )

    # Only the first beam of each sentence is live at the start: the others are copies of it.
    first_beam_only = tf.concat([tf.zeros([1]), tf.fill([k - 1], _NEG)], axis=0)
    bk = tf.stack([batch_size, k])
    loop_vars = (
        tf.constant(0),
        tf.fill(tf.reshape(batch_size * k, [1]), tf.constant(start_id, tf.int32)),
        tile_for_beams(initial_state, k),
        tf.zeros(bk, tf.bool),
        tf.zeros(tf.stack([batch_size, k, 0]), tf.int32),
        tf.tile(first_beam_only[None, :], tf.stack([batch_size, 1])),
        tf.zeros(bk, tf.int32),
    )
    invariants = (
        tf.TensorShape([]),
        tf.TensorShape([None]),
        tf.nest.map_structure(_relaxed_shape, loop_vars[2]),
        tf.TensorShape([None, k]),
        tf.TensorShape([None, k, None]),
        tf.TensorShape([None, k]),
        tf.TensorShape([None, k]),
    )
    _, _, _, finished, sequences, log_probs_sum, lengths = tf.while_loop(
        cond, body, loop_vars, shape_invariants=invariants
    )
    # The loop ends when every sentence has a finished hypothesis that no alive one can beat, or when the
    # maximum length forced every hypothesis to end.
    ranking = tf.where(finished, normalise(log_probs_sum, lengths), 2 * _NEG)
    best = tf.argmax(ranking, axis=1, output_type=tf.int32)
    best_log_probs = tf.gather(log_probs_sum, best, batch_dims=1)
    best_lengths = tf.gather(lengths, best, batch_dims=1)
    scores = normalise(best_log_probs, best_lengths)
    best_lengths = best_lengths - tf.cast(tf.gather(finished, best, batch_dims=1), tf.int32)
    best_sequences = tf.gather(sequences, best, batch_dims=1)
    return SearchResult(
        _strip_end(best_sequences, end_id, pad_id), best_lengths, best_log_probs, scores
    )
