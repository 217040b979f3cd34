"""Elman recurrent network: the `SimpleRNNCell` and the `SimpleRNN` layer."""

from __future__ import annotations

import keras
from keras import ops

from seqtasks.layers import validation
from seqtasks.layers.base_cell import RecurrentCell
from seqtasks.layers.rnn import RNN, cell_property, layer_config


@keras.saving.register_keras_serializable(package="seqtasks")
class SimpleRNNCell(RecurrentCell):
    """Cell of a fully connected recurrent network: `h_t = activation(x_t W + h_{t-1} U + b)`.

    With `activation="relu"` and an identity recurrent initialiser this is the IRNN of Le et al. (2015); with
    `tanh` it is the classic Elman network whose gradients vanish over long spans (see `seqtasks diagnose`).

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: `"tanh"` (default) or `"relu"` (or another Keras activation).
        use_bias: Whether the cell uses a bias vector.
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

    >>> cell = SimpleRNNCell(16, activation="relu")
    >>> layer = keras.layers.RNN(cell)
    """

    gates = 1

    def __init__(self, units, activation="tanh", **kwargs):
        kwargs.pop("recurrent_activation", None)
        super().__init__(units, activation=activation, **kwargs)

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        if self.use_bias:
            self._add_bias((self.units,))
        self.built = True

    @property
    def fused_recurrence(self):
        activation = validation.activation_name(self.activation)
        if activation not in ("tanh", "relu"):
            return None
        return self._fused_if(f"simple_{activation}", SimpleRNNCell)

    def recurrent_step(self, projected, states, recurrent_mask=None):
        h_prev = states[0]
        if recurrent_mask is not None:
            h_prev = h_prev * recurrent_mask
        h = self.activation(projected + ops.matmul(h_prev, self.recurrent_kernel))
        return h, [h]

    def get_config(self):
        config = super().get_config()
        config.pop("recurrent_activation")
        return config


@keras.saving.register_keras_serializable(package="seqtasks")
class SimpleRNN(RNN):
    """Fully connected recurrent layer: seqtasks' loop over a `SimpleRNNCell`.

    Arguments are those of `keras.layers.SimpleRNN`. With tanh or ReLU the layer runs the hand-written BPTT of
    `seqtasks.layers.fused`; any other Keras activation runs the autodiff loop (`seqtasks.layers.explain` says
    which).

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation function (default `tanh`; `relu` for an IRNN).
        use_bias: Whether the layer uses bias vectors.
        kernel_initializer, recurrent_initializer, bias_initializer: Weight initialisers.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Optional weight regularizers.
        activity_regularizer: Optional regularizer of the layer's output.
        kernel_constraint, recurrent_constraint, bias_constraint: Optional weight constraints.
        dropout: Float in [0, 1), fraction of the input units to drop (one mask per sequence).
        recurrent_dropout: Float in [0, 1), fraction of the recurrent units to drop (one mask per sequence;
            rules out the hand-written BPTT and cuDNN).
        seed: Random seed for dropout.
        return_sequences: Whether to return the whole output sequence or only the last output.
        return_state: Whether to return the final states after the output.
        go_backwards: Whether to process the sequence backwards and return the reversed sequence.
        stateful: Whether the last state of each sample is the initial state of the same sample in the next
            batch (fixed batch size; `reset_state()` clears it).
        unroll: Whether to unroll the loop (static length; faster for short sequences, more memory).
        zero_output_for_mask: Whether masked steps output zeros instead of repeating the previous output.
        **kwargs: Base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: A 3-D tensor `(batch, time, features)`.
        initial_state: Optional list of initial state tensors (one tensor `(batch, units)`).
        mask: Optional boolean tensor `(batch, time)`; masked steps keep the state.
        training: Whether dropout is active.

    Example:

    >>> layer = SimpleRNN(32, activation="relu", return_sequences=True)
    >>> layer(np.zeros((4, 10, 8), "float32")).shape
    (4, 10, 32)
    """

    def __init__(
        self,
        units,
        activation="tanh",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        activity_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        cell = SimpleRNNCell(
            units,
            activation=activation,
            use_bias=use_bias,
            kernel_initializer=kernel_initializer,
            recurrent_initializer=recurrent_initializer,
            bias_initializer=bias_initializer,
            kernel_regularizer=kernel_regularizer,
            recurrent_regularizer=recurrent_regularizer,
            bias_regularizer=bias_regularizer,
            kernel_constraint=kernel_constraint,
            recurrent_constraint=recurrent_constraint,
            bias_constraint=bias_constraint,
            dropout=dropout,
            recurrent_dropout=recurrent_dropout,
            seed=seed,
            implementation=kwargs.pop("implementation", None),
            dtype=kwargs.get("dtype"),
            trainable=kwargs.get("trainable", True),
            name="cell",
        )
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            activity_regularizer=activity_regularizer,
            **kwargs,
        )

    units = cell_property("units")
    activation = cell_property("activation")
    use_bias = cell_property("use_bias")
    kernel_initializer = cell_property("kernel_initializer")
    recurrent_initializer = cell_property("recurrent_initializer")
    bias_initializer = cell_property("bias_initializer")
    kernel_regularizer = cell_property("kernel_regularizer")
    recurrent_regularizer = cell_property("recurrent_regularizer")
    bias_regularizer = cell_property("bias_regularizer")
    kernel_constraint = cell_property("kernel_constraint")
    recurrent_constraint = cell_property("recurrent_constraint")
    bias_constraint = cell_property("bias_constraint")
    dropout = cell_property("dropout")
    recurrent_dropout = cell_property("recurrent_dropout")

    def get_config(self):
        return layer_config(self)

    @classmethod
    def from_config(cls, config):
        return cls(**config)
