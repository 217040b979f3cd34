"""RecurrentStack: equal to the same layers applied by hand; residuals, dropout, states, masks."""

from __future__ import annotations

import numpy as np
import pytest

import seqtasks.layers as sl
from tests.layers.reference import inputs, masks


@pytest.mark.parametrize("bidirectional", [False, True])
@pytest.mark.parametrize("cell_type", ["lstm", "gru", "simple_rnn"])
def test_stack_equals_layers_applied_in_turn(cell_type, bidirectional):
    x = inputs()
    mask = masks("right")
    stack = sl.RecurrentStack(cell_type, units=3, num_layers=3, bidirectional=bidirectional, residual=True,
                              dropout=0.5, return_state=True)
    out, states = stack(x, mask=mask)
    assert out.shape == (3, 5, 6 if bidirectional else 3)
    assert len(states) == 3
    n = (2 if cell_type == "lstm" else 1) * (2 if bidirectional else 1)
    assert all(len(s) == n for s in states)
    h = x
    for i, layer in enumerate(stack.rnn_layers):
        y = layer(h, mask=mask)[0]
        if i > 0:  # widths match from the second layer on, so the residual applies
            y = y + h
        h = y
    np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6)
    # dropout only in training
    assert not np.allclose(stack(x, mask=mask, training=True)[0], out)


def test_last_layer_can_return_last_output_only():
    stack = sl.RecurrentStack("gru", units=4, num_layers=2, return_sequences=False)
    assert stack(inputs()).shape == (3, 4)


def test_initial_state_per_layer():
    x = inputs()
    stack = sl.RecurrentStack("lstm", units=3, num_layers=2, return_state=True)
    _, states = stack(x)
    out2, _ = stack(x, initial_state=states)
    out1, _ = stack(x)
    assert not np.allclose(out1, out2)
    with pytest.raises(ValueError, match="one entry per layer"):
        stack(x, initial_state=states[:1])


def test_tf_checkpoint_holds_every_stack_weight(tmp_path):
    import tensorflow as tf

    stack = sl.RecurrentStack("gru", units=3, num_layers=2, bidirectional=True)
    stack(inputs())
    path = tf.train.Checkpoint(layer=stack).write(str(tmp_path / "ckpt"))
    stored = [k for k in tf.train.load_checkpoint(path).get_variable_to_shape_map() if "VARIABLE_VALUE" in k]
    assert len(stored) == len(stack.weights) == 12
    clone = sl.RecurrentStack("gru", units=3, num_layers=2, bidirectional=True)
    clone(inputs())
    tf.train.Checkpoint(layer=clone).read(path).assert_consumed()
    np.testing.assert_array_equal(clone(inputs()), stack(inputs()))


def test_initializers_reach_every_layer_and_round_trip():
    import keras

    stack = sl.RecurrentStack("simple_rnn", units=3, num_layers=2, activation="relu",
                              recurrent_initializer="identity", bidirectional=True)
    stack(inputs())
    for layer in stack.rnn_layers:
        for direction in (layer.forward_layer, layer.backward_layer):
            np.testing.assert_array_equal(direction.cell.recurrent_kernel.numpy(), np.eye(3))
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(stack))
    assert clone.get_config() == stack.get_config()
