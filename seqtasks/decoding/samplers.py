"""Samplers that pick the next character from logits, keras-hub style: each subclass overrides
`get_next_token` only. All are TensorFlow ops, so the same samplers run in-process and in the exported graph."""

from __future__ import annotations

import tensorflow as tf

from seqtasks.errors import ConfigError


class Sampler:
    """Base sampler: scales logits by `1 / temperature`, then `get_next_token` picks one id per row.

    Args:
        temperature: Positive float (or scalar tensor). Lower values sharpen the distribution.

    Call arguments:
        logits: float tensor `(batch, vocab)`.
        seed: int32 tensor of shape `(2,)` for stateless sampling, or None for TF's stateful random ops.

    Returns:
        int32 tensor `(batch,)` of chosen ids.
    """

    def __init__(self, temperature: float = 1.0):
        if isinstance(temperature, (int, float)) and temperature <= 0:
            raise ValueError(
                "Received an invalid value for argument `temperature`, expected a positive number, "
                f"got {temperature}."
            )
        self.temperature = temperature

    def __call__(self, logits, seed=None):
        logits = tf.cast(logits, tf.float32) / tf.cast(self.temperature, tf.float32)
        return tf.cast(self.get_next_token(logits, seed), tf.int32)

    def get_next_token(self, logits, seed):
        raise NotImplementedError

    @staticmethod
    def categorical(logits, seed):
        if seed is None:
            return tf.random.categorical(logits, 1, dtype=tf.int32)[:, 0]
        return tf.random.stateless_categorical(logits, 1, seed=seed, dtype=tf.int32)[:, 0]


class GreedySampler(Sampler):
    """Always the most likely character (temperature has no effect)."""

    def get_next_token(self, logits, seed):
        return tf.argmax(logits, axis=-1, output_type=tf.int32)


class TemperatureSampler(Sampler):
    """Samples from `softmax(logits / temperature)`."""

    def get_next_token(self, logits, seed):
        return self.categorical(logits, seed)


class TopKSampler(Sampler):
    """Samples among the `k` most likely characters.

    Args:
        k: Positive integer.
        temperature: As in `Sampler`.
    """

    def __init__(self, k: int = 10, temperature: float = 1.0):
        super().__init__(temperature)
        if isinstance(k, int) and k <= 0:
            raise ValueError(f"Received an invalid value for argument `k`, expected a positive integer, got {k}.")
        self.k = k

    def get_next_token(self, logits, seed):
        k = tf.minimum(tf.cast(self.k, tf.int32), tf.shape(logits)[-1])
        values, indices = tf.math.top_k(logits, k=k)
        choice = self.categorical(values, seed)
        return tf.gather(indices, choice[:, None], batch_dims=1)[:, 0]


class TopPSampler(Sampler):
    """Nucleus sampling: samples among the most likely characters whose probabilities add up to `p`.

    Args:
        p: Float in (0, 1].
        temperature: As in `Sampler`.
    """

    def __init__(self, p: float = 0.9, temperature: float = 1.0):
        super().__init__(temperature)
        if isinstance(p, (int, float)) and not 0.0 < p <= 1.0:
            raise ValueError(f"Received an invalid value for argument `p`, expected a number in (0, 1], got {p}.")
        self.p = p

    def get_next_token(self, logits, seed):
        order = tf.argsort(logits, axis=-1, direction="DESCENDING")
        sorted_logits = tf.gather(logits, order, batch_dims=1)
        probs = tf.nn.softmax(sorted_logits, axis=-1)
        before = tf.cumsum(probs, axis=-1, exclusive=True)
        # Keep a character while the mass before it is below p; the most likely one is always kept.
        keep = before < tf.cast(self.p, tf.float32)
        masked = tf.where(keep, sorted_logits, tf.fill(tf.shape(sorted_logits), -1e9))
        choice = self.categorical(masked, seed)
        return tf.gather(order, choice[:, None], batch_dims=1)[:, 0]


SAMPLERS = ("greedy", "temperature", "top_k", "top_p")


def get_sampler(name: str, temperature: float = 1.0, top_k: int = 10, top_p: float = 0.9) -> Sampler:
    """The sampler called `name` (`greedy`, `temperature`, `top_k`, `top_p`)."""
    if name == "greedy":
        return GreedySampler()
    if temperature <= 0:
        raise ConfigError(f"predict.temperature must be > 0 for the {name} sampler, got {temperature}")
    if name == "temperature":
        return TemperatureSampler(temperature)
    if name == "top_k":
        if top_k <= 0:
            raise ConfigError(f"predict.top_k must be a positive integer, got {top_k}")
        return TopKSampler(top_k, temperature)
    if name == "top_p":
        if not 0.0 < top_p <= 1.0:
            raise ConfigError(f"predict.top_p must be in (0, 1], got {top_p}")
        return TopPSampler(top_p, temperature)
    raise ConfigError(f"predict.sampler must be one of {', '.join(SAMPLERS)}, got {name!r}")
