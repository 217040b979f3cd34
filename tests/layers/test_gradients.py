"""BPTT gradients of every cell checked against central finite differences in float64."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import seqtasks.layers as sl

CASES = [
    ("SimpleRNN", {"activation": "tanh"}),
    ("SimpleRNN", {"activation": "relu"}),
    ("LSTM", {}),
    ("GRU", {"reset_after": True}),
    ("GRU", {"reset_after": False}),
]


# training=True runs the hand-written BPTT, training=False TensorFlow's autodiff of the fused forward loop.
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("mask", [False, True])
@pytest.mark.parametrize("case", CASES, ids=lambda c: c[0] + str(c[1].get("activation", c[1].get("reset_after", ""))))
def test_bptt_gradients_match_finite_differences(case, mask, training):
    name, kwargs = case
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 6, 3))
    m = np.array([[1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]], bool) if mask else None
    layer = getattr(sl, name)(4, return_sequences=True, dtype="float64", **kwargs)
    layer.build(x.shape)
    layer.set_weights([w + rng.normal(0, 0.2, w.shape) for w in layer.get_weights()])
    target = rng.normal(size=(2, 6, 4))

    def loss_of(values, x_value):
        for variable, value in zip(layer.trainable_variables, values, strict=True):
            variable.assign(value)
        out = layer(tf.constant(x_value), mask=None if m is None else tf.constant(m), training=training)
        return float(tf.reduce_sum(out * target))

    x_t = tf.constant(x)
    with tf.GradientTape() as tape:
        tape.watch(x_t)
        out = layer(x_t, mask=None if m is None else tf.constant(m), training=training)
        loss = tf.reduce_sum(out * target)
    grads = tape.gradient(loss, [x_t] + layer.trainable_variables)
    weights = [v.numpy() for v in layer.trainable_variables]
    eps = 1e-6

    def numeric(get_loss, array):
        result = np.zeros_like(array)
        for idx in np.ndindex(array.shape):
            plus, minus = array.copy(), array.copy()
            plus[idx] += eps
            minus[idx] -= eps
            result[idx] = (get_loss(plus) - get_loss(minus)) / (2 * eps)
        return result

    np.testing.assert_allclose(grads[0].numpy(), numeric(lambda v: loss_of(weights, v), x), rtol=1e-5, atol=1e-7)
    for i, w in enumerate(weights):
        def loss_w(v, i=i):
            values = list(weights)
            values[i] = v
            return loss_of(values, x)

        np.testing.assert_allclose(grads[1 + i].numpy(), numeric(loss_w, w), rtol=1e-5, atol=1e-7)
        # restore
        loss_of(weights, x)
    if mask:
        # The gradient w.r.t. the masked (padded) inputs is exactly zero.
        np.testing.assert_array_equal(grads[0].numpy()[1, 4:], 0.0)
