"""Length bucketing: batches of examples of similar length, so that a batch is padded only to its own longest row.

Two forms, for the two kinds of input pipelines the tasks have:

* `plan_batches` plans the batches of an epoch as index lists, from the lengths alone and a seed. Tasks whose
  examples are produced batch by batch (decoded audio, encoded sentence pairs) use it: the number of batches is
  known before the epoch starts and a resumed run can leave the batches it already trained on out of its plan.
* `bucket_by_length` is `tf.data.Dataset.bucket_by_sequence_length` (bucket boundaries at the length quantiles,
  see `quantile_boundaries`) with the exact number of batches asserted, for a dataset of tensors.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

WINDOW_BATCHES = 16  # batches per sorting window: enough to bucket by length, few enough to stay random


def plan_batches(
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    seed: int | Sequence[int] | None = None,
    window_batches: int = WINDOW_BATCHES,
) -> list[np.ndarray]:
    """Groups example indices into batches of similar length.

    With a seed: the indices are shuffled, cut into windows of `window_batches * batch_size`, sorted by length
    inside each window (stable) and cut into batches, and the batches are shuffled, all from one generator
    seeded with `seed`, so the same seed gives the same batches in the same order. Without a seed: sorted by
    length and cut into batches (evaluation and inference; restore input order with the indices).

    Args:
        lengths: The length of every example.
        batch_size: Examples per batch (the last batch of a window may be smaller).
        seed: Shuffling seed (an int or a sequence such as `(seed, epoch)`), or None for length order.
        window_batches: Batches per sorting window (larger: less padding, less random batches).

    Returns:
        int64 index arrays, one per batch; every index appears exactly once.
    """
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer) or batch_size < 1:
        raise ValueError(
            f"Received an invalid value for argument `batch_size`, expected a positive integer, got {batch_size!r}."
        )
    if isinstance(window_batches, bool) or not isinstance(window_batches, int | np.integer) or window_batches < 1:
        raise ValueError(
            "Received an invalid value for argument `window_batches`, expected a positive integer, "
            f"got {window_batches!r}."
        )
    lengths = np.asarray(lengths)
    if seed is None:
        order = np.argsort(lengths, kind="stable").astype(np.int64)
        return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(list(seed) if isinstance(seed, Sequence) else seed)
    order = rng.permutation(len(lengths)).astype(np.int64)
    window = batch_size * window_batches
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size] for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def quantile_boundaries(lengths: Sequence[int] | np.ndarray, num_buckets: int) -> list[int]:
    """Bucket boundaries at the quantiles of `lengths`, so that the buckets hold similar numbers of examples.

    Returns strictly increasing exclusive upper bounds, as `bucket_by_sequence_length` takes them; the last
    bucket takes everything longer. One bucket (or no lengths): `[]`.
    """
    if isinstance(num_buckets, bool) or not isinstance(num_buckets, int | np.integer) or num_buckets < 1:
        raise ValueError(
            f"Received an invalid value for argument `num_buckets`, expected a positive integer, got {num_buckets!r}."
        )
    lengths = np.asarray(lengths)
    if num_buckets == 1 or lengths.size == 0:
        return []
    qs = np.quantile(lengths, np.linspace(0, 1, num_buckets + 1)[1:-1])
    return sorted({int(q) + 1 for q in qs})


def count_bucketed_batches(lengths: Sequence[int] | np.ndarray, batch_size: int, boundaries: Sequence[int]) -> int:
    """How many batches `bucket_by_length` yields for examples of these lengths (a partial batch per bucket)."""
    buckets = np.searchsorted(np.asarray(boundaries, dtype=np.int64), np.asarray(lengths), side="right")
    counts = np.bincount(buckets, minlength=len(boundaries) + 1) if len(lengths) else np.zeros(1, np.int64)
    return int(sum(-(-int(c) // batch_size) for c in counts))


def bucket_by_length(
    dataset: Any,
    lengths: Sequence[int] | np.ndarray,
    batch_size: int,
    boundaries: Sequence[int],
    length_fn: Callable[..., Any],
    padded_shapes: Any = None,
    padding_values: Any = None,
) -> Any:
    """`dataset.bucket_by_sequence_length(...)` with the same batch size in every bucket, every example kept (a
    final partial batch per bucket), and the number of batches (which tf.data cannot know) asserted from
    `lengths`, the length of every element in dataset order.

    Args:
        dataset: A `tf.data.Dataset` of unbatched elements.
        lengths: The length `length_fn` returns for each element, in order.
        batch_size: Examples per batch.
        boundaries: Bucket upper bounds (`quantile_boundaries`); empty for one bucket.
        length_fn: Element -> scalar int32 length (the `element_length_func` of tf.data).
        padded_shapes, padding_values: As for `tf.data.Dataset.padded_batch`.
    """
    import tensorflow as tf

    bounds = list(boundaries)
    batched = dataset.bucket_by_sequence_length(
        element_length_func=length_fn,
        bucket_boundaries=bounds,
        bucket_batch_sizes=[batch_size] * (len(bounds) + 1),
        padded_shapes=padded_shapes,
        padding_values=padding_values,
        drop_remainder=False,
    )
    total = count_bucketed_batches(lengths, batch_size, bounds)
    return batched.apply(tf.data.experimental.assert_cardinality(total))


__all__ = ["WINDOW_BATCHES", "bucket_by_length", "count_bucketed_batches", "plan_batches", "quantile_boundaries"]
