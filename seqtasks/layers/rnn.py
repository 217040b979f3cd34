"""`RNN`: seqtasks' recurrent loop, the engine under `SimpleRNN`, `LSTM` and `GRU`.

The loop differs from `keras.layers.RNN` in one way that matters for speed: the input projection of all time steps
is one `(batch * time, features) x (features, gates * units)` matmul before the loop, so each step only multiplies
the hidden state. On a GPU, `LSTM` and `GRU` hand eligible configurations to the fused cuDNN kernel instead
(`seqtasks.layers.cudnn`); `seqtasks.layers.explain` reports which path each layer takes.
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from seqtasks.layers import fused
from seqtasks.layers.base_cell import DropoutMaskMixin, RecurrentCell
from seqtasks.layers.tracing import output_array

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
    all steps is one matmul, and which name the hand-written BPTT kernel that computes them) and with any Keras
    cell obeying `call(inputs, states, training) -> (output, new_states)`, including
    `keras.layers.StackedRNNCells` and cells with nested `state_size`. A list of cells is stacked.

    Subclasses change how the sequence is computed by overriding `inner_loop`; `LSTM` and `GRU` do so to run
    the cuDNN kernel on a GPU.

    Args:
        cell: A cell instance (`SimpleRNNCell`, `LSTMCell`, `GRUCell` or any Keras-contract cell), or a list of
            cells (run as `keras.layers.StackedRNNCells`). The cell needs `state_size` (an integer, or a list
            with one entry per state, entries possibly nested); `output_size` defaults to the first state size.
        return_sequences: Whether to return the whole output sequence or only the last output.
        return_state: Whether to return the final states after the output.
        go_backwards: Whether to process the sequence backwards (outputs are then in reversed order, as in
            Keras).
        stateful: Whether the final states of a batch are the initial states of the next batch. Requires a
            fixed batch size; reset with `reset_state()`.
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
        if isinstance(cell, dict):
            cell = keras.saving.deserialize_keras_object(cell)
        if isinstance(cell, (list, tuple)):
            cell = keras.layers.StackedRNNCells(cell)
        if "call" not in dir(cell) or "state_size" not in dir(cell):
            raise ValueError(
                "Received an invalid value for argument `cell`, expected a layer with `call(inputs, states)` "
                f"and a `state_size` attribute, got {cell!r}."
            )
        state_size = cell.state_size
        if isinstance(state_size, bool) or not isinstance(state_size, (int, list, tuple)):
            raise ValueError(
                "Received an invalid value for argument `cell`: its `state_size` must be an integer or a list of "
                f"integers (one per state tensor), got {state_size!r}."
            )
        super().__init__(**kwargs)
        self.cell = cell
        self.return_sequences = bool(return_sequences)
        self.return_state = bool(return_state)
        self.go_backwards = bool(go_backwards)
        self.stateful = bool(stateful)
        self.unroll = bool(unroll)
        self.zero_output_for_mask = bool(zero_output_for_mask)
        self.single_state = isinstance(state_size, int)
        self.state_size = [state_size] if self.single_state else list(state_size)
        self.supports_masking = True
        self.states = None
        self._expected_batch_size = None

    @property
    def output_size(self) -> int:
        size = getattr(self.cell, "output_size", None)
        if size is None:
            size = tf.nest.flatten(self.state_size)[0]
        return size

    def _check_rank(self, shape) -> None:
        if len(shape) != 3:
            raise ValueError(
                f"Layer {self.name!r} expects input of rank 3 `(batch, time, features)`, got an input of "
                f"rank {len(shape)} with shape {tuple(shape)}. Add a time axis (e.g. `x[:, None, :]`) or "
                "reshape the input."
            )

    # -- shapes --------------------------------------------------------------------------------------------

    def build(self, sequences_shape, initial_state_shape=None):
        self._check_rank(sequences_shape)
        if isinstance(self.cell, keras.layers.Layer) and not self.cell.built:
            self.cell.build((sequences_shape[0],) + tuple(sequences_shape[2:]))
            self.cell.built = True
        if self.stateful:
            if self.states is not None:
                self.reset_state()
            else:
                batch = sequences_shape[0]
                if batch is None:
                    raise ValueError(
                        f"Layer {self.name!r} is stateful, so it needs a fixed batch size: pass "
                        "`batch_size=` to `keras.Input` (or `batch_shape=`) when building the model."
                    )
                # Kept out of the layer's weights (as in Keras) so that `get_weights`/`set_weights` and
                # checkpoints see the same variables whether or not the layer is stateful.
                states = tf.nest.map_structure(
                    lambda value: keras.Variable(value, trainable=False, dtype=self.variable_dtype, name="rnn_state"),
                    self.get_initial_state(batch),
                )
                object.__setattr__(self, "states", states)
                self._expected_batch_size = int(batch)
        self.built = True

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        batch, time = sequences_shape[0], sequences_shape[1]
        out = (batch, time, self.output_size) if self.return_sequences else (batch, self.output_size)
        if self.return_state:
            states = [
                [(batch, s) for s in size] if isinstance(size, (list, tuple)) else (batch, size)
                for size in self.state_size
            ]
            return [out, *states]
        return out

    def compute_mask(self, sequences, mask=None):
        mask = tf.nest.flatten(mask)[0] if mask is not None else None
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.state_size)
        return output_mask

    # -- state ---------------------------------------------------------------------------------------------

    def reset_state(self):
        """Sets the stored states of a stateful layer to zero."""
        if self.states is not None:
            for state in tf.nest.flatten(self.states):
                state.assign(ops.zeros_like(state.value))

    reset_states = reset_state

    def get_initial_state(self, batch_size):
        cell_initial_state = getattr(self.cell, "get_initial_state", None)
        if cell_initial_state is not None:
            states = cell_initial_state(batch_size=batch_size)
            return list(states) if tf.nest.is_nested(states) else [states]
        dtype = self.cell.compute_dtype
        return tf.nest.map_structure(lambda size: ops.zeros((batch_size, size), dtype=dtype), self.state_size)

    def _initial_states(self, sequences, initial_state):
        if initial_state is None:
            if self.stateful:
                initial_state = self.states
            else:
                initial_state = self.get_initial_state(ops.shape(sequences)[0])
        elif not isinstance(initial_state, (list, tuple)):
            initial_state = [initial_state]
        initial_state = list(initial_state)
        sizes = self.state_size
        if len(initial_state) != len(sizes):
            raise ValueError(
                f"Received an invalid value for argument `initial_state` of layer {self.name!r}: expected "
                f"{len(sizes)} state tensor(s) of sizes {sizes}, got {len(initial_state)}."
            )
        for i, (state, size) in enumerate(zip(initial_state, sizes, strict=True)):
            if isinstance(size, int) and not tf.nest.is_nested(state):
                shape = tuple(state.shape)
                if len(shape) != 2 or (shape[-1] is not None and shape[-1] != size):
                    raise ValueError(
                        f"Received an invalid value for argument `initial_state` of layer {self.name!r}: state "
                        f"{i} must have shape (batch, {size}), got {shape}."
                    )
        dtype = self.cell.compute_dtype
        return tf.nest.map_structure(lambda s: ops.cast(ops.convert_to_tensor(s), dtype), initial_state)

    # -- forward -------------------------------------------------------------------------------------------

    def call(self, sequences, initial_state=None, mask=None, training=False):
        self._check_rank(sequences.shape)
        if self.stateful and self._expected_batch_size is not None:
            batch = sequences.shape[0]
            if batch is not None and batch != self._expected_batch_size:
                raise ValueError(
                    f"Layer {self.name!r} is stateful and was built for batch size {self._expected_batch_size}, "
                    f"but received a batch of {batch}. Feed batches of {self._expected_batch_size}, or build a "
                    "new layer for this batch size."
                )
        states = self._initial_states(sequences, initial_state)
        if mask is not None:
            mask = tf.nest.flatten(mask)[0]
            mask = ops.cast(mask, "bool")
            if len(mask.shape) == 3:
                mask = mask[:, :, 0]
        # seqtasks' cells draw their masks inside `inner_loop`; other cells get them drawn here, before the loop.
        keras_cell = not isinstance(self.cell, RecurrentCell)
        if keras_cell:
            _configure_keras_dropout_masks(self.cell, sequences[:, 0], states)
        try:
            last_output, outputs, new_states = self.inner_loop(sequences, states, mask, training)
        finally:
            if keras_cell:
                _reset_keras_dropout_masks(self.cell)
        dtype = self.compute_dtype
        last_output = ops.cast(last_output, dtype)
        new_states = tf.nest.map_structure(lambda s: ops.cast(s, dtype), list(new_states))
        if self.stateful:
            for variable, state in zip(tf.nest.flatten(self.states), tf.nest.flatten(new_states), strict=True):
                variable.assign(ops.cast(state, variable.dtype))
        output = ops.cast(outputs, dtype) if self.return_sequences else last_output
        if self.return_state:
            return [output, *new_states]
        return output

    def inner_loop(self, sequences, initial_state, mask, training=False):
        """Computes the recurrence; the one method subclasses override to change how.

        Args:
            sequences: `(batch, time, features)` inputs.
            initial_state: List of state tensors (possibly nested), already in the cell's compute dtype.
            mask: Optional `(batch, time)` bool tensor.
            training: Whether dropout is active.

        Returns:
            `(last_output, outputs, final_states)`: `outputs` is `(batch, time, units)` in processing order
            (reversed with `go_backwards`), or None when `return_sequences` is False; masked steps repeat the
            previous output (or give zeros with `zero_output_for_mask`) and keep the states.

        The base implementation runs the cell's fused kernel (`cell.fused_recurrence`) when it has one, with its
        hand-written BPTT when `training=True` (and without the saves for it at inference), and otherwise the
        loop over `cell.recurrent_step` (or `cell.call`) differentiated by TensorFlow.
        """
        cell = self.cell
        if not isinstance(cell, RecurrentCell):
            return self._keras_cell_loop(sequences, initial_state, mask, training)
        input_mask, recurrent_mask = cell.draw_dropout_masks(sequences[:, 0], initial_state[0], training)
        # Transposing the narrow inputs (not the gates-wide projection) to time-major is the cheaper order.
        projected = cell.input_projection(tf.transpose(sequences, [1, 0, 2]), input_mask, time_major=True)
        kind = cell.fused_recurrence if FUSED and not self.unroll else None
        if kind is not None:
            # The saves for the hand-written backward pass only pay off in training; at inference (evaluation,
            # serving) the same loop runs without them, and a gradient taken anyway is TensorFlow's autodiff.
            for_training = training is not False and training is not None
            return self._fused_loop(kind, projected, initial_state, mask, for_training)

        def step(x_t, step_states):
            return cell.recurrent_step(x_t, step_states, recurrent_mask)

        return self._loop(step, projected, initial_state, mask)

    def _keras_cell_loop(self, sequences, initial_state, mask, training):
        cell = self.cell
        kwargs = {}
        if getattr(cell, "_call_has_training_arg", False):
            kwargs["training"] = training

        def step(x_t, step_states):
            output, new = cell(x_t, list(step_states), **kwargs)
            new = list(new) if isinstance(new, (list, tuple)) else [new]
            return output, new

        return self._loop(step, tf.transpose(sequences, [1, 0, 2]), initial_state, mask)

    def _loop(self, step, time_major_inputs, initial_state, mask):
        return recurrent_loop(
            step,
            time_major_inputs,
            initial_state,
            mask=mask,
            go_backwards=self.go_backwards,
            unroll=self.unroll,
            zero_output_for_mask=self.zero_output_for_mask,
            return_sequences=self.return_sequences,
            output_size=self.output_size,
            time_major=True,
        )

    def _fused_loop(self, kind, projected, states, mask, for_training=True):
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
        outputs, final_states = fused.fused_sequence(kind, x, states, kernel, recurrent_bias, m, for_training)
        last_output = outputs[-1]
        if self.zero_output_for_mask and m is not None:
            outputs = tf.where(m, outputs, tf.zeros_like(outputs))
            last_output = tf.where(m[-1], last_output, tf.zeros_like(last_output))
        outputs = tf.transpose(outputs, [1, 0, 2]) if self.return_sequences else None
        return last_output, outputs, final_states

    def get_config(self):
        config = {
            "cell": keras.saving.serialize_keras_object(self.cell),
            "return_sequences": self.return_sequences,
            "return_state": self.return_state,
            "go_backwards": self.go_backwards,
            "stateful": self.stateful,
            "unroll": self.unroll,
            "zero_output_for_mask": self.zero_output_for_mask,
        }
        base_config = super().get_config()
        return {**base_config, **config}

    @classmethod
    def from_config(cls, config, custom_objects=None):
        config = dict(config)
        cell = keras.saving.deserialize_keras_object(config.pop("cell"), custom_objects=custom_objects)
        return cls(cell, **config)


def cell_property(name: str) -> property:
    """A read-only layer attribute that forwards to the cell's, as `keras.layers.LSTM.units` does."""
    return property(lambda self: getattr(self.cell, name), doc=f"The cell's `{name}`.")


def layer_config(layer: RNN) -> dict:
    """`get_config` of a layer that builds its own cell: the cell's arguments in place of `cell`."""
    cell_config = {
        key: value for key, value in layer.cell.get_config().items() if key not in ("name", "trainable", "dtype")
    }
    config = RNN.get_config(layer)
    del config["cell"]
    config["activity_regularizer"] = keras.regularizers.serialize(layer.activity_regularizer)
    return {**config, **cell_config}


def _configure_keras_dropout_masks(cell, first_inputs, states) -> None:
    """Draws the per-sequence masks of Keras `DropoutRNNCell`s before the loop, as `keras.layers.RNN` does."""
    if isinstance(cell, DropoutMaskMixin):
        state = states[0] if isinstance(states, (list, tuple)) else states
        state = tf.nest.flatten(state)[0]
        cell.get_dropout_mask(first_inputs)
        cell.get_recurrent_dropout_mask(state)
    if isinstance(cell, keras.layers.StackedRNNCells):
        x = first_inputs
        for sub, sub_state in zip(cell.cells, states, strict=False):
            _configure_keras_dropout_masks(sub, x, sub_state)
            sub_state = list(sub_state) if tf.nest.is_nested(sub_state) else [sub_state]
            x, _ = sub(x, sub_state)


def _reset_keras_dropout_masks(cell) -> None:
    if isinstance(cell, DropoutMaskMixin):
        cell.reset_dropout_mask()
        cell.reset_recurrent_dropout_mask()
    if isinstance(cell, keras.layers.StackedRNNCells):
        for sub in cell.cells:
            _reset_keras_dropout_masks(sub)


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
    `(batch, time)`. `initial_states` may be nested (e.g. the states of `keras.layers.StackedRNNCells`); `step`
    receives and returns the same structure.

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
    structure = list(initial_states)
    flat_initial = tf.nest.flatten(structure)
    if output_size is None:
        output_size = flat_initial[0].shape[-1]
    zero_output = tf.zeros(tf.stack([batch, output_size]), dtype=flat_initial[0].dtype)
    steps_static = x.shape[0]

    def masked_step(x_t, m_t, prev_output, flat_states):
        output, new_states = step(x_t, tf.nest.pack_sequence_as(structure, flat_states))
        new_flat = tf.nest.flatten(new_states)
        if len(new_flat) != len(flat_states):
            raise ValueError(
                f"The cell returned {len(new_flat)} state tensor(s) but its `state_size` declares "
                f"{len(flat_states)}."
            )
        output = tf.cast(output, zero_output.dtype)
        new_flat = [tf.cast(n, s.dtype) for n, s in zip(new_flat, flat_states, strict=True)]
        if m_t is not None:
            output = tf.where(m_t, output, prev_output)
            new_flat = [tf.where(m_t, n, s) for n, s in zip(new_flat, flat_states, strict=True)]
        return output, new_flat

    use_unroll = steps_static is not None and (unroll or steps_static <= _AUTO_UNROLL_MAX_STEPS)
    if use_unroll:
        prev, states, outputs = zero_output, list(flat_initial), []
        for t in range(steps_static):
            prev, states = masked_step(x[t], None if m is None else m[t], prev, states)
            outputs.append(prev)
        stacked = tf.stack(outputs, 0) if outputs else tf.zeros([0, batch, output_size], zero_output.dtype)
        last_output = prev
    else:
        steps = tf.shape(x)[0]
        chunk = _CHUNK if (steps_static is not None and steps_static % _CHUNK == 0) else 1
        # Without return_sequences nothing is written: a placeholder, not an unused TensorArray (which tf2onnx
        # cannot map to a Loop output).
        out_ta = output_array(zero_output.dtype, steps, zero_output) if return_sequences else tf.zeros([0])
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

        loop_vars = (tf.constant(0), zero_output, out_ta, *flat_initial)
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
    return last_output, outputs, tf.nest.pack_sequence_as(structure, list(states))
