"""Gated recurrent unit: `GRUCell` and the `GRU` layer (Cho et al., 2014)."""

from __future__ import annotations

import keras
from keras import ops

from seqtasks.layers import cudnn, validation
from seqtasks.layers.base_cell import RecurrentCell
from seqtasks.layers.rnn import RNN, cell_property, layer_config


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

    @property
    def fused_recurrence(self):
        if validation.activation_name(self.activation) != "tanh":
            return None
        if validation.activation_name(self.recurrent_activation) != "sigmoid":
            return None
        return self._fused_if("gru_after" if self.reset_after else "gru_before", GRUCell)

    @property
    def cudnn_mode(self):
        return "gru"

    def cudnn_incompatibilities(self):
        reasons = self._gate_activation_reasons()
        if not self.reset_after:
            reasons.append("reset_after=False (cuDNN implements reset_after=True)")
        if type(self).recurrent_step is not GRUCell.recurrent_step:
            reasons.append(f"{type(self).__name__} overrides recurrent_step")
        return reasons

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
class GRU(RNN):
    """GRU layer: seqtasks' loop over a `GRUCell`, or the fused cuDNN kernel on a GPU when the configuration allows.

    Arguments are those of `keras.layers.GRU`. The cuDNN kernel runs when a GPU is visible, `activation="tanh"`,
    `recurrent_activation="sigmoid"`, `use_bias=True`, `reset_after=True`, `recurrent_dropout=0`, `unroll=False`
    and the mask (if any) is right-padded; otherwise the layer runs its own loop with the same weights.
    `seqtasks.layers.explain(model)` says which path and why.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation of the candidate (default `tanh`).
        recurrent_activation: Activation of the gates (default `sigmoid`).
        reset_after: Whether the reset gate is applied after (True, cuDNN-compatible) or before the recurrent
            matmul (False, Cho et al. 2014).
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
        initial_state: Optional list of initial state tensors (one tensor `(batch, units)`).
        mask: Optional boolean tensor `(batch, time)`; masked steps keep the state.
        training: Whether dropout is active.

    Example:

    >>> layer = GRU(64, return_sequences=True)
    >>> layer(np.zeros((2, 7, 3), "float32")).shape
    (2, 7, 64)
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
        reset_after=True,
        use_cudnn="auto",
        **kwargs,
    ):
        use_cudnn = cudnn.check_use_cudnn(use_cudnn)
        cell = GRUCell(
            units,
            activation=activation,
            recurrent_activation=recurrent_activation,
            reset_after=reset_after,
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
    reset_after = cell_property("reset_after")
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
