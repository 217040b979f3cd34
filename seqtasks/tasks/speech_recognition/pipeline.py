"""Batching utterances for training and evaluation: length-sorted buckets, seeded order, padded tensors.

Batches are planned in Python from the utterance lengths (so their number is known before the epoch starts,
which the runtime needs to resume mid-epoch) and the audio is produced batch by batch, so neither an epoch of
generated connected digits nor a LibriSpeech-size set of files ever sits in memory at once.

Element structure (what `CTCSpeechModel.fit` takes)::

    ({"waveform": float32 (batch, samples) zero-padded, "waveform_length": int32 (batch,)},
     {"labels": int32 (batch, max_chars) padded with -1, "label_length": int32 (batch,)})
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import tensorflow as tf

from seqtasks.errors import DataError
from seqtasks.losses.ctc import PAD_LABEL

BUCKET_BATCHES = 16  # batches per sorting window: enough to bucket by length, small enough to stay random

ELEMENT_SPEC = (
    {
        "waveform": tf.TensorSpec([None, None], tf.float32),
        "waveform_length": tf.TensorSpec([None], tf.int32),
    },
    {
        "labels": tf.TensorSpec([None, None], tf.int32),
        "label_length": tf.TensorSpec([None], tf.int32),
    },
)


def plan_batches(
    lengths: Sequence[int], batch_size: int, seed: int | None = None, bucket_batches: int = BUCKET_BATCHES
) -> list[list[int]]:
    """Groups utterance indices into batches of similar length.

    With a seed: indices are shuffled, cut into windows of `bucket_batches * batch_size`, sorted by length inside
    each window and cut into batches, and the batches are shuffled; without: sorted by length (evaluation).

    Args:
        lengths: the length of every utterance (samples).
        batch_size: utterances per batch (the last batch may be smaller).
        seed: shuffling seed, or None for a deterministic length order.
        bucket_batches: batches per sorting window.
    """
    if batch_size <= 0:
        raise ValueError(f"Received an invalid value for argument `batch_size`, expected a positive integer, got {batch_size}.")
    lengths = np.asarray(lengths)
    if seed is None:
        order = np.argsort(lengths, kind="stable")
        return [order[i : i + batch_size].tolist() for i in range(0, len(order), batch_size)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(lengths))
    window = batch_size * bucket_batches
    batches = []
    for start in range(0, len(order), window):
        chunk = order[start : start + window]
        chunk = chunk[np.argsort(lengths[chunk], kind="stable")]
        batches.extend(chunk[i : i + batch_size].tolist() for i in range(0, len(chunk), batch_size))
    return [batches[i] for i in rng.permutation(len(batches))]


def pad_batch(waveforms: Sequence[np.ndarray], labels: Sequence[Sequence[int]]) -> tuple[dict, dict]:
    """Pads waveforms with 0 and labels with `PAD_LABEL` into the model's input/target dicts (NumPy)."""
    n = len(waveforms)
    wave_lengths = np.array([w.size for w in waveforms], np.int32)
    label_lengths = np.array([len(label) for label in labels], np.int32)
    wave = np.zeros((n, max(int(wave_lengths.max(initial=0)), 1)), np.float32)
    dense = np.full((n, max(int(label_lengths.max(initial=0)), 1)), PAD_LABEL, np.int32)
    for i, (w, label) in enumerate(zip(waveforms, labels, strict=True)):
        wave[i, : w.size] = w
        dense[i, : len(label)] = label
    return (
        {"waveform": wave, "waveform_length": wave_lengths},
        {"labels": dense, "label_length": label_lengths},
    )


def batches_dataset(
    batches: Sequence[Sequence[int]],
    example: Callable[[int], tuple[np.ndarray, Sequence[int]] | None],
    workers: int = 1,
    start: int = 0,
) -> tf.data.Dataset:
    """A dataset of the planned `batches` from batch `start` on; `example(i)` gives utterance i's waveform and
    label ids.

    The cardinality is `len(batches)`, so Keras shows progress and the runtime can skip finished batches. An
    `example(i)` of `None` (audio that cannot be decoded, skipped under `data.on_bad_audio=skip`) is left out of
    its batch. When none of a batch is left, the next planned batch that has audio takes its place, so the
    dataset still yields exactly `len(batches)` elements and element `k` stays a pure function of the plan
    (a resumed run skipping `k` batches sees what the uninterrupted run saw).

    Args:
        batches: utterance indices per batch (`plan_batches`).
        example: reads one utterance; may return `None`.
        workers: threads reading the utterances of a batch at once (decoders release the GIL); 1 = in turn.
        start: the first batch produced (a run resumed mid-epoch); the batches before it are never read, and
            the dataset equals the full one with its first `start` elements skipped.

    Raises:
        DataError: (while iterating) no utterance of any batch can be read. Errors of `example` (a file that
            cannot be decoded under `data.on_bad_audio=fail`) reach the caller wrapped by tf.data; the runtime's
            trainer unwraps them into the one-line error again.
    """
    batches = [list(b) for b in batches]
    if workers < 1:
        raise ValueError(f"Received an invalid value for argument `workers`, expected a positive integer, got {workers}.")
    if not 0 <= start <= len(batches):
        raise ValueError(f"Received an invalid value for argument `start`, expected 0 <= start <= {len(batches)}, got {start}.")

    def generate():
        pool = ThreadPoolExecutor(workers, thread_name_prefix="audio") if workers > 1 and batches else None

        def read(batch: list[int]) -> list[tuple[np.ndarray, Sequence[int]]]:
            pairs = pool.map(example, batch) if pool is not None and len(batch) > 1 else map(example, batch)
            return [p for p in pairs if p is not None]

        try:
            for index in range(start, len(batches)):
                pairs, other = read(batches[index]), index
                while not pairs:
                    other = (other + 1) % len(batches)
                    if other == index:
                        raise DataError(
                            "none of the planned utterances can be decoded (all skipped under "
                            "data.on_bad_audio=skip). Fix: check the audio files of the data"
                        )
                    pairs = read(batches[other])
                yield pad_batch([p[0] for p in pairs], [p[1] for p in pairs])
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    dataset = tf.data.Dataset.from_generator(generate, output_signature=ELEMENT_SPEC)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches) - start)).prefetch(2)
