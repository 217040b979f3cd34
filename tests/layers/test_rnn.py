"""seqtasks' SimpleRNN / LSTM / GRU layers against keras.layers with copied weights: outputs and gradients."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

import seqtasks.layers as sl
from tests.layers.reference import LAYER_CASES, case_id, forward_and_grads, inputs, masks, pair

OPTIONS = [
    {"return_sequences": True},
    {"return_sequences": False},
    {"return_sequences": True, "go_backwards": True},
    {"return_sequences": False, "go_backwards": True, "return_state": True},
    {"return_sequences": True, "return_state": True},
    {"return_sequences": True, "unroll": True},
]


def options_id(options: dict) -> str:
    return ",".join(k for k, v in options.items() if v) or "last"


@pytest.mark.parametrize("mask_kind", [None, "right", "arbitrary"])
@pytest.mark.parametrize("options", OPTIONS, ids=options_id)
@pytest.mark.parametrize("case", LAYER_CASES, ids=case_id)
def test_matches_keras_outputs_and_gradients(case, options, mask_kind):
    name, cell_kwargs = case
    x = inputs()
    ours, ref = pair(name, cell_kwargs, options, x)
    mask = masks(mask_kind)
    ours_out, ours_grads = forward_and_grads(ours, x, mask)
    ref_out, ref_grads = forward_and_grads(ref, x, mask)
    assert len(ours_out) == len(ref_out)
    for a, b in zip(ours_out, ref_out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)
    for a, b in zip(ours_grads, ref_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", LAYER_CASES, ids=case_id)
def test_initial_state_matches_keras(case):
    name, cell_kwargs = case
    x = inputs()
    ours, ref = pair(name, cell_kwargs, {"return_sequences": True, "return_state": True}, x)
    rng = np.random.default_rng(3)
    states = [rng.normal(size=(x.shape[0], 3)).astype("float32") for _ in ours.state_size]
    ours_out, ours_grads = forward_and_grads(ours, x, masks("right"), initial_state=states)
    ref_out, ref_grads = forward_and_grads(ref, x, masks("right"), initial_state=states)
    for a, b in zip(ours_out + ours_grads, ref_out + ref_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("case", LAYER_CASES, ids=case_id)
def test_stateful_across_two_calls_matches_keras(case):
    name, cell_kwargs = case
    x1, x2 = inputs(1), inputs(2)
    ours, ref = pair(name, cell_kwargs, {"return_sequences": True, "stateful": True}, x1)
    for x in (x1, x2):
        np.testing.assert_allclose(ours(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-5)
    # The second call continued from the first call's state, so it differs from a fresh start.
    ours.reset_states()
    fresh = ours(x2).numpy()
    ref.reset_states()
    np.testing.assert_allclose(fresh, ref(x2).numpy(), rtol=1e-5, atol=1e-5)
    ours.reset_states()
    ours(x1)
    assert not np.allclose(ours(x2).numpy(), fresh, atol=1e-4)


def test_stateful_needs_fixed_batch_size():
    layer = sl.LSTM(3, stateful=True)
    with pytest.raises(ValueError, match="fixed batch size"):
        layer.build((None, 5, 4))


def test_masked_steps_carry_state_unchanged():
    x = inputs()
    mask = masks("arbitrary")
    layer = sl.GRU(3, return_sequences=True, return_state=True)
    out, state = layer(x, mask=mask)
    # Dropping the masked steps entirely gives the same final state.
    for b in range(x.shape[0]):
        kept = x[b : b + 1, mask[b]]
        _, expected = layer(kept)
        np.testing.assert_allclose(state[b], expected[0], rtol=1e-5, atol=1e-6)


def test_generic_keras_cell_runs_in_seqtasks_loop():
    x = inputs()
    import keras

    cell = keras.layers.LSTMCell(3)
    layer = sl.RNN(cell, return_sequences=True)
    ref = keras.layers.RNN(cell, return_sequences=True)
    np.testing.assert_allclose(layer(x).numpy(), ref(x).numpy(), rtol=1e-5, atol=1e-6)


def test_seqtasks_cells_run_inside_keras_rnn():
    x = inputs()
    for cell_class in (sl.SimpleRNNCell, sl.LSTMCell, sl.GRUCell):
        cell = cell_class(3)
        keras_rnn = __import__("keras").layers.RNN(cell, return_sequences=True)
        ours = sl.RNN(cell, return_sequences=True)
        np.testing.assert_allclose(keras_rnn(x).numpy(), ours(x).numpy(), rtol=1e-5, atol=1e-6)


def test_loop_works_in_tf_function_with_unknown_length():
    layer = sl.LSTM(3, return_sequences=True)
    fn = tf.function(layer, input_signature=[tf.TensorSpec([None, None, 4], tf.float32)])
    for steps in (1, 7):
        x = inputs(steps=steps)
        np.testing.assert_allclose(fn(x).numpy(), layer(x).numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask_kind", [None, "arbitrary"])
@pytest.mark.parametrize("case", LAYER_CASES, ids=case_id)
def test_fused_bptt_equals_generic_loop(case, mask_kind, monkeypatch):
    from seqtasks.layers import rnn

    name, cell_kwargs = case
    x = inputs()
    layer, _ = pair(name, cell_kwargs, {"return_sequences": True, "return_state": True, "go_backwards": True}, x)
    rng = np.random.default_rng(5)
    states = [rng.normal(size=(x.shape[0], 3)).astype("float32") for _ in layer.state_size]
    from seqtasks.layers import fused

    calls = []
    real = fused.fused_sequence
    monkeypatch.setattr(fused, "fused_sequence", lambda *a, **k: calls.append(a[-1]) or real(*a, **k))
    fused_out, fused_grads = forward_and_grads(layer, x, masks(mask_kind), initial_state=states)
    assert calls[-1] is True, "training=True did not run the hand-written BPTT"
    # At inference the kernel runs without its saves; gradients taken through it are TensorFlow's autodiff.
    infer_out, infer_grads = forward_and_grads(layer, x, masks(mask_kind), initial_state=states, training=False)
    assert calls[-1] is False
    calls.clear()
    monkeypatch.setattr(rnn, "FUSED", False)
    loop_out, loop_grads = forward_and_grads(layer, x, masks(mask_kind), initial_state=states)
    assert not calls
    for a, b, c in zip(fused_out + fused_grads, loop_out + loop_grads, infer_out + infer_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(c, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("policy", ["mixed_float16", "mixed_bfloat16", "float64"])
def test_dtype_policies_train(policy):
    import keras

    x = inputs()
    stack = sl.RecurrentStack("lstm", units=3, num_layers=2, bidirectional=True, dtype=policy)
    gru = sl.GRU(3, reset_after=False, dtype=policy)
    with tf.GradientTape() as tape:
        y = gru(stack(x, mask=masks("right"), training=True))
        loss = tf.reduce_sum(tf.cast(y, "float32"))
    variables = stack.trainable_variables + gru.trainable_variables
    grads = tape.gradient(loss, variables)
    expected = keras.DTypePolicy(policy).compute_dtype
    assert y.dtype == expected
    assert all(v.dtype == keras.DTypePolicy(policy).variable_dtype for v in variables)
    assert all(g is not None and np.all(np.isfinite(tf.cast(g, "float32"))) for g in grads)
