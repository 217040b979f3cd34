"""Dropout: one mask per sequence, reproducible with a seed, inactive at inference."""

from __future__ import annotations

import numpy as np
import pytest

import seqtasks.layers as sl
from tests.layers.reference import inputs


def identity_rnn(**kwargs):
    """A linear SimpleRNN whose output is its (dropped-out) input: h_t = x_t * mask."""
    layer = sl.SimpleRNN(4, activation="linear", use_bias=False, return_sequences=True, **kwargs)
    layer.build((None, 6, 4))
    layer.set_weights([np.eye(4, dtype="float32"), np.zeros((4, 4), "float32")])
    return layer


def test_input_dropout_mask_is_shared_by_all_steps():
    layer = identity_rnn(dropout=0.5, seed=3)
    out = layer(np.ones((8, 6, 4), "float32"), training=True).numpy()
    assert set(np.unique(out)) <= {0.0, 2.0}
    assert 0 < (out == 0).mean() < 1
    np.testing.assert_array_equal(out, np.repeat(out[:, :1], 6, axis=1))


def test_recurrent_dropout_mask_is_shared_by_all_steps():
    # h_t = h_{t-1} * mask with h_0 = 1 (identity recurrence): dropped units stay at 0 from step 1 on.
    layer = sl.SimpleRNN(4, activation="linear", use_bias=False, return_sequences=True, recurrent_dropout=0.5, seed=1)
    layer.build((None, 6, 4))
    layer.set_weights([np.zeros((4, 4), "float32"), np.eye(4, dtype="float32")])
    ones = np.ones((8, 4), "float32")
    out = layer(np.zeros((8, 6, 4), "float32"), initial_state=[ones], training=True).numpy()
    kept = out[:, 0] != 0
    assert 0 < kept.mean() < 1
    for t in range(6):
        np.testing.assert_array_equal(out[:, t] != 0, kept)


@pytest.mark.parametrize("name", ["SimpleRNN", "LSTM", "GRU"])
def test_same_seed_same_outputs_and_inactive_at_inference(name):
    x = inputs()

    def make(seed):
        layer = getattr(sl, name)(3, dropout=0.3, recurrent_dropout=0.3, seed=seed, return_sequences=True)
        layer.build(x.shape)
        layer.set_weights([np.full(w.shape, 0.1, "float32") for w in layer.get_weights()])
        return layer

    a, b, c = make(7), make(7), make(8)
    out_a = a(x, training=True).numpy()
    np.testing.assert_array_equal(out_a, b(x, training=True).numpy())
    assert not np.allclose(out_a, c(x, training=True).numpy())
    reference = getattr(sl, name)(3, return_sequences=True)
    reference.build(x.shape)
    reference.set_weights(a.get_weights())
    np.testing.assert_allclose(a(x, training=False).numpy(), reference(x).numpy(), atol=1e-6)
    np.testing.assert_allclose(a(x).numpy(), reference(x).numpy(), atol=1e-6)
    assert not np.allclose(out_a, reference(x).numpy())
