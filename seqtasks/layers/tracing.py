"""Tracing the recurrent loops for converters (LiteRT, ONNX) rather than for TensorFlow.

The loops write their outputs into a `tf.TensorArray`. TensorFlow runs either way of building one, but the
converters each accept only one:

* the LiteRT converter lowers `TensorListFromTensor` to builtin ops with a dynamic batch, while `TensorListReserve`
  with an unknown batch needs the Flex delegate (which `ai-edge-litert`'s interpreter does not have);
* tf2onnx turns a reserved list into the scan output of an ONNX `Loop`, and fails on one built from a tensor
  (onnxruntime: "Invalid tensor data type 0").

`portable_tracing("litert")` makes the loops traced inside it build their output arrays from a zeros tensor, and it
keeps cuDNN out of the graph for both targets (a converter cannot hold `CudnnRNNV3`). Outside it nothing changes.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

import tensorflow as tf

TARGETS = ("litert", "onnx")
_state = threading.local()


def portable_target() -> str | None:
    """The converter the graph being traced is for (`"litert"`, `"onnx"`), or None for TensorFlow itself."""
    return getattr(_state, "target", None)


@contextlib.contextmanager
def portable_tracing(target: str) -> Iterator[None]:
    """Within the block, recurrent loops are traced so that `target`'s converter can hold them."""
    if target not in TARGETS:
        raise ValueError(f"Received an invalid value for argument `target`, expected one of {TARGETS}, got {target!r}.")
    previous = portable_target()
    _state.target = target
    try:
        yield
    finally:
        _state.target = previous


def output_array(dtype: tf.DType, size: tf.Tensor, like: tf.Tensor) -> tf.TensorArray:
    """A TensorArray of `size` elements shaped like `like`, for a loop to write its per-step outputs into."""
    array = tf.TensorArray(dtype, size=size, element_shape=like.shape)
    if portable_target() == "litert":
        array = array.unstack(tf.zeros(tf.concat([[size], tf.shape(like)], 0), dtype))
    return array
