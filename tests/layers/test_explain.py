"""explain() and the cuDNN eligibility rules."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import seqtasks.layers as sl
from seqtasks.layers import cudnn


def test_eligibility_rules_without_device_check():
    assert cudnn.reasons_for_generic_path(sl.LSTM(3), check_device=False) == []
    assert cudnn.reasons_for_generic_path(sl.GRU(3), check_device=False) == []
    cases = {
        "recurrent_dropout": sl.LSTM(3, recurrent_dropout=0.1),
        "activation='relu'": sl.GRU(3, activation="relu"),
        "recurrent_activation='hard_sigmoid'": sl.LSTM(3, recurrent_activation="hard_sigmoid"),
        "unroll=True": sl.LSTM(3, unroll=True),
        "reset_after=False": sl.GRU(3, reset_after=False),
        "use_bias=False": sl.LSTM(3, use_bias=False),
        "use_cudnn=False": sl.GRU(3, use_cudnn=False),
    }
    for expected, layer in cases.items():
        reasons = cudnn.reasons_for_generic_path(layer, check_device=False)
        assert any(expected in r for r in reasons), (expected, reasons)


def test_explain_walks_wrappers_and_stacks():
    inputs = keras.Input((None, 4))
    x = sl.RecurrentStack("lstm", units=3, num_layers=2, bidirectional=True)(inputs)
    x = sl.GRU(3, recurrent_dropout=0.2)(x)
    model = keras.Model(inputs, x)
    lines = []
    rows = sl.explain(model, print_fn=lines.append)
    assert len(rows) == 5  # 2 layers x 2 directions + 1 GRU
    assert len(lines) == 5
    gpu = bool(tf.config.list_logical_devices("GPU"))
    for row in rows[:4]:
        assert row["path"] == ("cudnn" if gpu else "seqtasks-fused")
    assert rows[4]["path"] == "seqtasks-loop"
    assert any("recurrent_dropout" in r for r in rows[4]["reasons"])
    assert any(r.startswith("autodiff BPTT") for r in rows[4]["reasons"])
    if not gpu:
        assert "no GPU visible" in rows[0]["reasons"]


def test_any_keras_activation_runs_and_explain_names_the_bptt():
    x = np.random.default_rng(0).normal(size=(2, 4, 3)).astype("float32")
    for activation in ("silu", "mish", "leaky_relu", "hard_tanh"):
        for layer in (sl.SimpleRNN(3, activation=activation), sl.LSTM(3, activation=activation),
                      sl.GRU(3, activation=activation)):
            assert layer(x).shape == (2, 3)
            assert layer.cell.fused_recurrence is None
            info = sl.explain(layer, print_fn=None)[0]
            assert info["path"] == "seqtasks-loop"
            assert any("autodiff BPTT" in r and activation in r for r in info["reasons"]), info
    fused = sl.explain(sl.SimpleRNN(3, activation="relu"), print_fn=None)[0]
    assert fused["path"] == "seqtasks-fused" and any("simple_relu" in r for r in fused["reasons"])
    with pytest.raises(ValueError, match="expected the name of a Keras activation"):
        sl.LSTM(3, activation="nope")


def test_subclass_that_overrides_the_step_loses_the_kernels():
    class Peephole(sl.LSTMCell):
        def recurrent_step(self, projected, states, recurrent_mask=None):
            return super().recurrent_step(projected, states, recurrent_mask)

    cell = Peephole(3)
    assert cell.fused_recurrence is None
    assert any("overrides recurrent_step" in r for r in cell.cudnn_incompatibilities())
    assert sl.LSTMCell(3).fused_recurrence == "lstm"


@pytest.mark.skipif(not tf.config.list_logical_devices("GPU"), reason="needs a GPU for the cuDNN kernel")
@pytest.mark.parametrize("name", ["LSTM", "GRU"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_cudnn_path_equals_loop(name, go_backwards):
    x = np.random.default_rng(0).normal(size=(3, 6, 4)).astype("float32")
    mask = np.arange(6)[None] < np.array([6, 2, 4])[:, None]
    fast = getattr(sl, name)(5, return_sequences=True, return_state=True, go_backwards=go_backwards)
    slow = getattr(sl, name)(5, return_sequences=True, return_state=True, go_backwards=go_backwards,
                             use_cudnn=False)
    fast.build(x.shape)
    slow.build(x.shape)
    slow.set_weights(fast.get_weights())
    for m in (None, mask):
        for a, b in zip(fast(x, mask=m), slow(x, mask=m), strict=True):
            np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
