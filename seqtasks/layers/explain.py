"""`explain(model)`: which execution path every recurrent layer of a model takes, and why.

Losing the cuDNN kernel is silent in Keras (a recurrent_dropout or a custom activation is enough) and shows up only
as a slow epoch; this report makes it visible before training starts.
"""

from __future__ import annotations

import keras

from seqtasks.layers import cudnn, rnn
from seqtasks.layers.rnn import RNN
from seqtasks.layers.validation import activation_name


def _walk(layer, prefix: str = ""):
    path = f"{prefix}/{layer.name}" if prefix else layer.name
    if isinstance(layer, RNN):
        yield path, layer
        return
    children = []
    if isinstance(layer, keras.Model):
        children = layer.layers
    else:
        children = [c for c in layer._flatten_layers(include_self=False, recursive=False)]
    for child in children:
        yield from _walk(child, path)


def describe(layer: RNN) -> dict:
    """The path one recurrent layer takes: a dict with `path` and `reasons`.

    `path` is `"cudnn"` (the fused GPU kernel), `"seqtasks-fused"` (seqtasks' loop with its hand-written BPTT,
    `seqtasks.layers.fused`, when `training=True`) or `"seqtasks-loop"` (the loop
    differentiated by TensorFlow's autodiff).
    """
    reasons = []
    if hasattr(layer, "use_cudnn"):
        reasons = cudnn.reasons_for_generic_path(layer)
        if not reasons:
            return {
                "path": "cudnn",
                "reasons": ["eligible; batches whose mask is not right-padded (or has an empty row) run the loop"],
            }
    else:
        reasons = [f"{type(layer.cell).__name__} has no cuDNN kernel"]
    kernel = getattr(layer.cell, "fused_recurrence", None)
    if kernel is not None and rnn.FUSED and not layer.unroll:
        return {
            "path": "seqtasks-fused",
            "reasons": reasons + [f"fused kernel {kernel!r}: hand-written BPTT in training"],
        }
    if kernel is not None:
        why = "unroll=True" if layer.unroll else "seqtasks.layers.rnn.FUSED is False"
    elif not hasattr(layer.cell, "fused_recurrence"):
        why = f"{type(layer.cell).__name__} is not a seqtasks cell"
    else:
        why = _no_kernel_reason(layer.cell)
    return {"path": "seqtasks-loop", "reasons": reasons + [f"autodiff BPTT: {why}"]}


def _no_kernel_reason(cell) -> str:
    if cell.recurrent_dropout > 0:
        return f"recurrent_dropout={cell.recurrent_dropout}"
    names = [f"activation={activation_name(cell.activation)!r}"]
    if hasattr(cell, "recurrent_activation") and type(cell).__name__ != "SimpleRNNCell":
        names.append(f"recurrent_activation={activation_name(cell.recurrent_activation)!r}")
    return "no hand-written kernel for " + ", ".join(names) + " (or a subclass overrides recurrent_step)"


def explain(model, print_fn=print) -> list[dict]:
    """Reports, for every seqtasks recurrent layer inside `model`, the path it takes.

    Args:
        model: A Keras model or layer (wrappers and stacks are searched recursively).
        print_fn: Where to print the table (`None` to print nothing).

    Returns:
        One dict per recurrent layer: `layer` (its path in the model), `type`, `path` (`"cudnn"`,
        `"seqtasks-fused"` or `"seqtasks-loop"`, see `describe`) and `reasons` (every condition that rules cuDNN
        out, and which BPTT the loop uses).

    Example:

    >>> report = explain(model)  # doctest: +SKIP
    model/bidirectional_0/forward_lstm_0  LSTM  seqtasks-fused  no GPU visible; fused kernel 'lstm': ...
    """
    rows = []
    for path, layer in _walk(model):
        info = describe(layer)
        rows.append({"layer": path, "type": type(layer).__name__, **info})
    if print_fn is not None:
        if not rows:
            print_fn("explain: no seqtasks recurrent layers found")
        width = max((len(r["layer"]) for r in rows), default=0)
        for r in rows:
            print_fn(f"{r['layer']:<{width}}  {r['type']:<9}  {r['path']:<14}  {'; '.join(r['reasons'])}")
    return rows
