"""Invalid arguments raise ValueError naming the argument and the accepted values."""

from __future__ import annotations

import numpy as np
import pytest

import seqtasks.layers as sl


@pytest.mark.parametrize("cls", [sl.SimpleRNN, sl.LSTM, sl.GRU, sl.SimpleRNNCell, sl.LSTMCell, sl.GRUCell])
@pytest.mark.parametrize("units", [0, -3, 2.5, "8", True])
def test_units_must_be_positive_int(cls, units):
    with pytest.raises(ValueError, match=r"argument `units`, expected a positive integer"):
        cls(units)


@pytest.mark.parametrize("cls", [sl.SimpleRNN, sl.LSTM, sl.GRU])
def test_unknown_activation(cls):
    with pytest.raises(ValueError, match=r"argument `activation`, expected the name of a Keras activation .*relu.*tanh"):
        cls(3, activation="tahn")
    with pytest.raises(ValueError, match=r"argument `recurrent_activation`"):
        sl.LSTM(3, recurrent_activation="nope")


@pytest.mark.parametrize("arg", ["dropout", "recurrent_dropout"])
def test_rates(arg):
    with pytest.raises(ValueError, match=rf"argument `{arg}`, expected a float in \[0, 1\)"):
        sl.GRU(3, **{arg: 1.0})


def test_merge_mode_lists_accepted_values():
    with pytest.raises(ValueError, match=r"`merge_mode`, expected one of \('concat', 'sum', 'mul', 'ave', None\)"):
        sl.Bidirectional(sl.GRU(3), merge_mode="avg")


@pytest.mark.parametrize("shape", [(2, 4), (2, 3, 4, 5)])
@pytest.mark.parametrize("make", [lambda: sl.LSTM(3), lambda: sl.Bidirectional(sl.GRU(3)), lambda: sl.RecurrentStack("gru", 3)])
def test_input_rank_must_be_3(make, shape):
    with pytest.raises(ValueError, match="rank 3"):
        make()(np.zeros(shape, "float32"))


def test_mismatched_initial_state():
    x = np.zeros((2, 5, 4), "float32")
    with pytest.raises(ValueError, match=r"`initial_state`.*expected 2 state tensor\(s\) of sizes \[3, 3\], got 1"):
        sl.LSTM(3)(x, initial_state=[np.zeros((2, 3), "float32")])
    with pytest.raises(ValueError, match=r"`initial_state`.*state 0 must have shape \(batch, 3\), got \(2, 5\)"):
        sl.GRU(3)(x, initial_state=[np.zeros((2, 5), "float32")])


def test_stack_arguments():
    with pytest.raises(ValueError, match="`cell_type`, expected one of \\('lstm', 'gru', 'simple_rnn'\\)"):
        sl.RecurrentStack("rnn", 3)
    with pytest.raises(ValueError, match="`num_layers`, expected a positive integer"):
        sl.RecurrentStack("lstm", 3, num_layers=0)
    with pytest.raises(ValueError, match="use_cudnn"):
        sl.LSTM(3, use_cudnn="yes")
