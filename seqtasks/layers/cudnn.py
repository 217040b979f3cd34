"""The GPU fast path: `LSTM` and `GRU` on the fused cuDNN kernel, with the layers' own weights.

The layers keep Keras' weight layout; this module packs it into cuDNN's parameter buffer at call time, so a model
trained on a GPU runs unchanged on a CPU and vice versa. Configurations cuDNN cannot express run seqtasks' loop;
`reasons_for_generic_path` lists why, and `seqtasks.layers.explain` prints it. Nothing here knows the concrete
cell classes: a cell declares its kernel through `cudnn_mode` and `cudnn_incompatibilities()`.
"""

from __future__ import annotations

import tensorflow as tf

from seqtasks.layers.tracing import portable_target


def gpu_available() -> bool:
    return bool(tf.config.list_logical_devices("GPU"))


def reasons_for_generic_path(layer, check_device: bool = True) -> list[str]:
    """Why `layer` (an `RNN` subclass with a `use_cudnn` argument) cannot use cuDNN; empty means it can.

    The cell says which cuDNN kernel its weights fit (`cell.cudnn_mode`) and what in its configuration rules the
    kernel out (`cell.cudnn_incompatibilities()`); the layer adds its own conditions. A mask that is not
    right-padded is only known at run time; such a batch runs the loop (see `inner_loop`), which is not listed.
    """
    cell = layer.cell
    if getattr(cell, "cudnn_mode", None) is None:
        return [f"{type(cell).__name__} has no cuDNN kernel"]
    reasons = []
    if getattr(layer, "use_cudnn", "auto") is False:
        reasons.append("use_cudnn=False")
    if check_device and not gpu_available():
        reasons.append("no GPU visible")
    reasons.extend(cell.cudnn_incompatibilities())
    if layer.unroll:
        reasons.append("unroll=True")
    if layer.compute_dtype == "bfloat16":
        reasons.append("compute dtype bfloat16 (cuDNN RNN supports float16/float32/float64)")
    return reasons


def check_use_cudnn(value) -> str | bool:
    if value not in ("auto", True, False) or isinstance(value, int) and not isinstance(value, bool):
        raise ValueError(
            "Received an invalid value for argument `use_cudnn`, expected one of 'auto', True, False, "
            f"got {value!r}."
        )
    return value


def jit_compatible(layer) -> bool:
    """False when `layer` may run `CudnnRNNV3`, which XLA cannot compile (Keras sets `supports_jit` likewise)."""
    return layer.use_cudnn is False or bool(reasons_for_generic_path(layer))


def inner_loop(layer, sequences, states, mask, training, fallback):
    """`RNN.inner_loop` of `LSTM`/`GRU`: the cuDNN kernel when eligible, else `fallback` (the layer's loop)."""
    if layer.use_cudnn is True and not gpu_available():
        raise ValueError(
            f"Layer {layer.name!r} has use_cudnn=True but no GPU is visible; use use_cudnn='auto' to fall back "
            "to seqtasks' loop."
        )
    reasons = reasons_for_generic_path(layer)
    if portable_target() is not None and layer.use_cudnn is not True:
        # A LiteRT/ONNX converter cannot hold the cuDNN kernel (see `seqtasks.layers.tracing`).
        return fallback(sequences, states, mask, training)
    if reasons:
        if layer.use_cudnn is True:
            raise ValueError(f"Layer {layer.name!r} has use_cudnn=True but cannot use cuDNN: {'; '.join(reasons)}.")
        return fallback(sequences, states, mask, training)

    cell = layer.cell
    input_mask, _ = cell.draw_dropout_masks(sequences[:, 0], states[0], training)
    dropped = sequences * tf.expand_dims(input_mask, 1) if input_mask is not None else sequences

    def fused():
        last, outputs, new_states = _cudnn_call(layer, dropped, states, mask)
        if not layer.return_sequences:
            outputs = tf.expand_dims(last, 1)
        return [last, outputs, *new_states]

    if mask is None:
        flat = fused()
    else:
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        right_padded = tf.reduce_all(tf.equal(mask, tf.sequence_mask(lengths, tf.shape(mask)[1])))
        usable = tf.logical_and(right_padded, tf.reduce_all(lengths > 0))

        def generic():
            last, outputs, new_states = fallback(sequences, states, mask, training)
            if outputs is None:
                outputs = tf.expand_dims(last, 1)
            return [last, outputs, *new_states]

        flat = tf.cond(usable, fused, generic)
    last, outputs, *new_states = flat
    return last, (outputs if layer.return_sequences else None), new_states


def _cudnn_call(layer, sequences, states, mask):
    cell = layer.cell
    is_lstm = cell.cudnn_mode == "lstm"
    batch, steps = tf.shape(sequences)[0], tf.shape(sequences)[1]
    if mask is None:
        lengths = tf.fill([batch], steps)
    else:
        lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
    kernel = tf.convert_to_tensor(cell.kernel)
    recurrent_kernel = tf.convert_to_tensor(cell.recurrent_kernel)
    bias = tf.convert_to_tensor(cell.bias)
    gates = 4 if is_lstm else 3
    weights = tf.split(kernel, gates, axis=1) + tf.split(recurrent_kernel, gates, axis=1)
    if is_lstm:
        # cuDNN adds an input bias and a recurrent bias; Keras has one, so the input half is zero.
        biases = tf.split(tf.concat([tf.zeros_like(bias), bias], 0), 8)
    else:
        biases = tf.split(tf.reshape(bias, [-1]), 6)
        # cuDNN orders the GRU gates (r, z, h); Keras orders them (z, r, h).
        weights[0], weights[1], weights[3], weights[4] = weights[1], weights[0], weights[4], weights[3]
        biases[0], biases[1], biases[3], biases[4] = biases[1], biases[0], biases[4], biases[3]
    params = tf.concat([tf.reshape(tf.transpose(w), [-1]) for w in weights] + [tf.reshape(b, [-1]) for b in biases], 0)

    inputs = sequences
    if layer.go_backwards:
        inputs = tf.reverse_sequence(inputs, lengths, seq_axis=1, batch_axis=0)
    h0 = tf.expand_dims(states[0], 1)
    c0 = tf.expand_dims(states[1], 1) if is_lstm else 0
    outputs, h, c, _, _ = tf.raw_ops.CudnnRNNV3(
        input=inputs,
        input_h=h0,
        input_c=c0,
        params=params,
        is_training=True,
        rnn_mode="lstm" if is_lstm else "gru",
        sequence_lengths=lengths,
        time_major=False,
    )
    h = tf.squeeze(h, 1)
    if layer.go_backwards:
        # Back to "processing order" with padding first, which is what the generic loop returns.
        outputs = tf.reverse(tf.reverse_sequence(outputs, lengths, seq_axis=1, batch_axis=0), [1])
    elif mask is not None and not layer.zero_output_for_mask:
        # The loop repeats the last valid output over right padding; cuDNN writes zeros there.
        outputs = tf.where(tf.expand_dims(mask, -1), outputs, tf.expand_dims(h, 1))
    new_states = [h, tf.squeeze(c, 1)] if is_lstm else [h]
    return h, outputs, new_states
