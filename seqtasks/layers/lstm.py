"""Long short-term memory: `LSTMCell` and the `LSTM` layer (Hochreiter & Schmidhuber, 1997)."""

from __future__ import annotations

import keras
from keras import ops

from seqtasks.layers.base_cell import RecurrentCell
from seqtasks.layers.cudnn import CuDNNCapableRNN


@keras.saving.register_keras_serializable(package="seqtasks")
class LSTMCell(RecurrentCell):
    """LSTM cell with a fused 4-gate kernel (gate order i, f, c, o, as in Keras and cuDNN).

    The cell state `c` is carried additively (`c_t = f * c_{t-1} + i * g`), which is what keeps gradients from
    vanishing over long spans; `unit_forget_bias=True` starts the forget gate open (Jozefowicz et al., 2015).

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate and of the cell output (default `tanh`).
        recurrent_activation: Activation of the gates (default `sigmoid`).
        use_bias: Whether the cell uses a bias vector.
        unit_forget_bias: If True, add 1 to the forget-gate bias at initialisation (the rest uses
            `bias_initializer`).
        kernel_initializer, recurrent_initializer, bias_initializer: Weight initialisers.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Optional regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: Optional constraints.
        dropout: Float in [0, 1), fraction of the input units to drop (one mask per sequence).
        recurrent_dropout: Float in [0, 1), fraction of the recurrent units to drop (one mask per sequence).
        seed: Random seed for dropout.

    Call arguments:
        inputs: A 2-D tensor `(batch, features)`.
        states: A list `[h, c]` of two tensors `(batch, units)`.
        training: Whether dropout is active.

    Example:

    >>> cell = LSTMCell(32)
    >>> h, (h, c) = cell(np.zeros((2, 8), "float32"), cell.get_initial_state(2))
    """

    gates = 4

    def __init__(self, units, unit_forget_bias=True, **kwargs):
        super().__init__(units, **kwargs)
        self.unit_forget_bias = bool(unit_forget_bias)

    @property
    def state_size(self):
        return [self.units, self.units]

    def build(self, input_shape):
        self._add_kernels(input_shape[-1])
        if self.use_bias:
            initializer = self.bias_initializer
            if self.unit_forget_bias:
                base, units = self.bias_initializer, self.units

                def initializer(shape, dtype=None):
                    return ops.concatenate(
                        [
                            base((units,), dtype=dtype),
                            keras.initializers.get("ones")((units,), dtype=dtype),
                            base((units * 2,), dtype=dtype),
                        ]
                    )

            self._add_bias((4 * self.units,), initializer)
        self.built = True

    def recurrent_step(self, projected, states, recurrent_mask=None):
        h_prev, c_prev = states[0], states[1]
        if recurrent_mask is not None:
            h_prev = h_prev * recurrent_mask
        z = projected + ops.matmul(h_prev, self.recurrent_kernel)
        z_i, z_f, z_c, z_o = ops.split(z, 4, axis=-1)
        i = self.recurrent_activation(z_i)
        f = self.recurrent_activation(z_f)
        c = f * c_prev + i * self.activation(z_c)
        o = self.recurrent_activation(z_o)
        h = o * self.activation(c)
        return h, [h, c]

    def get_config(self):
        config = {"unit_forget_bias": self.unit_forget_bias}
        base_config = super().get_config()
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="seqtasks")
class LSTM(CuDNNCapableRNN):
    """LSTM layer running seqtasks' loop, or the fused cuDNN kernel on a GPU when the configuration allows.

    Takes the arguments of `LSTMCell` and of `RNN` (`return_sequences`, `return_state`, `go_backwards`,
    `stateful`, `unroll`, `zero_output_for_mask`), named as in `keras.layers.LSTM`, plus `use_cudnn`
    (`"auto"`, True or False).

    The cuDNN kernel runs when a GPU is visible, `activation="tanh"`, `recurrent_activation="sigmoid"`,
    `use_bias=True`, `recurrent_dropout=0`, `unroll=False`, and the mask (if any) is right-padded; otherwise the
    layer runs its own loop with the same weights. `seqtasks.layers.explain(model)` says which path and why.

    Call arguments:
        sequences: A 3-D tensor `(batch, time, features)`.
        initial_state: Optional list `[h, c]` of tensors `(batch, units)`.
        mask: Optional boolean tensor `(batch, time)`.
        training: Whether dropout is active.

    Example:

    >>> layer = LSTM(64, return_sequences=True, return_state=True)
    >>> outputs, h, c = layer(np.zeros((2, 7, 3), "float32"))
    """

    cell_class = LSTMCell
