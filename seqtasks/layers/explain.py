"""`explain(model)`: which execution path every recurrent layer of a model takes, and why.

Losing the cuDNN kernel is silent in Keras (a recurrent_dropout or a custom activation is enough) and shows up only
as a slow epoch; this report makes it visible before training starts.
"""

from __future__ import annotations

import keras

from seqtasks.layers import cudnn
from seqtasks.layers.gru import GRU
from seqtasks.layers.lstm import LSTM
from seqtasks.layers.rnn import RNN


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


def explain(model, print_fn=print) -> list[dict]:
    """Reports, for every seqtasks recurrent layer inside `model`, the path it takes.

    Args:
        model: A Keras model or layer (wrappers and stacks are searched recursively).
        print_fn: Where to print the table (`None` to print nothing).

    Returns:
        One dict per recurrent layer: `layer` (its path in the model), `type`, `path` (`"cudnn"` or
        `"seqtasks-loop"`) and `reasons` (why; for the loop, every condition that rules cuDNN out).

    Example:

    >>> report = explain(model)  # doctest: +SKIP
    model/bidirectional_0/forward_lstm_0  LSTM  seqtasks-loop  no GPU visible
    """
    rows = []
    for path, layer in _walk(model):
        if isinstance(layer, (LSTM, GRU)):
            info = cudnn.describe(layer)
        else:
            info = {"path": "seqtasks-loop", "reasons": [f"{type(layer.cell).__name__} has no cuDNN kernel"]}
        rows.append({"layer": path, "type": type(layer).__name__, **info})
    if print_fn is not None:
        if not rows:
            print_fn("explain: no seqtasks recurrent layers found")
        width = max((len(r["layer"]) for r in rows), default=0)
        for r in rows:
            print_fn(f"{r['layer']:<{width}}  {r['type']:<9}  {r['path']:<13}  {'; '.join(r['reasons'])}")
    return rows
