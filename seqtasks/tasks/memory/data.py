"""Seeded generators of the two long-range memory problems: the adding problem and the copy task.

Both are drawn with TensorFlow's stateless random ops from a seed `(seed, key)`, so a batch depends only on its
seed: the training batches of an epoch are the same on every call (the runtime's resume contract), and
`tf.data` can build them in parallel.

Adding problem (Hochreiter & Schmidhuber, 1997; the version of Le et al., 2015 and Arjovsky et al., 2016):
every step carries two features, a value drawn uniformly from [0, 1) and a marker (0 or 1). Exactly two steps
are marked, one in the first half and one in the second half of the sequence; the target, read after the last
step, is the sum of the two marked values. Always answering 1 (the mean of the sum) scores an MSE of
Var(u1 + u2) = 2/12 ~ 0.167; a model that solves the problem must carry the first marked value over at least
T/2 steps.

Copy task (Hochreiter & Schmidhuber, 1997; Arjovsky et al., 2016): ids 1..K are symbols, 0 is the blank and
K + 1 the delimiter. The input is `copy_length` random symbols, `T - 1` blanks, the delimiter and `copy_length`
blanks; the target is blank for the first `T + copy_length` steps and the symbols for the last `copy_length`.
The model must hold the symbols over T steps. A model without memory gets 1/K of the recalled symbols right.
"""

from __future__ import annotations

import math

import tensorflow as tf

# Keys of the independent random streams.
TRAIN, VALIDATION, TEST, EXAMPLES = 0, 1, 2, 3
BLANK = 0
# One batch key per (stream, epoch, batch): streams and epochs get disjoint blocks of keys.
_EPOCH_STRIDE = 1 << 24
_STREAM_STRIDE = 1 << 44

PROBLEMS = ("adding", "copy")


def batch_seed(seed: int, stream: int, epoch: int, index) -> tf.Tensor:
    """The stateless seed (shape `[2]`, int64) of batch `index` of `epoch` in `stream`."""
    key = tf.cast(index, tf.int64) + stream * _STREAM_STRIDE + epoch * _EPOCH_STRIDE
    return tf.stack([tf.constant(seed, tf.int64), key])


def adding_batch(seed: tf.Tensor, batch_size: int, sequence_length: int) -> tuple[tf.Tensor, tf.Tensor]:
    """One batch of the adding problem.

    Args:
        seed: Stateless seed, shape `[2]`.
        batch_size: Number of sequences.
        sequence_length: T, at least 2.

    Returns:
        `(inputs, targets)`: float32 `(batch, T, 2)` (value, marker) and float32 `(batch, 1)` (the sum of the two
        marked values).
    """
    if sequence_length < 2:
        raise ValueError(f"the adding problem needs sequence_length >= 2, got {sequence_length}")
    s_values, s_first, s_second = tf.unstack(tf.random.experimental.stateless_split(seed, 3))
    half = sequence_length // 2
    values = tf.random.stateless_uniform([batch_size, sequence_length], s_values, dtype=tf.float32)
    first = tf.random.stateless_uniform([batch_size], s_first, minval=0, maxval=half, dtype=tf.int32)
    second = tf.random.stateless_uniform(
        [batch_size], s_second, minval=half, maxval=sequence_length, dtype=tf.int32
    )
    markers = tf.one_hot(first, sequence_length) + tf.one_hot(second, sequence_length)
    inputs = tf.stack([values, markers], axis=-1)
    targets = tf.reduce_sum(values * markers, axis=-1, keepdims=True)
    return inputs, targets


def copy_ids(
    seed: tf.Tensor, batch_size: int, delay: int, copy_length: int = 10, num_symbols: int = 8
) -> tuple[tf.Tensor, tf.Tensor]:
    """Input and target ids of one copy-task batch, each int32 `(batch, delay + 2 * copy_length)`.

    Args:
        seed: Stateless seed, shape `[2]`.
        batch_size: Number of sequences.
        delay: T, steps from the last symbol to the delimiter (at least 1).
        copy_length: Number of symbols to remember.
        num_symbols: K; symbols are 1..K, the delimiter is K + 1.
    """
    if delay < 1 or copy_length < 1 or num_symbols < 1:
        raise ValueError(
            f"the copy task needs delay, copy_length and num_symbols >= 1, got {delay}, {copy_length}, {num_symbols}"
        )
    symbols = tf.random.stateless_uniform(
        [batch_size, copy_length], seed, minval=1, maxval=num_symbols + 1, dtype=tf.int32
    )
    blanks = tf.zeros([batch_size, delay - 1], tf.int32)
    delimiter = tf.fill([batch_size, 1], num_symbols + 1)
    tail = tf.zeros([batch_size, copy_length], tf.int32)
    inputs = tf.concat([symbols, blanks, delimiter, tail], axis=1)
    targets = tf.concat([tf.zeros([batch_size, delay + copy_length], tf.int32), symbols], axis=1)
    return inputs, targets


def copy_batch(
    seed: tf.Tensor, batch_size: int, delay: int, copy_length: int = 10, num_symbols: int = 8
) -> tuple[tf.Tensor, tf.Tensor]:
    """One copy-task batch: one-hot float32 inputs `(batch, T + 2L, K + 2)` and int32 target ids `(batch, T + 2L)`."""
    ids, targets = copy_ids(seed, batch_size, delay, copy_length, num_symbols)
    return tf.one_hot(ids, num_symbols + 2, dtype=tf.float32), targets


def num_features(problem: str, num_symbols: int = 8) -> int:
    """Input width of `problem`'s sequences."""
    return 2 if problem == "adding" else num_symbols + 2


def make_batch(problem: str, seed: tf.Tensor, batch_size: int, sequence_length: int, copy_length: int = 10,
               num_symbols: int = 8) -> tuple[tf.Tensor, tf.Tensor]:
    """One batch of `problem` (`"adding"` or `"copy"`; for copy, `sequence_length` is the delay T)."""
    if problem == "adding":
        return adding_batch(seed, batch_size, sequence_length)
    if problem == "copy":
        return copy_batch(seed, batch_size, sequence_length, copy_length, num_symbols)
    raise ValueError(f"unknown memory problem {problem!r}; expected one of {PROBLEMS}")


def training_dataset(problem: str, seed: int, epoch: int, num_batches: int, batch_size: int, sequence_length: int,
                     copy_length: int = 10, num_symbols: int = 8) -> tf.data.Dataset:
    """`num_batches` training batches of `epoch`; the same on every call with the same arguments."""

    def generate(index):
        return make_batch(problem, batch_seed(seed, TRAIN, epoch, index), batch_size, sequence_length,
                          copy_length, num_symbols)

    ds = tf.data.Dataset.range(num_batches).map(generate, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    return ds.prefetch(2)


def fixed_set(problem: str, seed: int, stream: int, num_samples: int, sequence_length: int, copy_length: int = 10,
              num_symbols: int = 8) -> tuple[tf.Tensor, tf.Tensor]:
    """A fixed evaluation set of `num_samples` sequences from `stream` (`VALIDATION`, `TEST` or `EXAMPLES`)."""
    chunk = 1024
    parts = [
        make_batch(problem, batch_seed(seed, stream, 0, i), min(chunk, num_samples - i * chunk), sequence_length,
                   copy_length, num_symbols)
        for i in range(math.ceil(num_samples / chunk))
    ]
    return tf.concat([p[0] for p in parts], 0), tf.concat([p[1] for p in parts], 0)
