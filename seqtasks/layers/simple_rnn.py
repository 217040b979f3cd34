"""Elman recurrent network: `SimpleRNNCell` and the `SimpleRNN` layer."""

from __future__ import annotations

import keras
from keras import ops

from seqtasks.layers.base_cell import RecurrentCell
from seqtasks.layers.rnn import RNN


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
    """Fully connected recurrent layer running seqtasks' loop over `SimpleRNNCell`.

    Takes the arguments of `SimpleRNNCell` and of `RNN` (`return_sequences`, `return_state`, `go_backwards`,
    `stateful`, `unroll`, `zero_output_for_mask`), named as in `keras.layers.SimpleRNN`.

    Call arguments:
        sequences: A 3-D tensor `(batch, time, features)`.
        initial_state: Optional list with one tensor `(batch, units)`.
        mask: Optional boolean tensor `(batch, time)`.
        training: Whether dropout is active.

    Example:

    >>> layer = SimpleRNN(32, activation="relu", return_sequences=True)
    >>> layer(np.zeros((4, 10, 8), "float32")).shape
    (4, 10, 32)
    """

    cell_class = SimpleRNNCell

    def __init__(
        self,
        units,
        activation="tanh",
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        cell_kwargs = _split_cell_kwargs(kwargs)
        cell = self.cell_class(units, activation=activation, name="cell", dtype=kwargs.get("dtype"), **cell_kwargs)
        super().__init__(
            cell,
            return_sequences=return_sequences,
            return_state=return_state,
            go_backwards=go_backwards,
            stateful=stateful,
            unroll=unroll,
            zero_output_for_mask=zero_output_for_mask,
            **kwargs,
        )

    @property
    def units(self):
        return self.cell.units

    def get_config(self):
        config = self.cell.get_config()
        for key in ("name", "trainable", "dtype"):
            config.pop(key, None)
        base_config = super().get_config()
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config.pop("cell", None)
        return cls(**config)


_CELL_ARGS = (
    "recurrent_activation",
    "use_bias",
    "kernel_initializer",
    "recurrent_initializer",
    "bias_initializer",
    "kernel_regularizer",
    "recurrent_regularizer",
    "bias_regularizer",
    "kernel_constraint",
    "recurrent_constraint",
    "bias_constraint",
    "dropout",
    "recurrent_dropout",
    "seed",
    "unit_forget_bias",
    "reset_after",
)


def _split_cell_kwargs(kwargs: dict) -> dict:
    """Moves the cell arguments out of `kwargs` (in place) and returns them."""
    if "activity_regularizer" in kwargs and kwargs["activity_regularizer"] is None:
        kwargs.pop("activity_regularizer")
    return {key: kwargs.pop(key) for key in _CELL_ARGS if key in kwargs}

