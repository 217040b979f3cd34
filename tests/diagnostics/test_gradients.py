"""Gradient flow: exact per-step norms (finite differences, float64), vanishing vs LSTM, exploding ReLU, the
summary fit, outputs, cell specs, trained runs and the command line."""

import csv

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.diagnostics import gradients as g
from seqtasks.errors import ConfigError
from seqtasks.runtime import commands

CELLS = ["simple_rnn(tanh)", "simple_rnn(relu, gain=1.3)", "lstm", "gru", "gru(reset_after=false)"]


def reference_losses(cell, x, w, perturb=None):
    """Per-sequence loss `w . h_T` from a plain eager step loop (independent of `recurrent_loop`).

    `perturb = (t, state_index, unit, delta)` adds `delta` to that state right after step t.
    """
    states = [np.zeros((x.shape[0], s)) for s in g._state_sizes(cell)]
    for t in range(x.shape[1]):
        _, states = cell.call(tf.constant(x[:, t]), [tf.constant(s) for s in states], training=False)
        states = [s.numpy().copy() for s in states]
        if perturb is not None and perturb[0] == t:
            states[perturb[1]][:, perturb[2]] += perturb[3]
    return states[0] @ w


@pytest.mark.parametrize("spec", CELLS)
def test_per_step_norms_equal_finite_differences(spec):
    units, features, steps, batch, h = 3, 2, 5, 2, 1e-6
    cell = g.parse_cell_spec(spec).build_cell(units, features, seed=3, dtype="float64")
    rng = np.random.default_rng(0)
    x = rng.standard_normal((batch, steps, features))
    w = rng.standard_normal(units)
    got = [t.numpy() for t in g.per_step_gradient_norms(cell, tf.constant(x), tf.constant(w))]

    grad_x = np.zeros_like(x)
    for t in range(steps):
        for d in range(features):
            plus, minus = x.copy(), x.copy()
            plus[:, t, d] += h
            minus[:, t, d] -= h
            grad_x[:, t, d] = (reference_losses(cell, plus, w) - reference_losses(cell, minus, w)) / (2 * h)
    sizes = g._state_sizes(cell)
    grad_s = [np.zeros((batch, steps, s)) for s in sizes]
    for t in range(steps):
        for i, size in enumerate(sizes):
            for j in range(size):
                up = reference_losses(cell, x, w, (t, i, j, h))
                down = reference_losses(cell, x, w, (t, i, j, -h))
                grad_s[i][:, t, j] = (up - down) / (2 * h)
    back = np.s_[:, ::-1]  # the function indexes by steps back
    np.testing.assert_allclose(got[0], np.linalg.norm(grad_x, axis=-1)[back], rtol=1e-6, atol=1e-10)
    np.testing.assert_allclose(got[1], np.linalg.norm(grad_s[0], axis=-1)[back], rtol=1e-6, atol=1e-10)
    whole = np.sqrt(sum(np.sum(s**2, axis=-1) for s in grad_s))
    np.testing.assert_allclose(got[2], whole[back], rtol=1e-6, atol=1e-10)
    # d(w . h_T)/dh_T = w exactly
    np.testing.assert_allclose(got[1][:, 0], np.linalg.norm(w), rtol=1e-12)


@pytest.mark.parametrize("seed", [0, 1])
def test_simple_rnn_gradient_decays_faster_than_lstm(seed):
    simple, lstm = g.gradient_flow(["simple_rnn(tanh)", "lstm"], units=8, sequence_length=40, input_dim=4,
                                   batch_size=4, seeds=(seed,))
    for q in ("input", "hidden"):
        assert simple.summary(q)["slope"] < lstm.summary(q)["slope"] < 0
    assert simple.norms["hidden"][-1] < lstm.norms["hidden"][-1]


def test_relu_with_large_recurrent_gain_explodes():
    (curve,) = g.gradient_flow(["simple_rnn(relu, gain=2)"], units=16, sequence_length=60, input_dim=4,
                               batch_size=4, seeds=(0,))
    s = curve.summary("hidden")
    assert s["slope"] > 0 and s["horizon"] is None and s["explode_horizon"] is not None
    assert np.all(np.isfinite(curve.norms["hidden"]))


def test_decay_summary_on_known_curves():
    k = np.arange(60)
    s = g.decay_summary(0.5**k * 3.0)
    assert s["slope"] == pytest.approx(np.log10(0.5)) and s["factor"] == pytest.approx(0.5)
    assert s["horizon"] == 20 and s["explode_horizon"] is None  # 0.5**20 < 1e-6 < 0.5**19
    s = g.decay_summary(2.0**k)
    assert s["horizon"] is None and s["explode_horizon"] == 20
    underflow = np.array([1.0, 0.5, 0.0, 0.0])
    assert g.decay_summary(underflow)["horizon"] == 2
    assert g.decay_summary(np.array([1.0, 1e3, np.inf]))["explode_horizon"] == 2


def test_cell_specs():
    spec = g.parse_cell_spec("simple_rnn( relu , gain=2.5, init=identity)")
    assert (spec.cell_type, spec.activation, spec.gain, spec.init) == ("simple_rnn", "relu", 2.5, "identity")
    assert spec.label == "simple_rnn(relu, init=identity, gain=2.5)"
    assert g.parse_cell_spec("lstm(unit_forget_bias=false)").options == (("unit_forget_bias", False),)
    assert g.parse_cell_spec("gru").label == "gru"
    cell = g.parse_cell_spec("simple_rnn(relu, gain=2, init=identity)").build_cell(4, 3, seed=0)
    np.testing.assert_allclose(cell.recurrent_kernel.numpy(), 2 * np.eye(4))
    for bad, match in [("lstn", "unknown cell type"), ("gru(gain=x)", "gain must be a number"),
                       ("lstm(reset_after=true)", "unknown option"), ("simple_rnn(relux)", "unknown activation"),
                       ("simple_rnn(init=zeros)", "init must be one of"), ("lstm(", "not understood")]:
        with pytest.raises(ConfigError, match=match):
            g.parse_cell_spec(bad)


def test_outputs_and_summary(tmp_path):
    curves = g.gradient_flow(["gru", "lstm"], units=4, sequence_length=12, input_dim=2, batch_size=2,
                             num_batches=2, seeds=(0, 1))
    assert curves[0].samples == 8
    paths = g.write_outputs(curves, tmp_path, title="tiny")
    assert paths["png"].stat().st_size > 1000
    rows = list(csv.DictReader(paths["csv"].open()))
    assert len(rows) == 24 and rows[0]["config"] == "gru" and float(rows[0]["hidden_relative"]) == 1.0
    text = paths["summary"].read_text()
    assert "gru" in text and "lstm" in text and text.count("state") == 1  # only the LSTM has a separate state


def test_trained_run_layers_are_measured(tmp_path):
    overrides = ["model.units=5", "model.num_layers=2", "train.batch_size=4", "train.epochs=1", "train.steps_per_epoch=2",
                 "data.sequence_length=4", "data.validation_samples=8", "eval.test_samples=8", "train.verbose=none",
                 "export.after_train=false"]
    commands.train("memory", tmp_path / "run", overrides=overrides)
    curves = g.trained_run_flow(tmp_path / "run", sequence_length=9, batch_size=3, seeds=(0, 1))
    assert [c.label for c in curves] == ["memory_model/encoder/lstm_0 (LSTMCell)",
                                        "memory_model/encoder/lstm_1 (LSTMCell)"]
    assert all(c.steps == 9 and c.samples == 6 and np.all(np.isfinite(c.norms["input"])) for c in curves)
    # inputs drawn from real sequences (here: adding-problem sequences) instead of Gaussian ones
    real = np.random.default_rng(0).uniform(size=(5, 12, 2))
    seen = []
    draw = g.inputs_from_array(real)
    curves = g.trained_run_flow(tmp_path / "run", sequence_length=9, batch_size=3, seeds=(0,),
                                input_fn=lambda rng, shape: seen.append(shape) or draw(rng, shape))
    assert seen == [(3, 9, 2)] and len(curves) == 2
    with pytest.raises(ConfigError, match="cannot give inputs of T=20"):
        draw(np.random.default_rng(0), (1, 20, 2))
    # command line: several runs in one plot, real inputs from a .npy file
    np.save(tmp_path / "x.npy", real)
    args = ["--workdir", str(tmp_path / "run"), str(tmp_path / "run"), "--inputs", str(tmp_path / "x.npy"),
            "--steps", "6", "--batch-size", "2", "--seeds", "0", "--out", str(tmp_path / "out")]
    assert g.main(args) == 0
    rows = list(csv.DictReader((tmp_path / "out/gradient_flow.csv").open()))
    assert len(rows) == 4 * 6 and rows[0]["config"] == "run: memory_model/encoder/lstm_0 (LSTMCell)"


def test_command_line(tmp_path, capsys):
    assert g.main(["--cells", "gru", "simple_rnn(relu)", "--units", "4", "--steps", "10", "--batch-size", "2",
                   "--seeds", "0", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "log10/step" in out and (tmp_path / "gradient_flow.png").is_file()
    assert g.main(["--cells", "lstn", "--out", str(tmp_path)]) == 2
    assert "unknown cell type" in capsys.readouterr().err


def test_norms_do_not_underflow_or_overflow_in_float64():
    g_ = tf.constant([[3e-200, 4e-200], [3e200, 4e200], [0.0, 0.0], [3.0, 4.0]], tf.float64)
    np.testing.assert_allclose(g._norm(g_).numpy(), [5e-200, 5e200, 0.0, 5.0], rtol=1e-12)


def test_bidirectional_stacks_are_walked_layer_by_layer():
    import keras

    from seqtasks.layers import GRU, Bidirectional, RecurrentStack

    ids = keras.Input((None,), dtype="int32")
    x = keras.layers.Embedding(50, 6)(ids)
    x = RecurrentStack("lstm", units=3, num_layers=2, bidirectional=True, residual=True, name="enc")(x)
    x = Bidirectional(GRU(4, return_sequences=True), name="top")(x)
    model = keras.Model(ids, x, name="m")
    assert g._embedding_std(model) == pytest.approx(np.sqrt(np.mean(model.layers[1].embeddings.numpy() ** 2)))
    found = g.recurrent_layer_inputs(model, 7, 2, np.random.default_rng(0), g.gaussian_inputs(0.05))
    assert [label for label, _, _ in found] == [
        "m/enc/bidirectional_0/forward", "m/enc/bidirectional_0/backward",
        "m/enc/bidirectional_1/forward", "m/enc/bidirectional_1/backward", "m/top/forward", "m/top/backward"]
    first, first_back = found[0][2], found[1][2]
    np.testing.assert_array_equal(first_back, first[:, ::-1])  # the backward cell sees its processing order
    layer0 = model.get_layer("enc").rnn_layers[0]
    expected = layer0(first)[0].numpy() + first  # residual: widths match (2 x 3 == 6)
    np.testing.assert_allclose(found[2][2], expected, rtol=1e-5, atol=1e-6)
