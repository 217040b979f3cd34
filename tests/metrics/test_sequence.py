"""Tests for seqtasks.metrics.sequence: token accuracy over padded batches, streaming, reset, serialization."""

from __future__ import annotations

import keras
import numpy as np

from seqtasks.metrics.sequence import MaskedTokenAccuracy


def _one_hot(ids, depth=6):
    return np.eye(depth, dtype="float32")[np.asarray(ids)]


def test_counts_only_real_tokens_across_batches():
    metric = MaskedTokenAccuracy()
    # Batch 1: 3 real tokens, 2 right; the padded position is "right" too but must not count.
    metric.update_state(np.array([[1, 2, 0], [3, 0, 0]]), _one_hot([[1, 5, 0], [3, 4, 0]]))
    np.testing.assert_allclose(float(metric.result()), 2 / 3, rtol=1e-6)
    # Batch 2: 4 real tokens, 1 right -> 3 of 7 tokens overall (not the mean of 2/3 and 1/4).
    metric.update_state(np.array([[4, 4, 4, 4]]), _one_hot([[4, 1, 1, 1]]))
    np.testing.assert_allclose(float(metric.result()), 3 / 7, rtol=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


def test_other_pad_id():
    metric = MaskedTokenAccuracy(pad_id=5)
    metric.update_state(np.array([[1, 5, 5]]), _one_hot([[2, 5, 5]]))
    assert float(metric.result()) == 0.0


def test_registered_name_and_config_round_trip():
    # Saved translation models refer to this name; it must not change when the class moves.
    assert keras.saving.get_registered_name(MaskedTokenAccuracy) == "seqtasks>MaskedTokenAccuracy"
    assert keras.saving.get_registered_object("seqtasks>MaskedTokenAccuracy") is MaskedTokenAccuracy
    again = keras.saving.deserialize_keras_object(
        keras.saving.serialize_keras_object(MaskedTokenAccuracy(pad_id=4, name="acc"))
    )
    assert isinstance(again, MaskedTokenAccuracy) and (again.pad_id, again.name) == (4, "acc")
