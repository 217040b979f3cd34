"""`RNN`: seqtasks' recurrent loop, the engine under `SimpleRNN`, `LSTM` and `GRU`.

The loop differs from `keras.layers.RNN` in one way that matters for speed: the input projection of all time steps
is one `(batch * time, features) x (features, gates * units)` matmul before the loop, so each step only multiplies
the hidden state. On a GPU, `LSTM` and `GRU` hand eligible configurations to the fused cuDNN kernel instead
(`seqtasks.layers.cudnn`); `seqtasks.layers.explain` reports which path each layer takes.
"""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from keras import ops

from seqtasks.layers import fused

# Below this many static steps the whole loop is unrolled by default on CPU; above it the while-loop body holds
# `_CHUNK` steps. Unrolling removes per-iteration while-loop overhead (measured in bench/layers.py).
_AUTO_UNROLL_MAX_STEPS = 0
_CHUNK = 1
# Use the hand-written BPTT of `seqtasks.layers.fused` where the cell configuration allows it.
FUSED = True


@keras.saving.register_keras_serializable(package="seqtasks")
class RNN(keras.layers.Layer):
    """Runs a recurrent cell over a sequence.

    Works with seqtasks' cells (which split the input projection from the recurrent step, so the projection of
    all steps is one matmul) and with any Keras cell obeying `call(inputs, states, training)`.

    Args:
        cell: A cell instance (`SimpleRNNCell`, `LSTMCell`, `GRUCell` or any Keras-contract cell).
        return_sequences: Whether to return the whole output sequence or only the last output.
        return_state: Whether to return the final states after the output.
        go_backwards: Whether to process the sequence backwards (outputs are then in reversed order, as in
            Keras).
        stateful: Whether the final states of a batch are the initial states of the next batch. Requires a
            fixed batch size; reset with `reset_states()`.
        unroll: Whether to unroll the loop in the graph (static sequence length only; faster for short
            sequences, memory-hungry for long ones). With an unknown length the layer falls back to the loop.
        zero_output_for_mask: Whether masked steps output zeros (True) or repeat the previous output (False,
            Keras' default). `Bidirectional` sets it to `return_sequences`.
        **kwargs: Base layer keyword arguments.

    Call arguments:
        sequences: A 3-D tensor `(batch, time, features)`.
        initial_state: Optional list of initial state tensors, one per entry of `cell.state_size`.
        mask: Optional boolean tensor `(batch, time)`; at masked steps the states are carried unchanged.
        training: Whether dropout is active.

    Example:

    >>> layer = RNN(LSTMCell(8), return_sequences=True)
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 8)
    """

    def __init__(
        self,
        cell,
        return_sequences=False,
        return_state=False,
        go_backwards=False,
        stateful=False,
        unroll=False,
        zero_output_for_mask=False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if not hasattr(cell, "call") or not hasattr(cell, "state_size"):
            raise ValueError(
                "Received an invalid value for argument `cell`, expected a layer with `call(inputs, states)` "
                f"and a `state_size` attribute, got {cell!r}."
            )
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.supports_masking = True
        self.states = None

    # -- shapes --------------------------------------------------------------------------------------------

    @property
    def state_sizes(self) -> list[int]:
        size = self.cell.state_size
        return list(size) if isinstance(size, (list, tuple)) else [size]

    def _check_rank(self, shape) -> None:
        if len(shape) != 3:
            raise ValueError(
                f"Layer {self.name!r} expects input of rank 3 `(batch, time, features)`, got an input of "
                f"rank {len(shape)} with shape {tuple(shape)}. Add a time axis (e.g. `x[:, None, :]`) or "
                "reshape the input."
            )

    def build(self, sequences_shape, initial_state_shape=None):
        self._check_rank(sequences_shape)
        if not self.cell.built:
            self.cell.build((sequences_shape[0], sequences_shape[-1]))
        if self.stateful:
            batch = sequences_shape[0]
            if batch is None:
                raise ValueError(
                    f"Layer {self.name!r} is stateful, so it needs a fixed batch size: pass "
                    "`batch_size=` to `keras.Input` (or `batch_shape=`) when building the model."
                )
            # Kept out of the layer's weights (as in Keras) so that `get_weights`/`set_weights` and checkpoints
            # see the same variables whether or not the layer is stateful.
            states = [
                keras.Variable(
                    np.zeros((batch, size)), trainable=False, dtype=self.variable_dtype, name=f"state_{i}"
                )
                for i, size in enumerate(self.state_sizes)
            ]
            object.__setattr__(self, "states", states)
        self.built = True

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, time = sequences_shape[0], sequences_shape[1]
        units = self.cell.output_size
        out = (batch, time, units) if self.return_sequences else (batch, units)
        if self.return_state:
            return [out] + [(batch, size) for size in self.state_sizes]
        return out

    def compute_mask(self, sequences, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_sizes)
        return output_mask

    # -- state ---------------------------------------------------------------------------------------------

    def reset_states(self):
        """Sets the stored states of a stateful layer to zero."""
        if self.states is not None:
            for state in self.states:
                state.assign(ops.zeros_like(state))

    reset_state = reset_states

    def get_initial_state(self, batch_size):
        return [ops.zeros((batch_size, size), dtype=self.compute_dtype) for size in self.state_sizes]

    def _initial_states(self, sequences, initial_state):
        batch = ops.shape(sequences)[0]
        if initial_state is None:
            if self.stateful:
                return [ops.cast(s.value, self.compute_dtype) for s in self.states]
            return self.get_initial_state(batch)
        if not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        initial_state = list(initial_state)
        sizes = self.state_sizes
        if len(initial_state) != len(sizes):
            raise ValueError(
                f"Received an invalid value for argument `initial_state` of layer {self.name!r}: expected "
                f"{len(sizes)} state tensor(s) of sizes {sizes}, got {len(initial_state)}."
            )
        for i, (state, size) in enumerate(zip(initial_state, sizes, strict=True)):
            shape = tuple(state.shape)
            if len(shape) != 2 or (shape[-1] is not None and shape[-1] != size):
                raise ValueError(
                    f"Received an invalid value for argument `initial_state` of layer {self.name!r}: state "
                    f"{i} must have shape (batch, {size}), got {shape}."
                )
        return [ops.cast(s, self.compute_dtype) for s in initial_state]

    # -- forward -------------------------------------------------------------------------------------------

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self._check_rank(sequences.shape)
        states = self._initial_states(sequences, initial_state)
        if mask is not None:
            mask = ops.cast(mask, "bool")
            if len(mask.shape) == 3:
                mask = mask[:, :, 0]
        last_output, outputs, new_states = self._run(sequences, states, mask, training)
        if self.stateful:
            for variable, state in zip(self.states, new_states, strict=True):
                variable.assign(ops.cast(state, variable.dtype))
        output = outputs if self.return_sequences else last_output
        if self.return_state:
            return [output] + list(new_states)
        return output

    def _run(self, sequences, states, mask, training):
        """Returns `(last_output, outputs, final_states)`; overridden by layers with a fused kernel."""
        return self._generic_loop(sequences, states, mask, training)

    def _generic_loop(self, sequences, states, mask, training):
        cell = self.cell
        split_cell = hasattr(cell, "input_projection") and hasattr(cell, "recurrent_step")
        if split_cell:
            input_mask, recurrent_mask = cell.draw_dropout_masks(sequences[:, 0], states[0], training)
            # Transposing the narrow inputs (not the gates-wide projection) to time-major is the cheaper order.
            projected = cell.input_projection(tf.transpose(sequences, [1, 0, 2]), input_mask, time_major=True)
            kind = fused.fused_kind(cell) if FUSED and not self.unroll else None
            if kind is not None:
                return self._fused_loop(kind, projected, states, mask)

            def step(x_t, step_states):
                return cell.recurrent_step(x_t, step_states, recurrent_mask)

        else:
            if hasattr(cell, "reset_dropout_mask"):
                cell.reset_dropout_mask()
                cell.reset_recurrent_dropout_mask()
            projected = tf.transpose(sequences, [1, 0, 2])
            kwargs = {"training": training} if training is not None else {}

            def step(x_t, step_states):
                output, new = cell(x_t, list(step_states), **kwargs)
                return output, list(new) if isinstance(new, (list, tuple)) else [new]

        return recurrent_loop(
            step,
            projected,
            states,
            mask=mask,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
            output_size=cell.output_size,
            time_major=True,
        )

    def _fused_loop(self, kind, projected, states, mask):
        cell = self.cell
        x = projected
        m = None
        if mask is not None:
            m = tf.expand_dims(_time_major_mask(mask), -1)
        if self.go_backwards:
            x = tf.reverse(x, [0])
            if m is not None:
                m = tf.reverse(m, [0])
        kernel = ops.cast(cell.recurrent_kernel, x.dtype)
        recurrent_bias = None
        if kind == "gru_after" and cell.use_bias:
            recurrent_bias = ops.cast(cell.bias, x.dtype)[1]
        outputs, final_states = fused.fused_sequence(kind, x, states, kernel, recurrent_bias, m)
        last_output = outputs[-1]
        if self.zero_output_for_mask and m is not None:
            outputs = tf.where(m, outputs, tf.zeros_like(outputs))
            last_output = tf.where(m[-1], last_output, tf.zeros_like(last_output))
        outputs = tf.transpose(outputs, [1, 0, 2]) if self.return_sequences else None
        return last_output, outputs, final_states

    def get_config(self):
        config = {
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        if type(self) is RNN:
            config["cell"] = keras.saving.serialize_keras_object(self.cell)
        base_config = super().get_config()
        return {**base_config, **config}



def _time_major_mask(mask: tf.Tensor) -> tf.Tensor:
    """The (batch, time) mask as a (time, batch) bool tensor.

    Transposed as float32 made by `where`, not by a cast (grappler would move a cast after the transpose): oneDNN
    logs an error-level notice for every bool transpose on CPUs without AVX-512.
    """
    return tf.transpose(tf.where(tf.cast(mask, tf.bool), 1.0, 0.0), [1, 0]) > 0.5


def recurrent_loop(
    step,
    inputs,
    initial_states: list,
    mask=None,
    go_backwards: bool = False,
    unroll: bool = False,
    zero_output_for_mask: bool = False,
    return_sequences: bool = True,
    output_size: int | None = None,
    time_major: bool = False,
):
    """Iterates `step(x_t, states) -> (output, new_states)` over the time axis of `inputs`.

    `inputs` is `(batch, time, ...)`, or `(time, batch, ...)` with `time_major`; `mask` is always
    `(batch, time)`.

    Masked steps (mask False) keep the previous states and repeat the previous output (or output zeros when
    `zero_output_for_mask`). With `go_backwards` the steps run from last to first and the outputs come out in that
    order, as in Keras.

    Returns:
        `(last_output, outputs, final_states)`; `outputs` is `(batch, time, units)` or None when
        `return_sequences` is False.
    """
    x = inputs if time_major else tf.transpose(inputs, [1, 0, 2])
    m = None
    if mask is not None:
        m = tf.expand_dims(_time_major_mask(mask), -1)
    if go_backwards:
        x = tf.reverse(x, [0])
        if m is not None:
            m = tf.reverse(m, [0])
    batch = tf.shape(x)[1]
    if output_size is None:
        output_size = initial_states[0].shape[-1]
    zero_output = tf.zeros(tf.stack([batch, output_size]), dtype=initial_states[0].dtype)
    steps_static = x.shape[0]

    def masked_step(x_t, m_t, prev_output, states):
        output, new_states = step(x_t, states)
        if m_t is not None:
            output = tf.where(m_t, output, prev_output)
            new_states = [tf.where(m_t, n, s) for n, s in zip(new_states, states, strict=True)]
        return output, list(new_states)

    use_unroll = steps_static is not None and (unroll or steps_static <= _AUTO_UNROLL_MAX_STEPS)
    if use_unroll:
        prev, states, outputs = zero_output, list(initial_states), []
        for t in range(steps_static):
            prev, states = masked_step(x[t], None if m is None else m[t], prev, states)
            outputs.append(prev)
        stacked = tf.stack(outputs, 0) if outputs else tf.zeros([0, batch, output_size], zero_output.dtype)
        last_output = prev
    else:
        steps = tf.shape(x)[0]
        chunk = _CHUNK if (steps_static is not None and steps_static % _CHUNK == 0) else 1
        out_ta = tf.TensorArray(zero_output.dtype, size=steps, element_shape=zero_output.shape)
        # TensorArray reads (not tensor slicing) keep the backward pass linear in the number of steps.
        x_ta = tf.TensorArray(x.dtype, size=steps, element_shape=x.shape[1:]).unstack(x)
        m_ta = None
        if m is not None:
            m_ta = tf.TensorArray(tf.bool, size=steps, element_shape=m.shape[1:]).unstack(m)

        def body(t, prev, ta, *states):
            states = list(states)
            for j in range(chunk):
                i = t + j
                prev, states = masked_step(x_ta.read(i), None if m_ta is None else m_ta.read(i), prev, states)
                if return_sequences:
                    ta = ta.write(i, prev)
            return (t + chunk, prev, ta, *states)

        loop_vars = (tf.constant(0), zero_output, out_ta, *initial_states)
        result = tf.while_loop(
            lambda t, *_: t < steps,
            body,
            loop_vars,
            maximum_iterations=steps // chunk if steps_static is None else steps_static // chunk,
        )
        _, last_output, out_ta, *states = result
        stacked = out_ta.stack() if return_sequences else None
    outputs = None
    if return_sequences:
        if zero_output_for_mask and m is not None:
            stacked = tf.where(m, stacked, tf.zeros_like(stacked))
        outputs = tf.transpose(stacked, [1, 0, 2])
    if zero_output_for_mask and m is not None and steps_static != 0:
        last_output = tf.where(m[-1], last_output, tf.zeros_like(last_output))
    return last_output, outputs, list(states)
