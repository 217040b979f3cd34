"""Gated recurrent unit: `GRUCell` and the `GRU` layer (Cho et al., 2014)."""

from __future__ import annotations

import keras
from keras import ops

from seqtasks.layers.base_cell import RecurrentCell
from seqtasks.layers.cudnn import CuDNNCapableRNN


@keras.saving.register_keras_serializable(package="seqtasks")
class GRUCell(RecurrentCell):
    """GRU cell with a fused 3-gate kernel (gate order z, r, h, as in Keras).

    `reset_after=True` (default, cuDNN-compatible) applies the reset gate after the recurrent matmul and keeps
    separate input and recurrent biases (bias shape `(2, 3 * units)`); `reset_after=False` is the original
    formulation of Cho et al. (2014) with one bias `(3 * units,)`.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate (default `tanh`).
        recurrent_activation: Activation of the update and reset gates (default `sigmoid`).
        use_bias: Whether the cell uses bias vectors.
        reset_after: Whether the reset gate is applied after (True) or before (False) the recurrent matmul.
        kernel_initializer, recurrent_initializer, bias_initializer: Weight initialisers.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Optional regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: Optional constraints.
        dropout: Float in [0, 1), fraction of the input units to drop (one mask per sequence).
        recurrent_dropout: Float in [0, 1), fraction of the recurrent units to drop (one mask per sequence).
        seed: Random seed for dropout.

    Call arguments:
        inputs: A 2-D tensor `(batch, features)`.
        states: A list with one tensor `(batch, units)`.
        training: Whether dropout is active.

    Example:

    >>> cell = GRUCell(32, reset_after=False)
    >>> layer = keras.layers.RNN(cell)
    """

    gates = 3

    def __init__(self, units, reset_after=True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = bool(reset_after)

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        if self.use_bias:
            shape = (2, 3 * self.units) if self.reset_after else (3 * self.units,)
            self._add_bias(shape)
        self.built = True

    def input_bias(self):
        return self.bias[0] if self.reset_after else self.bias

    def recurrent_step(self, projected, states, recurrent_mask=None):
        h_prev = states[0]
        h_in = h_prev * recurrent_mask if recurrent_mask is not None else h_prev
        x_z, x_r, x_h = ops.split(projected, 3, axis=-1)
        units = self.units
        if self.reset_after:
            inner = ops.matmul(h_in, self.recurrent_kernel)
            if self.use_bias:
                inner = inner + self.bias[1]
            r_z, r_r, r_h = ops.split(inner, 3, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + r * r_h)
        else:
            inner = ops.matmul(h_in, self.recurrent_kernel[:, : 2 * units])
            r_z, r_r = ops.split(inner, 2, axis=-1)
            z = self.recurrent_activation(x_z + r_z)
            r = self.recurrent_activation(x_r + r_r)
            candidate = self.activation(x_h + ops.matmul(r * h_in, self.recurrent_kernel[:, 2 * units :]))
        h = z * h_prev + (1.0 - z) * candidate
        return h, [h]

    def get_config(self):
        config = {"reset_after": self.reset_after}
        base_config = super().get_config()
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="seqtasks")
class GRU(CuDNNCapableRNN):
    """GRU layer running seqtasks' loop, or the fused cuDNN kernel on a GPU when the configuration allows.

    Takes the arguments of `GRUCell` and of `RNN` (`return_sequences`, `return_state`, `go_backwards`,
    `stateful`, `unroll`, `zero_output_for_mask`), named as in `keras.layers.GRU`, plus `use_cudnn`
    (`"auto"`, True or False).

    The cuDNN kernel runs when a GPU is visible, `activation="tanh"`, `recurrent_activation="sigmoid"`,
    `use_bias=True`, `reset_after=True`, `recurrent_dropout=0`, `unroll=False`, and the mask (if any) is
    right-padded. `seqtasks.layers.explain(model)` says which path and why.

    Call arguments:
        sequences: A 3-D tensor `(batch, time, features)`.
        initial_state: Optional list with one tensor `(batch, units)`.
        mask: Optional boolean tensor `(batch, time)`.
        training: Whether dropout is active.

    Example:

    >>> layer = GRU(64, return_sequences=True)
    >>> layer(np.zeros((2, 7, 3), "float32")).shape
    (2, 7, 64)
    """

    cell_class = GRUCell
