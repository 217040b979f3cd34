"""The base class of seqtasks' recurrent cells.

Every cell splits its step into two parts so that layers can run them apart:

* `input_projection(inputs)` — the input-to-hidden matmul (plus input bias). It does not depend on the recurrent
  state, so `seqtasks.layers.RNN` applies it to all time steps in a single matmul before the loop.
* `recurrent_step(projected, states)` — the hidden-to-hidden part that must run step by step.

`call(inputs, states, training)` chains the two, which is the plain Keras cell contract, so the cells also run
inside `keras.layers.RNN`.
"""

from __future__ import annotations

import keras
from keras import ops

from seqtasks.layers import validation

try:  # Keras' RNN layer resets the per-sequence dropout masks of cells derived from this mixin.
    from keras.src.layers.rnn.dropout_rnn_cell import DropoutRNNCell as DropoutMaskMixin
except ImportError:  # pragma: no cover - only on Keras versions outside the pinned range
    DropoutMaskMixin = object


class RecurrentCell(keras.layers.Layer, DropoutMaskMixin):
    """Shared behaviour of `SimpleRNNCell`, `LSTMCell` and `GRUCell`.

    Subclasses set `gates` (number of gate blocks in the fused kernel), build their weights, and implement
    `recurrent_step`.

    Dropout masks are drawn once per sequence (Gal & Ghahramani's variational dropout), from a
    `keras.random.SeedGenerator` seeded with `seed`, so runs with the same seed drop the same units.

    Args:
        units: Positive integer, dimensionality of the output space.
        activation: Activation function of the candidate / output.
        recurrent_activation: Activation of the gates (ignored by `SimpleRNNCell`).
        use_bias: Whether the cell uses bias vectors.
        kernel_initializer: Initializer of the input kernel.
        recurrent_initializer: Initializer of the recurrent kernel.
        bias_initializer: Initializer of the bias.
        kernel_regularizer, recurrent_regularizer, bias_regularizer: Optional regularizers.
        kernel_constraint, recurrent_constraint, bias_constraint: Optional constraints.
        dropout: Float in [0, 1), fraction of the input units to drop.
        recurrent_dropout: Float in [0, 1), fraction of the recurrent units to drop.
        seed: Random seed for the dropout masks.
        **kwargs: Base layer keyword arguments, such as `name` and `dtype`.
    """

    gates = 1

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
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout=0.0,
        recurrent_dropout=0.0,
        seed=None,
        **kwargs,
    ):
        # Accepted and ignored, as in Keras 3: older configs and `.keras` files still carry it.
        kwargs.pop("implementation", None)
        super().__init__(**kwargs)
        self.units = validation.check_positive_int("units", units)
        self.activation = validation.check_activation("activation", activation)
        self.recurrent_activation = validation.check_activation("recurrent_activation", recurrent_activation)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(recurrent_initializer)
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(recurrent_regularizer)
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = validation.check_rate("dropout", dropout)
        self.recurrent_dropout = validation.check_rate("recurrent_dropout", recurrent_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed=seed)
        self.supports_masking = True

    # -- Keras cell contract -------------------------------------------------------------------------------

    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self):
        return self.units

    def get_initial_state(self, batch_size=None):
        sizes = self.state_size if isinstance(self.state_size, (list, tuple)) else [self.state_size]
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in sizes]

    def call(self, inputs, states, training=False):
        input_mask, recurrent_mask = None, None
        if training and self.dropout > 0:
            input_mask = self.get_dropout_mask(inputs)
        bare_state = not isinstance(states, (list, tuple))
        states = [states] if bare_state else list(states)
        if training and self.recurrent_dropout > 0:
            recurrent_mask = self.get_recurrent_dropout_mask(states[0])
        projected = self.input_projection(inputs, input_mask)
        output, new_states = self.recurrent_step(projected, states, recurrent_mask)
        if bare_state and not isinstance(self.state_size, (list, tuple)):
            return output, new_states[0]
        return output, new_states

    # -- Fast paths the cell supports ---------------------------------------------------------------------

    @property
    def fused_recurrence(self) -> str | None:
        """The hand-written BPTT kernel of `seqtasks.layers.fused` that computes this cell, or None.

        `RNN` runs the kernel instead of the autodiff loop when this is not None. A cell returns a kernel name
        only for configurations whose step and derivative the kernel implements exactly (known activations, no
        recurrent dropout, `recurrent_step` not overridden by a subclass).
        """
        return None

    @property
    def cudnn_mode(self) -> str | None:
        """`"lstm"` or `"gru"` when the cell's weights map onto that cuDNN kernel (any configuration), else None."""
        return None

    def cudnn_incompatibilities(self) -> list[str]:
        """Why this cell's current configuration cannot run on cuDNN (empty: it can)."""
        return [f"{type(self).__name__} has no cuDNN kernel"]

    def _fused_if(self, kind: str, owner: type) -> str | None:
        # A subclass that overrides the step computes something the kernel does not.
        if self.recurrent_dropout > 0 or type(self).recurrent_step is not owner.recurrent_step:
            return None
        return kind

    def _gate_activation_reasons(self) -> list[str]:
        reasons = []
        act, rec = validation.activation_name(self.activation), validation.activation_name(self.recurrent_activation)
        if act != "tanh":
            reasons.append(f"activation={act!r} (cuDNN needs 'tanh')")
        if rec != "sigmoid":
            reasons.append(f"recurrent_activation={rec!r} (cuDNN needs 'sigmoid')")
        if not self.use_bias:
            reasons.append("use_bias=False")
        if self.recurrent_dropout > 0:
            reasons.append(f"recurrent_dropout={self.recurrent_dropout} (cuDNN has no recurrent dropout)")
        return reasons

    # -- The split used by seqtasks' layers ----------------------------------------------------------------

    def input_projection(self, inputs, input_mask=None, time_major=False):
        """Input-to-hidden projection of `inputs` (`(batch, features)` or `(batch, time, features)`).

        Args:
            inputs: Input tensor; a time axis, if present, is projected in the same matmul.
            input_mask: Optional dropout mask of shape `(batch, features)`, shared by all time steps.
            time_major: Whether 3-D `inputs` are `(time, batch, features)`.
        """
        if input_mask is not None:
            if len(inputs.shape) == 3:
                input_mask = ops.expand_dims(input_mask, 1 - int(time_major))
            inputs = inputs * input_mask
        if len(inputs.shape) == 3:
            # A 2-D matmul over (steps * batch) rows is faster than the batched 3-D form.
            shape = ops.shape(inputs)
            flat = ops.reshape(inputs, (-1, shape[-1]))
            projected = ops.matmul(flat, self.kernel)
            if self.use_bias:
                projected = projected + self.input_bias()
            return ops.reshape(projected, (shape[0], shape[1], -1))
        projected = ops.matmul(inputs, self.kernel)
        if self.use_bias:
            projected = projected + self.input_bias()
        return projected

    def input_bias(self):
        return self.bias

    def recurrent_step(self, projected, states, recurrent_mask=None):
        """One recurrent step from the projected input; returns `(output, new_states)`."""
        raise NotImplementedError

    def draw_dropout_masks(self, first_step_input, first_state, training):
        """Draws this sequence's input and recurrent dropout masks (None where inactive)."""
        input_mask = recurrent_mask = None
        if training and self.dropout > 0:
            input_mask = keras.random.dropout(
                ops.ones_like(first_step_input), rate=self.dropout, seed=self.seed_generator
            )
        if training and self.recurrent_dropout > 0:
            recurrent_mask = keras.random.dropout(
                ops.ones_like(first_state), rate=self.recurrent_dropout, seed=self.seed_generator
            )
        return input_mask, recurrent_mask

    # -- Weights -------------------------------------------------------------------------------------------

    def _add_kernels(self, input_dim: int) -> None:
        self.kernel = self.add_weight(
            shape=(input_dim, self.gates * self.units),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )
        self.recurrent_kernel = self.add_weight(
            shape=(self.units, self.gates * self.units),
            name="recurrent_kernel",
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )

    def _add_bias(self, shape, initializer=None) -> None:
        self.bias = self.add_weight(
            shape=shape,
            name="bias",
            initializer=initializer or self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def get_config(self):
        config = {
            "units": self.units,
            "activation": keras.activations.serialize(self.activation),
            "recurrent_activation": keras.activations.serialize(self.recurrent_activation),
            "use_bias": self.use_bias,
            "kernel_initializer": keras.initializers.serialize(self.kernel_initializer),
            "recurrent_initializer": keras.initializers.serialize(self.recurrent_initializer),
            "bias_initializer": keras.initializers.serialize(self.bias_initializer),
            "kernel_regularizer": keras.regularizers.serialize(self.kernel_regularizer),
            "recurrent_regularizer": keras.regularizers.serialize(self.recurrent_regularizer),
            "bias_regularizer": keras.regularizers.serialize(self.bias_regularizer),
            "kernel_constraint": keras.constraints.serialize(self.kernel_constraint),
            "recurrent_constraint": keras.constraints.serialize(self.recurrent_constraint),
            "bias_constraint": keras.constraints.serialize(self.bias_constraint),
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        base_config = super().get_config()
        return {**base_config, **config}
