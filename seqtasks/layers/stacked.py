"""`RecurrentStack`: a deep (stacked) recurrent encoder built from a handful of config values."""

from __future__ import annotations

import keras

from seqtasks.layers import validation
from seqtasks.layers.bidirectional import Bidirectional
from seqtasks.layers.gru import GRU, GRUCell
from seqtasks.layers.lstm import LSTM, LSTMCell
from seqtasks.layers.simple_rnn import SimpleRNN, SimpleRNNCell

CELL_TYPES = {"lstm": LSTM, "gru": GRU, "simple_rnn": SimpleRNN}
_CELLS = {"lstm": LSTMCell, "gru": GRUCell, "simple_rnn": SimpleRNNCell}


def get_rnn_class(cell_type: str) -> type:
    """The layer class for a config's `cell_type` (`"lstm"`, `"gru"` or `"simple_rnn"`)."""
    if cell_type not in CELL_TYPES:
        raise ValueError(
            "Received an invalid value for argument `cell_type`, expected one of "
            f"{tuple(CELL_TYPES)}, got {cell_type!r}."
        )
    return CELL_TYPES[cell_type]


def get_cell_class(cell_type: str) -> type:
    """The cell class for a config's `cell_type` (`"lstm"`, `"gru"` or `"simple_rnn"`)."""
    get_rnn_class(cell_type)
    return _CELLS[cell_type]


@keras.saving.register_keras_serializable(package="seqtasks")
class RecurrentStack(keras.layers.Layer):
    """`num_layers` recurrent layers on top of each other, optionally bidirectional and residual.

    This is the encoder every recipe builds from its `model` config section. Each layer sees the full output
    sequence of the one below; dropout is applied between layers (not after the last); with `residual=True` a
    layer's input is added to its output wherever the two widths match (Wu et al., 2016), which helps gradients
    reach the bottom of deep stacks.

    Args:
        cell_type: `"lstm"`, `"gru"` or `"simple_rnn"`.
        units: Positive integer, units per direction of every layer.
        num_layers: Positive integer, number of stacked layers.
        bidirectional: Whether every layer is wrapped in `Bidirectional`.
        merge_mode: `Bidirectional` merge mode (`"concat"`, `"sum"`, `"mul"`, `"ave"`).
        dropout: Float in [0, 1), dropout on the outputs passed from one layer to the next.
        recurrent_dropout: Float in [0, 1), recurrent dropout inside every layer (disables cuDNN).
        residual: Whether to add residual connections between layers of equal width.
        return_sequences: Whether the last layer returns the whole sequence (the lower ones always do).
        return_state: Whether to also return the final states of every layer.
        activation: Optional activation of the cells (default: the cell's own, `tanh`).
        seed: Optional seed for all dropout in the stack.
        unroll: Passed to every layer.
        kernel_initializer: Initializer of every layer's input kernel.
        recurrent_initializer: Initializer of every layer's recurrent kernel (e.g. `"identity"` for an IRNN).
        **kwargs: Base layer keyword arguments.

    Call arguments:
        inputs: A 3-D tensor `(batch, time, features)`.
        mask: Optional boolean tensor `(batch, time)`.
        training: Whether dropout is active.
        initial_state: Optional list with one entry per layer, each a list of state tensors (forward states then
            backward states for bidirectional layers), or None.

    Returns:
        The output of the last layer; with `return_state`, `(output, states)` where `states` has one list of
        tensors per layer.

    Example:

    >>> stack = RecurrentStack("gru", units=64, num_layers=3, bidirectional=True, dropout=0.2, residual=True)
    >>> stack(np.zeros((2, 9, 16), "float32")).shape
    (2, 9, 128)
    """

    def __init__(
        self,
        cell_type="lstm",
        units=128,
        num_layers=1,
        bidirectional=False,
        merge_mode="concat",
        dropout=0.0,
        recurrent_dropout=0.0,
        residual=False,
        return_sequences=True,
        return_state=False,
        activation=None,
        seed=None,
        unroll=False,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        **kwargs,
    ):
        super().__init__(**kwargs)
        layer_class = get_rnn_class(cell_type)
        self.cell_type = cell_type
        self.units = validation.check_positive_int("units", units)
        self.num_layers = validation.check_positive_int("num_layers", num_layers)
        self.bidirectional = bool(bidirectional)
        self.merge_mode = validation.check_choice("merge_mode", merge_mode, ("concat", "sum", "mul", "ave"))
        self.dropout = validation.check_rate("dropout", dropout)
        self.recurrent_dropout = validation.check_rate("recurrent_dropout", recurrent_dropout)
        self.residual = bool(residual)
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.activation = activation
        self.seed = seed
        self.unroll = bool(unroll)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.supports_masking = True
        for i in range(self.num_layers):
            last = i == self.num_layers - 1
            layer_kwargs = {
                "return_sequences": True if not last else self.return_sequences,
                "return_state": True,
                "recurrent_dropout": self.recurrent_dropout,
                "seed": None if seed is None else seed + i,
                "unroll": self.unroll,
                "name": f"{cell_type}_{i}",
                "dtype": self.dtype_policy,
                "kernel_initializer": keras.initializers.get(kernel_initializer),
                "recurrent_initializer": keras.initializers.get(recurrent_initializer),
            }
            if activation is not None:
                layer_kwargs["activation"] = activation
            layer = layer_class(self.units, **layer_kwargs)
            if self.bidirectional:
                layer = Bidirectional(
                    layer, merge_mode=self.merge_mode, name=f"bidirectional_{i}", dtype=self.dtype_policy
                )
            # Named attributes rather than a Python list: TensorFlow checkpoints (`tf.train.Checkpoint`) only
            # see sublayers held in attributes.
            setattr(self, f"rnn_{i}", layer)
            if not last:
                dropout_layer = keras.layers.Dropout(
                    self.dropout, seed=None if seed is None else seed + 1000 + i, dtype=self.dtype_policy
                )
                setattr(self, f"dropout_{i}", dropout_layer)

    @property
    def rnn_layers(self) -> list:
        """The recurrent layers, bottom first."""
        return [getattr(self, f"rnn_{i}") for i in range(self.num_layers)]

    @property
    def dropout_layers(self) -> list:
        """The dropout layers between recurrent layers."""
        return [getattr(self, f"dropout_{i}") for i in range(self.num_layers - 1)]

    @property
    def output_size(self) -> int:
        return self.units * 2 if self.bidirectional and self.merge_mode == "concat" else self.units

    def build(self, inputs_shape):
        if len(inputs_shape) != 3:
            raise ValueError(
                f"Layer {self.name!r} expects input of rank 3 `(batch, time, features)`, got shape "
                f"{tuple(inputs_shape)}."
            )
        shape = tuple(inputs_shape)
        for i, layer in enumerate(self.rnn_layers):
            layer.build(shape)
            shape = shape[:2] + (self.output_size,)
            if i < len(self.dropout_layers):
                self.dropout_layers[i].build(shape)
        self.built = True

    def call(self, inputs, mask=None, training=None, initial_state=None):
        if initial_state is not None and len(initial_state) != self.num_layers:
            raise ValueError(
                f"Received an invalid value for argument `initial_state` of layer {self.name!r}: expected a list "
                f"with one entry per layer ({self.num_layers}), got {len(initial_state)}."
            )
        x = inputs
        states = []
        for i, layer in enumerate(self.rnn_layers):
            layer_state = None if initial_state is None else initial_state[i]
            result = layer(x, mask=mask, training=training, initial_state=layer_state)
            output, layer_states = result[0], list(result[1:])
            states.append(layer_states)
            if self.residual and output.shape[-1] == x.shape[-1] and len(output.shape) == len(x.shape):
                output = output + x
            if i < len(self.dropout_layers):
                output = self.dropout_layers[i](output, training=training)
            x = output
        if self.return_state:
            return x, states
        return x

    def compute_mask(self, inputs, mask=None):
        if self.return_state:
            return None
        return mask if self.return_sequences else None

    def compute_output_shape(self, inputs_shape):
        batch, time = inputs_shape[0], inputs_shape[1]
        out = (batch, time, self.output_size) if self.return_sequences else (batch, self.output_size)
        return out

    def get_config(self):
        config = {
            "cell_type": self.cell_type,
            "units": self.units,
            "num_layers": self.num_layers,
            "bidirectional": self.bidirectional,
            "merge_mode": self.merge_mode,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "residual": self.residual,
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "activation": self.activation,
            "seed": self.seed,
            "unroll": self.unroll,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
        }
        base_config = super().get_config()
        return {**base_config, **config}
