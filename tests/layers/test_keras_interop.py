"""seqtasks' layers with Keras' cells and Keras' layers with seqtasks' cells, and the Keras behaviours that
users rely on (the cases the Keras suite does not spell out)."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

import seqtasks.layers as sl
from tests.layers.reference import inputs, masks


class MinimalCell(keras.layers.Layer):
    """A Keras-contract cell with `state_size` only (no `output_size`, no `get_initial_state`)."""

    def __init__(self, units, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.state_size = units

    def build(self, input_shape):
        self.kernel = self.add_weight(shape=(input_shape[-1], self.units), initializer="glorot_uniform")
        self.recurrent = self.add_weight(shape=(self.units, self.units), initializer="orthogonal")

    def call(self, inputs, states):
        h = ops.tanh(ops.matmul(inputs, self.kernel) + ops.matmul(states[0], self.recurrent))
        return h, [h]


def _copy_weights(dst, src):
    for d, s in zip(dst.weights, src.weights, strict=True):
        d.assign(s.numpy())


@pytest.mark.parametrize("mask_kind", [None, "arbitrary"])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_seqtasks_rnn_runs_keras_cells_like_keras_rnn(mask_kind, go_backwards):
    x, mask = inputs(), masks(mask_kind)
    for make in (lambda: MinimalCell(3), lambda: keras.layers.GRUCell(3),
                 lambda: [keras.layers.LSTMCell(3), MinimalCell(2)],
                 lambda: keras.layers.StackedRNNCells([keras.layers.GRUCell(3), keras.layers.LSTMCell(2)])):
        kwargs = {"return_sequences": True, "return_state": True, "go_backwards": go_backwards}
        ours = sl.RNN(make(), **kwargs)
        ref = keras.layers.RNN(make(), **kwargs)
        ours.build(x.shape)
        ref.build(x.shape)
        _copy_weights(ours, ref)
        got, want = ours(x, mask=mask), ref(x, mask=mask)
        assert len(got) == len(want)
        for a, b in zip(tf.nest.flatten(got), tf.nest.flatten(want), strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("mask_kind", [None, "right", "arbitrary"])
def test_keras_rnn_runs_seqtasks_cells_like_seqtasks_layers(mask_kind):
    x, mask = inputs(), masks(mask_kind)
    for name in ("SimpleRNN", "LSTM", "GRU"):
        ours = getattr(sl, name)(3, return_sequences=True, return_state=True)
        ours.build(x.shape)
        keras_rnn = keras.layers.RNN(ours.cell, return_sequences=True, return_state=True)
        for a, b in zip(ours(x, mask=mask), keras_rnn(x, mask=mask), strict=True):
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-5, atol=1e-6)


def test_keras_rnn_trains_seqtasks_cell_with_dropout():
    cell = sl.GRUCell(4, dropout=0.3, recurrent_dropout=0.3, seed=1)
    model = keras.Sequential([keras.Input((5, 3)), keras.layers.RNN(cell), keras.layers.Dense(1)])
    model.compile("adam", "mse")
    history = model.fit(np.ones((8, 5, 3)), np.ones((8, 1)), epochs=2, verbose=0)
    assert np.isfinite(history.history["loss"]).all()


def test_mixed_float16_outputs_match_their_spec():
    x = inputs()
    for layer in (sl.Bidirectional(sl.LSTM(3, return_sequences=True), dtype="mixed_float16"),
                  sl.RNN(keras.layers.GRUCell(3, dtype="mixed_float16"), dtype="mixed_float16"),
                  sl.LSTM(3, dtype="mixed_float16", return_state=True)):
        eager = layer(x)
        symbolic = layer(keras.Input(x.shape[1:]))
        for e, s in zip(tf.nest.flatten(eager), tf.nest.flatten(symbolic), strict=True):
            assert e.dtype == "float16" and s.dtype == "float16", (layer.name, e.dtype, s.dtype)


def test_stateful_batch_size_mismatch_raises():
    layer = sl.LSTM(3, stateful=True)
    layer(inputs(batch=3))
    with pytest.raises(ValueError, match="built for batch size 3, but received a batch of 1"):
        layer(inputs(batch=1))


def test_implementation_argument_is_accepted_and_ignored():
    x = inputs()
    for name in ("SimpleRNN", "LSTM", "GRU"):
        for implementation in (1, 2):
            layer = getattr(sl, name)(3, implementation=implementation)
            assert layer(x).shape == (3, 3)
            assert "implementation" not in layer.get_config()
    old_config = {**sl.LSTM(3).get_config(), "implementation": 1}
    assert sl.LSTM.from_config(old_config).units == 3


def test_layer_classes_follow_keras_hierarchy():
    assert not isinstance(sl.LSTM(8), sl.SimpleRNN)
    assert not isinstance(sl.GRU(8), sl.SimpleRNN)
    for cls in (sl.SimpleRNN, sl.LSTM, sl.GRU):
        assert issubclass(cls, sl.RNN)
        assert "kwargs" in cls.__init__.__code__.co_varnames
        params = cls.__init__.__code__.co_varnames[: cls.__init__.__code__.co_argcount]
        for name in ("units", "activation", "use_bias", "dropout", "recurrent_dropout", "return_sequences",
                     "return_state", "go_backwards", "stateful", "unroll", "seed"):
            assert name in params, (cls.__name__, name)
    assert sl.LSTM(4, unit_forget_bias=False).unit_forget_bias is False
    assert sl.GRU(4, reset_after=False).reset_after is False


def test_cpu_layers_stay_jit_compilable():
    # XLA cannot compile CudnnRNNV3, so only layers that may take the cuDNN path give up `supports_jit`.
    gpu = bool(tf.config.list_logical_devices("GPU"))
    assert sl.LSTM(3).supports_jit is not gpu
    assert sl.GRU(3, use_cudnn=False).supports_jit
    assert sl.LSTM(3, recurrent_dropout=0.1).supports_jit


@keras.saving.register_keras_serializable(package="seqtasks_tests")
class ScaledRNN(sl.RNN):
    def __init__(self, cell, scale=2.0, **kwargs):
        super().__init__(cell, **kwargs)
        self.scale = scale

    def call(self, sequences, initial_state=None, mask=None, training=False):
        return super().call(sequences, initial_state=initial_state, mask=mask, training=training) * self.scale

    def get_config(self):
        return {**super().get_config(), "scale": self.scale}


def test_user_subclass_round_trips(tmp_path):
    x = inputs()
    layer = ScaledRNN(sl.GRUCell(3), scale=3.0, return_sequences=True)
    model = keras.Sequential([keras.Input(x.shape[1:]), layer])
    clone = ScaledRNN.from_config(layer.get_config())
    assert clone.scale == 3.0 and isinstance(clone.cell, sl.GRUCell) and clone.return_sequences
    path = tmp_path / "m.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded(x).numpy(), model(x).numpy(), rtol=1e-6)


def test_bare_state_in_bare_state_out_and_numpy_arguments():
    x = inputs()[:, 0]
    for cls in (sl.SimpleRNNCell, sl.GRUCell):
        cell = cls(np.int64(2), dropout=np.float32(0.1))
        cell.build(x.shape)
        _, state = cell(x, tf.zeros((x.shape[0], 2)))
        assert tf.is_tensor(state) and cell.units == 2
        _, states = cell(x, [tf.zeros((x.shape[0], 2))])
        assert isinstance(states, (list, tuple))
