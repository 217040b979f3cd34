"""`.keras` save/load and SavedModel export of models built from seqtasks layers."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest

import seqtasks.layers as sl


def build_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    tokens = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(20, 6, mask_zero=True)(tokens)
    x = sl.RecurrentStack("lstm", units=4, num_layers=2, bidirectional=True, residual=True, dropout=0.1)(x)
    x = sl.Bidirectional(sl.GRU(4, return_sequences=True, reset_after=False), merge_mode="sum")(x)
    x = sl.SimpleRNN(4, activation="relu", return_sequences=True)(x)
    x = sl.LSTM(5, go_backwards=True)(x)
    outputs = keras.layers.Dense(3)(x)
    return keras.Model(tokens, outputs)


def token_batch(batch: int, steps: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 20, size=(batch, steps)).astype("int32")
    lengths = rng.integers(1, steps + 1, size=batch)
    tokens[np.arange(steps)[None] >= lengths[:, None]] = 0
    return tokens


def test_keras_file_round_trip_is_exact(tmp_path):
    model = build_model()
    x = token_batch(4, 7)
    expected = model(x).numpy()
    path = tmp_path / "model.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    np.testing.assert_array_equal(restored(x).numpy(), expected)
    kinds = {type(layer).__name__ for layer in restored.layers}
    assert {"RecurrentStack", "Bidirectional", "SimpleRNN", "LSTM"} <= kinds


def test_cells_round_trip_through_config():
    for cell in (sl.SimpleRNNCell(3, activation="relu"), sl.LSTMCell(3, unit_forget_bias=False),
                 sl.GRUCell(3, reset_after=False, dropout=0.2, seed=4)):
        clone = type(cell).from_config(cell.get_config())
        assert clone.get_config() == cell.get_config()
    layer = sl.Bidirectional(sl.LSTM(3, return_state=True, dropout=0.1), merge_mode="ave")
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(layer))
    assert clone.merge_mode == "ave" and clone.return_state and clone.forward_layer.cell.dropout == 0.1


def test_saved_model_runs_without_seqtasks(tmp_path):
    model = build_model()
    export_dir = tmp_path / "export"
    model.export(str(export_dir), verbose=False)
    cases = {f"x{i}": token_batch(b, t, seed=i) for i, (b, t) in enumerate([(1, 3), (5, 11), (2, 1)])}
    np.savez(tmp_path / "inputs.npz", **cases)
    expected = {k: model(v).numpy() for k, v in cases.items()}
    script = textwrap.dedent(
        f"""
        import sys, numpy as np, tensorflow as tf
        loaded = tf.saved_model.load({str(export_dir)!r})
        inputs = np.load({str(tmp_path / "inputs.npz")!r})
        out = {{k: loaded.serve(tf.constant(inputs[k])).numpy() for k in inputs.files}}
        np.savez({str(tmp_path / "outputs.npz")!r}, **out)
        assert not any(m.startswith("seqtasks") for m in sys.modules), "seqtasks was imported"
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=tmp_path,
                            timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    outputs = np.load(tmp_path / "outputs.npz")
    for key, value in expected.items():
        np.testing.assert_allclose(outputs[key], value, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("cls", [sl.LSTM, sl.GRU, sl.SimpleRNN])
def test_stateful_layer_round_trip(tmp_path, cls):
    inputs = keras.Input(batch_shape=(2, None, 3))
    layer = cls(4, stateful=True, return_sequences=True)
    model = keras.Model(inputs, layer(inputs))
    x = np.random.default_rng(0).normal(size=(2, 5, 3)).astype("float32")
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.saving.load_model(path)
    layer.reset_states()
    np.testing.assert_allclose(restored(x).numpy(), model(x).numpy(), atol=1e-6)
