"""Keras' own RNN test suite, run against seqtasks' classes.

The test files are read from the installed keras package at collection time (nothing of Keras' code is copied
into this repository). In each file the one line `from keras.src import layers` is replaced by a namespace in
which `SimpleRNN, LSTM, GRU, Bidirectional, SimpleRNNCell, LSTMCell, GRUCell, RNN` are seqtasks' classes and every
other name is Keras' own, so each Keras test exercises seqtasks' implementation.

Rerun alone with `pytest tests/layers/test_keras_suite.py`.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import keras
import keras.src.layers
import pytest

import seqtasks.layers as sl

KERAS_RNN_DIR = Path(keras.src.layers.__file__).parent / "rnn"
SUITE = (
    "simple_rnn_test",
    "lstm_test",
    "gru_test",
    "bidirectional_test",
    "rnn_test",
    "stacked_rnn_cells_test",
    "dropout_rnn_cell_test",
)
SWAPPED = ("SimpleRNN", "LSTM", "GRU", "Bidirectional", "SimpleRNNCell", "LSTMCell", "GRUCell", "RNN")
IMPORT_LINE = "from keras.src import layers\n"

# Tests that call private dispatch methods of keras' own Bidirectional (its backend-fused bidirectional kernels,
# which exist on the JAX/torch backends only); seqtasks' Bidirectional has no such methods.
# Keyed by file and test name (the class in bidirectional_test.py is itself named `SimpleRNNTest`).
EXCLUDED = {
    "bidirectional_test.test_fused_lstm_eligibility": "calls keras' private Bidirectional._can_attempt_fused_lstm",
    "bidirectional_test.test_fused_gru_eligibility": "calls keras' private Bidirectional._can_attempt_fused_gru",
}


class _SwappedLayers(types.ModuleType):
    """`keras.src.layers` with the recurrent classes replaced by seqtasks'."""

    def __getattr__(self, name):
        if name in SWAPPED:
            return getattr(sl, name)
        return getattr(keras.src.layers, name)


def _load(stem: str) -> types.ModuleType:
    path = KERAS_RNN_DIR / f"{stem}.py"
    source = path.read_text(encoding="utf-8")
    if source.count(IMPORT_LINE) != 1:
        raise RuntimeError(f"{path}: expected exactly one line {IMPORT_LINE.strip()!r} to swap")
    source = source.replace(IMPORT_LINE, "layers = __seqtasks_layers__\n")
    # Under the `keras.` prefix: Keras only imports modules of its own packages when it deserializes a class.
    module = types.ModuleType(f"keras.seqtasks_suite.{stem}")
    module.__file__ = str(path)
    module.__dict__["__seqtasks_layers__"] = _SwappedLayers("keras_suite.layers")
    # Registered so that Keras' deserialization can import the module of the test cells it serialized.
    sys.modules[module.__name__] = module
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def _collect() -> dict:
    found = {}
    for stem in SUITE:
        module = _load(stem)
        for name, obj in vars(module).items():
            if isinstance(obj, type) and issubclass(obj, keras.src.testing.TestCase) and obj.__module__ == module.__name__:
                for test_name in dir(obj):
                    reason = EXCLUDED.get(f"{stem}.{test_name}")
                    if reason is not None:
                        setattr(obj, test_name, pytest.mark.skip(reason=f"excluded: {reason}")(getattr(obj, test_name)))
                # A unique name per file, so that same-named classes of different files do not collide.
                alias = f"Keras_{stem}_{name}"
                obj.__qualname__ = alias
                found[alias] = obj
    return found


if not KERAS_RNN_DIR.is_dir():  # pragma: no cover - keras wheels always ship the tests today
    pytest.skip(f"the installed keras has no {KERAS_RNN_DIR}", allow_module_level=True)

globals().update(_collect())
