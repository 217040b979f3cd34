"""Connectionist temporal classification (CTC) loss with explicit lengths and a feasibility check.

Conventions used everywhere in seqtasks' CTC code:

* The model's output has `num_classes = alphabet_size + 1` classes; the **blank is the last class**
  (`blank_index = num_classes - 1`), the class layout that TensorFlow's C++ CTC kernels and decoders expect, so
  nothing is rotated at run time.
* Label ids are `0 .. alphabet_size - 1`; dense label batches are **padded with `PAD_LABEL = -1`**, which is
  never a class, so a padded position cannot be mistaken for a blank or a character. Only the first
  `label_lengths[i]` entries of row `i` are read.
* `logit_lengths` are the valid output frames of each utterance **after** any time subsampling of the model.

CTC needs one output frame per label plus one blank between two equal adjacent labels ("ll" in "hello" needs
l, blank, l). A transcript that needs more frames than the utterance has has probability zero: TensorFlow then
returns an infinite loss whose gradient poisons the step with NaNs. `ctc_loss` therefore checks feasibility
before the loss and either masks such utterances (zero loss, zero gradient) or raises; the data readers catch
the same condition earlier with the file name (`ctc_min_frames`).
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

PAD_LABEL = -1
_ON_INFEASIBLE = ("mask", "raise")


def ctc_min_frames(label_ids: Sequence[int]) -> int:
    """Smallest number of output frames in which CTC can emit `label_ids` (labels + repeated neighbours)."""
    repeats = sum(1 for a, b in zip(label_ids, label_ids[1:], strict=False) if a == b)
    return len(label_ids) + repeats


def ctc_required_frames(labels: tf.Tensor, label_lengths: tf.Tensor) -> tf.Tensor:
    """Batched `ctc_min_frames`: int32 `(batch,)` frames needed by each padded label row.

    Args:
        labels: int `(batch, max_label_length)`, padded with any value past `label_lengths`.
        label_lengths: int `(batch,)`.
    """
    labels = tf.cast(labels, tf.int32)
    label_lengths = tf.cast(label_lengths, tf.int32)
    width = tf.shape(labels)[1]
    # Position j (j >= 1) is a repeat when labels[j] == labels[j-1] and both lie inside the label.
    same = tf.equal(labels[:, 1:], labels[:, :-1])
    inside = tf.sequence_mask(label_lengths - 1, tf.maximum(width - 1, 0))
    repeats = tf.reduce_sum(tf.cast(same & inside, tf.int32), axis=1)
    return label_lengths + repeats


def ctc_feasible(labels: tf.Tensor, label_lengths: tf.Tensor, logit_lengths: tf.Tensor) -> tf.Tensor:
    """Boolean `(batch,)`: True where the transcript fits its frames (required frames <= logit length)."""
    return ctc_required_frames(labels, label_lengths) <= tf.cast(logit_lengths, tf.int32)


def ctc_loss(
    labels: tf.Tensor,
    logits: tf.Tensor,
    label_lengths: tf.Tensor,
    logit_lengths: tf.Tensor,
    blank_index: int | None = None,
    on_infeasible: str = "mask",
) -> tf.Tensor:
    """Per-utterance CTC negative log-likelihood (nats), batch-major logits, padded labels.

    Args:
        labels: int `(batch, max_label_length)` label ids, padded with `PAD_LABEL` (any padding value works:
            only the first `label_lengths[i]` entries are read).
        logits: float `(batch, frames, num_classes)` unnormalised scores (log-softmax is applied inside).
        label_lengths: int `(batch,)` true transcript lengths.
        logit_lengths: int `(batch,)` valid frames of each utterance after subsampling.
        blank_index: the blank class; `None` means the last class, `num_classes - 1`.
        on_infeasible: what to do with an utterance whose transcript cannot fit its frames: `"mask"` gives it
            loss 0 and no gradient (count them with `ctc_feasible`); `"raise"` fails the step with an
            `InvalidArgumentError` naming the condition.

    Returns:
        float32 `(batch,)` losses; never NaN or infinite for a feasible utterance, 0 for a masked one.

    Example:

    >>> logits = tf.zeros([2, 5, 4])  # alphabet of 3 + blank
    >>> loss = ctc_loss(tf.constant([[0, 1], [2, -1]]), logits, tf.constant([2, 1]), tf.constant([5, 3]))
    """
    if on_infeasible not in _ON_INFEASIBLE:
        raise ValueError(
            f"Received an invalid value for argument `on_infeasible`, expected one of {_ON_INFEASIBLE}, "
            f"got {on_infeasible!r}."
        )
    logits = tf.cast(logits, tf.float32)
    labels = tf.cast(labels, tf.int32)
    label_lengths = tf.cast(label_lengths, tf.int32)
    logit_lengths = tf.cast(logit_lengths, tf.int32)
    num_classes = logits.shape[-1]
    if blank_index is None:
        if num_classes is None:
            raise ValueError("`logits` must have a known number of classes when `blank_index` is None.")
        blank_index = num_classes - 1
    if num_classes is not None:
        blank_index %= num_classes
    elif blank_index < 0:
        raise ValueError("`blank_index` must be non-negative when `logits` has an unknown number of classes.")
    feasible = ctc_feasible(labels, label_lengths, logit_lengths)
    if on_infeasible == "raise":
        tf.debugging.assert_equal(
            feasible, tf.ones_like(feasible),
            message="CTC transcript longer than its frames (labels + repeats > logit length after subsampling); "
            "drop the utterance in the data or reduce time subsampling",
        )
    # TensorFlow's C++ CTC kernel (sparse labels; ~10x faster on CPU than the dense graph implementation)
    # rejects empty transcripts and returns an infinite loss with NaN gradients for infeasible ones, and a NaN
    # gradient survives a later multiplication by 0. So every row that is empty or masked gets a harmless
    # one-label stand-in for the kernel, and its real loss is computed directly: an empty transcript's CTC
    # loss is minus the log-probability of blank on every valid frame.
    empty = tf.logical_or(tf.logical_not(feasible), tf.equal(label_lengths, 0))
    frames = tf.shape(logits)[1]
    stand_in = 1 if blank_index == 0 else 0  # any class but the blank
    kernel_labels = tf.where(empty[:, None], tf.fill(tf.shape(labels), stand_in), labels)
    kernel_label_lengths = tf.where(empty, 1, label_lengths)
    kernel_logit_lengths = tf.where(empty, tf.maximum(tf.minimum(logit_lengths, frames), 1), logit_lengths)
    width = tf.shape(labels)[1]
    padded_labels = tf.pad(kernel_labels, [[0, 0], [0, tf.maximum(1 - width, 0)]])
    indices = tf.where(tf.sequence_mask(kernel_label_lengths, tf.shape(padded_labels)[1]))
    sparse = tf.SparseTensor(
        indices=indices,
        values=tf.gather_nd(padded_labels, indices),
        dense_shape=tf.cast(tf.shape(padded_labels), tf.int64),
    )
    kernel_losses = tf.nn.ctc_loss(
        labels=sparse,
        logits=logits,
        label_length=None,
        logit_length=kernel_logit_lengths,
        logits_time_major=False,
        blank_index=blank_index,
    )
    blank_log_probs = tf.nn.log_softmax(logits, axis=-1)[..., blank_index]
    frame_mask = tf.sequence_mask(logit_lengths, frames, dtype=blank_log_probs.dtype)
    empty_losses = -tf.reduce_sum(blank_log_probs * frame_mask, axis=1)
    losses = tf.where(empty, empty_losses, kernel_losses)
    return tf.where(feasible, losses, tf.zeros_like(losses))
