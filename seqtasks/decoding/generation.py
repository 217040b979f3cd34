"""In-process generation with the recurrent state carried between steps, and stateful scoring of texts.

Works with any stateful next-token model (`StepModel`: `step(ids, states) -> (logits, states)`,
`initial_states(batch)`, `vocab_size`), e.g. text generation's `CharLanguageModel`, and any `Codec` that maps text
to ids and back with an unknown id that is never sampled (e.g. its `CharVocabulary`).
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any, Protocol, TextIO

import numpy as np
import tensorflow as tf

from seqtasks.decoding.samplers import Sampler

_NEG = -1e9


class StepModel(Protocol):
    """A next-token model that carries its recurrent state from one call to the next."""

    vocab_size: int

    def step(self, token_ids: Any, states: Any) -> tuple[Any, Any]:
        """Logits `(batch, time, vocab)` for every position of `token_ids` and the states after the last one."""

    def initial_states(self, batch_size: int) -> Any:
        """Zero states for `batch_size` sequences."""


class Codec(Protocol):
    """Text <-> ids (a character vocabulary); `unknown_id` is never generated."""

    unknown_id: int

    def encode(self, text: str) -> np.ndarray: ...

    def decode(self, ids: Iterable[int]) -> str: ...


def batch_major_ids(ids: tf.Tensor) -> tf.Tensor:
    """(time, batch) integer ids as (batch, time).

    Transposed as same-width floats (a bitcast: the bits, hence the ids, are unchanged) because oneDNN logs an
    error-level notice for every integer transpose on CPUs without AVX-512.
    """
    as_float = {tf.int32: tf.float32, tf.int64: tf.float64}[ids.dtype]
    return tf.bitcast(tf.transpose(tf.bitcast(ids, as_float)), ids.dtype)


class Generator:
    """Generates text from a `StepModel` (e.g. a `CharLanguageModel`), one character per model step.

    The prompt is read in one call; after that every step feeds only the last sampled character together with
    the recurrent state returned by the previous step (never re-reading a window). Several samples of the same
    prompt run side by side in one batch. The unknown id is never sampled. Steps run in a compiled loop of
    `chunk_size` characters, after which the new characters are handed to `on_chars` (streaming) and the loop
    continues from the carried state.

    Args:
        model: A trained `StepModel` (e.g. `CharLanguageModel`).
        vocab: Its `Codec` (e.g. `CharVocabulary`).
        sampler: A `Sampler` (greedy, temperature, top-k, top-p).
        chunk_size: Characters generated per compiled loop between two streaming callbacks.

    Example:

    >>> gen = Generator(model, vocab, TopKSampler(10, temperature=0.8))
    >>> texts = gen.generate("ROMEO:", num_chars=200, num_samples=2, seed=1)
    """

    def __init__(self, model: StepModel, vocab: Codec, sampler: Sampler, chunk_size: int = 16):
        self.model, self.vocab, self.sampler = model, vocab, sampler
        self.chunk_size = max(int(chunk_size), 1)
        mask = tf.one_hot(vocab.unknown_id, model.vocab_size, on_value=_NEG, off_value=0.0)

        @tf.function(reduce_retracing=True)
        def prime(ids, states):
            logits, states = model.step(ids, states)
            return logits[:, -1, :] + mask, states

        @tf.function(reduce_retracing=True)
        def chunk(logits, states, seed, n):
            chosen = tf.TensorArray(tf.int32, size=n, element_shape=tf.TensorShape([None]))

            def body(i, logits, states, chosen):
                next_ids = sampler(logits, tf.stack([seed[0], seed[1] + i]))
                new_logits, new_states = model.step(next_ids[:, None], states)
                return i + 1, new_logits[:, -1, :] + mask, new_states, chosen.write(i, next_ids)

            _, logits, states, chosen = tf.while_loop(
                lambda i, *_: i < n, body, (tf.constant(0), logits, states, chosen)
            )
            return batch_major_ids(chosen.stack()), logits, states

        self._prime, self._chunk = prime, chunk

    def generate(
        self,
        prompt: str,
        num_chars: int,
        num_samples: int = 1,
        seed: int | None = None,
        on_chars: Callable[[list[str]], None] | None = None,
    ) -> list[str]:
        """Generates `num_chars` characters after `prompt` for each of `num_samples` samples.

        Args:
            prompt: Seed text (an empty prompt starts from a newline).
            num_chars: Number of characters to generate.
            num_samples: Samples generated in one batch.
            seed: Seed of the sampling (None = nondeterministic).
            on_chars: Called after every step with the new character of each sample (for streaming).

        Returns:
            The generated continuations (without the prompt).
        """
        ids = self.vocab.encode(prompt or "\n")
        batch = np.repeat(ids[None, :], num_samples, axis=0)
        logits, states = self._prime(tf.constant(batch), self.model.initial_states(num_samples))
        rng = np.random.default_rng(seed)
        pieces = []
        done = 0
        while done < num_chars:
            n = min(self.chunk_size, num_chars - done)
            s = tf.constant(rng.integers(0, 2**30, size=2), dtype=tf.int32)
            new_ids, logits, states = self._chunk(logits, states, s, tf.constant(n, tf.int32))
            new_ids = new_ids.numpy()
            pieces.append(new_ids)
            done += n
            if on_chars is not None:
                for column in new_ids.T:
                    on_chars([self.vocab.decode([j]) for j in column])
        out = np.concatenate(pieces, axis=1) if pieces else np.zeros((num_samples, 0), np.int32)
        return [self.vocab.decode(row) for row in out]


class StreamPrinter:
    """Streams generated characters to a terminal: one sample char by char; several samples line by line,
    each line prefixed with its sample number as soon as it is complete."""

    def __init__(self, out: TextIO, num_samples: int):
        self.out, self.num_samples = out, num_samples
        self.buffers = [""] * num_samples

    def __call__(self, chars: Sequence[str]) -> None:
        if self.num_samples == 1:
            self.out.write(chars[0])
            self.out.flush()
            return
        for i, c in enumerate(chars):
            self.buffers[i] += c
            if c == "\n":
                self.out.write(f"[{i + 1}] {self.buffers[i]}")
                self.buffers[i] = ""
        self.out.flush()

    def close(self) -> None:
        for i, rest in enumerate(self.buffers):
            if rest:
                self.out.write(f"[{i + 1}] {rest}\n" if self.num_samples > 1 else rest)
        if self.num_samples == 1:
            self.out.write("\n")
        self.out.flush()


def score_ids(model: StepModel, ids: np.ndarray, batch_size: int = 64, chunk_len: int = 256) -> tuple[float, int]:
    """Total negative log-likelihood (nats) of `ids[1:]` given the preceding characters, and the count.

    The text is cut into `batch_size` contiguous streams that are read in chunks of `chunk_len` with the
    recurrent state carried from chunk to chunk, so each character is predicted from everything before it in
    its stream (only the first character of each stream starts from a zero state).
    """
    x, y = ids[:-1], ids[1:]
    n = len(x)
    if n <= 0:
        return 0.0, 0
    streams = max(1, min(batch_size, math.ceil(n / chunk_len)))
    length = math.ceil(n / streams)
    pad = streams * length - n
    x = np.concatenate([x, np.zeros(pad, np.int32)]).reshape(streams, length)
    y = np.concatenate([y, np.zeros(pad, np.int32)]).reshape(streams, length)
    w = np.concatenate([np.ones(n, np.float32), np.zeros(pad, np.float32)]).reshape(streams, length)
    step = _scoring_step(model)
    states = model.initial_states(streams)
    total = 0.0
    for start in range(0, length, chunk_len):
        sl = slice(start, start + chunk_len)
        nll, states = step(tf.constant(x[:, sl]), tf.constant(y[:, sl]), tf.constant(w[:, sl]), states)
        total += float(nll)
    return total, n


_SCORING_STEPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _scoring_step(model: StepModel) -> Callable[..., Any]:
    # Cached outside the model: a tf.function attribute on it would be tracked and saved with it.
    fn = _SCORING_STEPS.get(model)
    if fn is None:

        @tf.function(reduce_retracing=True)
        def fn(x, y, w, states):
            logits, states = model.step(x, states)
            nll = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=y, logits=tf.cast(logits, tf.float32))
            return tf.reduce_sum(nll * w), states

        _SCORING_STEPS[model] = fn
    return fn
