"""`Bidirectional`: runs a recurrent layer forwards and a copy of it backwards, and merges the two."""

from __future__ import annotations

import copy

import keras
import tensorflow as tf

from seqtasks.layers import validation
from seqtasks.layers.rnn import RNN


def _prefixed(prefix: str, name: str) -> str:
    return name if name.startswith(prefix) else prefix + name.removeprefix("forward_")


@keras.saving.register_keras_serializable(package="seqtasks")
class Bidirectional(keras.layers.Layer):
    """Bidirectional wrapper for seqtasks' recurrent layers.

    The backward copy processes each sequence from its last *valid* step to its first: with a mask, padded steps
    carry the state unchanged, so the backward state after step `t` summarises exactly `x[t:length]`, whatever the
    padding. Its outputs are put back in forward time order before merging, so `output[:, t]` always describes
    position `t` in both halves, and padded positions output zeros.

    Args:
        layer: A `SimpleRNN`, `LSTM`, `GRU` or `RNN` instance; it becomes the forward layer.
        merge_mode: How to combine the two directions: `"concat"` (default), `"sum"`, `"mul"`, `"ave"`, or None
            to return `[forward, backward]`.
        backward_layer: Optional explicit backward layer (must have the opposite `go_backwards` and the same
            `return_sequences` / `return_state`); by default a copy of `layer` with `go_backwards` flipped.
        **kwargs: Base layer keyword arguments.

    Call arguments:
        sequences: A 3-D tensor `(batch, time, features)`.
        initial_state: Optional list: the forward layer's states followed by the backward layer's states.
        mask: Optional boolean tensor `(batch, time)`.
        training: Whether dropout is active.

    Returns:
        The merged output; with `return_state`, `[output, *forward_states, *backward_states]`.

    Example:

    >>> layer = Bidirectional(LSTM(16, return_sequences=True), merge_mode="sum")
    >>> layer(np.zeros((2, 5, 3), "float32")).shape
    (2, 5, 16)
    """

    def __init__(self, layer, merge_mode="concat", backward_layer=None, **kwargs):
        if isinstance(layer, dict):
            layer = keras.saving.deserialize_keras_object(layer)
        if isinstance(backward_layer, dict):
            backward_layer = keras.saving.deserialize_keras_object(backward_layer)
        if not isinstance(layer, RNN):
            raise ValueError(
                "Received an invalid value for argument `layer`, expected a seqtasks recurrent layer "
                f"(SimpleRNN, LSTM, GRU or RNN), got {layer!r}."
            )
        validation.check_choice("merge_mode", merge_mode, validation.MERGE_MODES)
        super().__init__(**kwargs)
        config = layer.get_config()
        if backward_layer is None:
            backward_config = copy.deepcopy(config)
            backward_config["go_backwards"] = not layer.go_backwards
            backward_config["name"] = _prefixed("backward_", layer.name)
            backward_layer = type(layer).from_config(backward_config)
        elif backward_layer.go_backwards == layer.go_backwards:
            raise ValueError(
                "Received an invalid value for argument `backward_layer`: its `go_backwards` must be the opposite "
                f"of the forward layer's ({layer.go_backwards})."
            )
        for attr in ("return_sequences", "return_state"):
            if getattr(backward_layer, attr) != getattr(layer, attr):
                raise ValueError(
                    f"Received an invalid value for argument `backward_layer`: `{attr}` must match the forward "
                    f"layer's ({getattr(layer, attr)})."
                )
        forward_config = copy.deepcopy(config)
        forward_config["name"] = _prefixed("forward_", layer.name)
        self.forward_layer = type(layer).from_config(forward_config)
        self.backward_layer = backward_layer
        # Padded positions output zeros, as in keras.layers.Bidirectional.
        self.forward_layer.zero_output_for_mask = self.forward_layer.return_sequences
        self.backward_layer.zero_output_for_mask = self.backward_layer.return_sequences
        self.merge_mode = merge_mode
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.stateful = layer.stateful
        self.supports_masking = True

    @property
    def layers(self):
        return [self.forward_layer, self.backward_layer]

    def build(self, sequences_shape, initial_state_shape=None):
        self.forward_layer._check_rank(sequences_shape)
        self.forward_layer.build(sequences_shape)
        self.backward_layer.build(sequences_shape)
        self.built = True

    def _merge(self, forward, backward):
        if self.merge_mode == "concat":
            return tf.concat([forward, backward], -1)
        if self.merge_mode == "sum":
            return forward + backward
        if self.merge_mode == "mul":
            return forward * backward
        if self.merge_mode == "ave":
            return (forward + backward) / 2
        return [forward, backward]

    def call(self, sequences, initial_state=None, mask=None, training=None):
        self.forward_layer._check_rank(sequences.shape)
        forward_state = backward_state = None
        if initial_state is not None:
            initial_state = list(initial_state) if isinstance(initial_state, (list, tuple)) else [initial_state]
            n = len(self.forward_layer.state_size)
            if len(initial_state) != 2 * n:
                raise ValueError(
                    f"Received an invalid value for argument `initial_state` of layer {self.name!r}: expected "
                    f"{2 * n} tensors (forward states then backward states), got {len(initial_state)}."
                )
            forward_state, backward_state = initial_state[:n], initial_state[n:]
        forward = self.forward_layer(sequences, initial_state=forward_state, mask=mask, training=training)
        backward = self.backward_layer(sequences, initial_state=backward_state, mask=mask, training=training)
        forward_states = backward_states = []
        if self.return_state:
            forward, forward_states = forward[0], forward[1:]
            backward, backward_states = backward[0], backward[1:]
        if self.return_sequences:
            backward = tf.reverse(backward, [1])
        output = self._merge(forward, backward)
        # Under a mixed policy the halves come out in the wrapped layers' compute dtype; the spec promises ours.
        output = tf.nest.map_structure(lambda t: tf.cast(t, self.compute_dtype), output)
        if self.return_state:
            outputs = output if isinstance(output, list) else [output]
            return outputs + list(forward_states) + list(backward_states)
        return output

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        forward_shape = self.forward_layer.compute_output_shape(sequences_shape)
        state_shapes = []
        if self.return_state:
            forward_shape, state_shapes = forward_shape[0], forward_shape[1:]
            state_shapes = list(state_shapes) * 2
        if self.merge_mode == "concat":
            output_shape = tuple(forward_shape[:-1]) + (forward_shape[-1] * 2,)
            output_shapes = [output_shape]
        elif self.merge_mode is None:
            output_shapes = [tuple(forward_shape), tuple(forward_shape)]
        else:
            output_shapes = [tuple(forward_shape)]
        if self.return_state:
            return output_shapes + state_shapes
        return output_shapes[0] if len(output_shapes) == 1 else output_shapes

    def compute_mask(self, sequences, mask=None):
        output_mask = mask if self.return_sequences else None
        masks = [output_mask] if self.merge_mode is not None else [output_mask, output_mask]
        if self.return_state:
            masks += [None] * (2 * len(self.forward_layer.state_size))
            return masks
        return masks[0] if len(masks) == 1 else masks

    def reset_states(self):
        self.forward_layer.reset_states()
        self.backward_layer.reset_states()

    reset_state = reset_states

    def get_config(self):
        config = {
            "layer": keras.saving.serialize_keras_object(self.forward_layer),
            "merge_mode": self.merge_mode,
            "backward_layer": keras.saving.serialize_keras_object(self.backward_layer),
        }
        base_config = super().get_config()
        return {**base_config, **config}
