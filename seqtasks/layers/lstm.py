"""Long short-term memory: `LSTMCell` and the `LSTM` layer (Hochreiter & Schmidhuber, 1997)."""

from __future__ import annotations

import keras
from keras import ops

from seqtasks.layers import cudnn, validation
from seqtasks.layers.base_cell import RecurrentCell
from seqtasks.layers.rnn import RNN, cell_property, layer_config


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

    @property
    def fused_recurrence(self):
        if validation.activation_name(self.activation) != "tanh":
            return None
        if validation.activation_name(self.recurrent_activation) != "sigmoid":
            return None
        return self._fused_if("lstm", LSTMCell)

    @property
    def cudnn_mode(self):
        return "lstm"

    def cudnn_incompatibilities(self):
        reasons = self._gate_activation_reasons()
        if type(self).recurrent_step is not LSTMCell.recurrent_step:
            reasons.append(f"{type(self).__name__} overrides recurrent_step")
        return reasons

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
class LSTM(RNN):
    """LSTM layer: seqtasks' loop over an `LSTMCell`, or the fused cuDNN kernel on a GPU when the configuration allows.

    Arguments are those of `keras.layers.LSTM`. The cuDNN kernel runs when a GPU is visible, `activation="tanh"`,
    `recurrent_activation="sigmoid"`, `use_bias=True`, `recurrent_dropout=0`, `unroll=False` and the mask (if
    any) is right-padded; otherwise the layer runs its own loop with the same weights (the hand-written BPTT
    for tanh/sigmoid, the autodiff loop for other activations). `seqtasks.layers.explain(model)` says which.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate (default `tanh`).
        recurrent_activation: Activation of the gates (default `sigmoid`).
        unit_forget_bias: If True, add 1 to the forget-gate bias at initialisation (Jozefowicz et al., 2015).
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
        use_cudnn: `"auto"` (cuDNN when a GPU and the configuration allow), True (require it) or False (never).
        **kwargs: Base layer keyword arguments (`name`, `dtype`, ...).

    Call arguments:
        sequences: A 3-D tensor `(batch, time, features)`.
        initial_state: Optional list of initial state tensors (`[h, c]`, each `(batch, units)`).
        mask: Optional boolean tensor `(batch, time)`; masked steps keep the state.
        training: Whether dropout is active.

    Example:

    >>> layer = LSTM(64, return_sequences=True, return_state=True)
    >>> outputs, h, c = layer(np.zeros((2, 7, 3), "float32"))
    """

    def __init__(
        self,
        units,
        activation="tanh",
        recurrent_activation="sigmoid",
        use_bias=True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        unit_forget_bias=True,
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
        use_cudnn="auto",
        **kwargs,
    ):
        use_cudnn = cudnn.check_use_cudnn(use_cudnn)
        cell = LSTMCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            unit_forget_bias=unit_forget_bias,
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
        self.use_cudnn = use_cudnn
        # XLA cannot compile the cuDNN kernel; Keras' LSTM/GRU say the same through `supports_jit`.
        if not cudnn.jit_compatible(self):
            self.supports_jit = False

    def inner_loop(self, sequences, initial_state, mask, training=False):
        return cudnn.inner_loop(self, sequences, initial_state, mask, training, super().inner_loop)

    units = cell_property("units")
    activation = cell_property("activation")
    recurrent_activation = cell_property("recurrent_activation")
    use_bias = cell_property("use_bias")
    unit_forget_bias = cell_property("unit_forget_bias")
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
        return {**layer_config(self), "use_cudnn": self.use_cudnn}

    @classmethod
    def from_config(cls, config):
        return cls(**config)
