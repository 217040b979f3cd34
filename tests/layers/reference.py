"""Helpers that build a seqtasks layer and its Keras built-in twin with identical weights."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf

import seqtasks.layers as sl

B, T, D, H = 3, 5, 4, 3

LAYER_CASES = [
    ("SimpleRNN", {}),
    ("SimpleRNN", {"activation": "relu"}),
    ("LSTM", {}),
    ("GRU", {"reset_after": True}),
    ("GRU", {"reset_after": False}),
]


def case_id(case) -> str:
    name, kwargs = case
    return name + "".join(f"-{k}={v}" for k, v in kwargs.items())


def inputs(seed: int = 0, batch: int = B, steps: int = T, dtype: str = "float32") -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(batch, steps, D)).astype(dtype)


def masks(kind: str | None, batch: int = B, steps: int = T):
    if kind is None:
        return None
    if kind == "right":  # right-padded, one full-length row
        lengths = np.array([steps, 2, 4][:batch])
        return np.arange(steps)[None, :] < lengths[:, None]
    if kind == "arbitrary":  # holes in the middle and a leading masked step
        m = np.ones((batch, steps), bool)
        m[0, 1] = False
        m[1, 0] = False
        m[1, 3] = False
        m[2, 2:] = False
        return m
    raise ValueError(kind)


def pair(name: str, cell_kwargs: dict, layer_kwargs: dict, x, seed: int = 1):
    """Returns (seqtasks layer, keras layer) built on `x` with the keras layer's weights copied over."""
    keras.utils.set_random_seed(seed)
    ref = getattr(keras.layers, name)(H, **cell_kwargs, **layer_kwargs)
    ours = getattr(sl, name)(H, **cell_kwargs, **layer_kwargs)
    ref.build(x.shape)
    ours.build(x.shape)
    # Non-trivial biases so that bias handling is exercised.
    rng = np.random.default_rng(seed)
    weights = [
        (w.numpy() + rng.normal(0, 0.3, w.shape) if "bias" in w.path else w.numpy()).astype(w.dtype)
        for w in ref.weights
    ]
    ref.set_weights(weights)
    ours.set_weights(weights)
    return ours, ref


def forward_and_grads(layer, x, mask=None, initial_state=None, training=True):
    """Outputs (list) and the gradients of a fixed random projection of them w.r.t. inputs and weights.

    `training=True` (no dropout in these cases) so that seqtasks' layers run their hand-written BPTT kernels.
    """
    x = tf.convert_to_tensor(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        kwargs = {}
        if mask is not None:
            kwargs["mask"] = tf.convert_to_tensor(mask)
        if initial_state is not None:
            kwargs["initial_state"] = [tf.convert_to_tensor(s) for s in initial_state]
        out = layer(x, training=training, **kwargs)
        outs = out if isinstance(out, (list, tuple)) else [out]
        rng = np.random.default_rng(7)
        loss = tf.add_n(
            [tf.reduce_sum(o * rng.normal(size=o.shape).astype(o.dtype.name)) for o in outs]
        )
    grads = tape.gradient(loss, [x] + list(layer.trainable_variables))
    return [o.numpy() for o in outs], [g.numpy() for g in grads]
