"""Tests for seqtasks.losses.sequence: padding is ignored, label smoothing, argument checks, serialization."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from seqtasks.losses.sequence import MaskedSequenceLoss, masked_sequence_loss

RNG = np.random.default_rng(0)
LOGITS = RNG.normal(size=(2, 3, 5)).astype("float32")
LABELS = np.array([[1, 2, 0], [4, 0, 0]])
LOG_PROBS = LOGITS - np.log(np.exp(LOGITS).sum(-1, keepdims=True))
PICKED = [LOG_PROBS[0, 0, 1], LOG_PROBS[0, 1, 2], LOG_PROBS[1, 0, 4]]


def test_mean_over_real_tokens_of_the_batch():
    np.testing.assert_allclose(masked_sequence_loss(LABELS, LOGITS), -np.mean(PICKED), rtol=1e-5)
    changed = LOGITS.copy()
    changed[0, 2] += 100.0  # a padded position
    np.testing.assert_allclose(masked_sequence_loss(LABELS, changed), masked_sequence_loss(LABELS, LOGITS))


def test_label_smoothing():
    rows = [LOG_PROBS[0, 0], LOG_PROBS[0, 1], LOG_PROBS[1, 0]]
    smoothed = np.mean([-(0.9 * p + 0.1 * r.mean()) for p, r in zip(PICKED, rows, strict=True)])
    np.testing.assert_allclose(MaskedSequenceLoss(0.1)(LABELS, LOGITS), smoothed, rtol=1e-5)


def test_other_pad_id_and_all_padding():
    labels = np.where(LABELS == 0, 7, LABELS)
    np.testing.assert_allclose(
        MaskedSequenceLoss(pad_id=7)(labels, np.pad(LOGITS, ((0, 0), (0, 0), (0, 3)))),
        masked_sequence_loss(LABELS, np.pad(LOGITS, ((0, 0), (0, 0), (0, 3)))),
        rtol=1e-6,
    )
    assert float(masked_sequence_loss(np.zeros((2, 3), int), LOGITS)) == 0.0


@pytest.mark.parametrize("bad", [1.0, -0.1, True])
def test_invalid_label_smoothing(bad):
    with pytest.raises(ValueError, match="`label_smoothing`"):
        MaskedSequenceLoss(bad)


def test_registered_name_and_config_round_trip():
    # Saved translation models refer to this name; it must not change when the class moves.
    assert keras.saving.get_registered_name(MaskedSequenceLoss) == "seqtasks>MaskedSequenceLoss"
    assert keras.saving.get_registered_object("seqtasks>MaskedSequenceLoss") is MaskedSequenceLoss
    loss = MaskedSequenceLoss(0.2, pad_id=3)
    again = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(loss))
    assert isinstance(again, MaskedSequenceLoss)
    assert (again.label_smoothing, again.pad_id, again.name) == (0.2, 3, "masked_sequence_loss")
