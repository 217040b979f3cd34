"""seqtasks.layers.Bidirectional against keras.layers.Bidirectional and against an explicit reversal."""

from __future__ import annotations

import keras
import numpy as np
import pytest

import seqtasks.layers as sl
from tests.layers.reference import LAYER_CASES, case_id, forward_and_grads, inputs, masks


def bidirectional_pair(name, cell_kwargs, layer_kwargs, merge_mode, x):
    keras.utils.set_random_seed(4)
    ref = keras.layers.Bidirectional(getattr(keras.layers, name)(3, **cell_kwargs, **layer_kwargs), merge_mode=merge_mode)
    ours = sl.Bidirectional(getattr(sl, name)(3, **cell_kwargs, **layer_kwargs), merge_mode=merge_mode)
    ref.build(x.shape)
    ours.build(x.shape)
    ours.set_weights(ref.get_weights())
    return ours, ref


@pytest.mark.parametrize("mask_kind", [None, "right", "arbitrary"])
@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
@pytest.mark.parametrize("case", LAYER_CASES, ids=case_id)
def test_matches_keras_bidirectional(case, merge_mode, mask_kind):
    name, cell_kwargs = case
    x = inputs()
    ours, ref = bidirectional_pair(name, cell_kwargs, {"return_sequences": True}, merge_mode, x)
    ours_out, ours_grads = forward_and_grads(ours, x, masks(mask_kind))
    ref_out, ref_grads = forward_and_grads(ref, x, masks(mask_kind))
    for a, b in zip(ours_out + ours_grads, ref_out + ref_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("return_sequences", [True, False])
@pytest.mark.parametrize("case", LAYER_CASES, ids=case_id)
def test_return_state_matches_keras(case, return_sequences):
    name, cell_kwargs = case
    x = inputs()
    kwargs = {"return_sequences": return_sequences, "return_state": True}
    ours, ref = bidirectional_pair(name, cell_kwargs, kwargs, "concat", x)
    ours_out, _ = forward_and_grads(ours, x, masks("right"))
    ref_out, _ = forward_and_grads(ref, x, masks("right"))
    n_states = 2 if name == "LSTM" else 1
    assert len(ours_out) == 1 + 2 * n_states
    for a, b in zip(ours_out, ref_out, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["LSTM", "GRU", "SimpleRNN"])
def test_backward_direction_reverses_only_the_valid_part(name):
    x = inputs()
    mask = masks("right")
    lengths = mask.sum(1)
    layer = sl.Bidirectional(getattr(sl, name)(3, return_sequences=True), merge_mode=None)
    forward, backward = layer(x, mask=mask)
    backward_layer = layer.backward_layer
    for b, length in enumerate(lengths):
        valid = x[b : b + 1, :length]
        # The backward layer run alone on the valid part, reversed explicitly.
        plain = getattr(sl, name).from_config({**backward_layer.get_config(), "go_backwards": False})
        plain.build(valid.shape)
        plain.set_weights(backward_layer.get_weights())
        expected = plain(valid[:, ::-1])[0].numpy()[::-1]
        np.testing.assert_allclose(backward[b, :length], expected, rtol=1e-5, atol=1e-6)
        np.testing.assert_array_equal(backward[b, length:], 0.0)
        np.testing.assert_array_equal(forward[b, length:], 0.0)


def test_initial_state_split_between_directions():
    x = inputs()
    layer = sl.Bidirectional(sl.LSTM(3, return_state=True))
    zeros = [np.zeros((x.shape[0], 3), "float32")] * 4
    out_zero = layer(x, initial_state=zeros)[0]
    np.testing.assert_allclose(out_zero, layer(x)[0], atol=1e-6)
    with pytest.raises(ValueError, match="initial_state"):
        layer(x, initial_state=zeros[:3])


def test_invalid_merge_mode_and_layer():
    with pytest.raises(ValueError, match="merge_mode.*concat"):
        sl.Bidirectional(sl.LSTM(3), merge_mode="max")
    with pytest.raises(ValueError, match="`layer`"):
        sl.Bidirectional(keras.layers.Dense(3))
