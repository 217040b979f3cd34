"""Argument checks shared by the recurrent cells and layers.

Messages follow Keras' wording so that users recognise them: they name the argument, the accepted values and
what was received.
"""

from __future__ import annotations

import numbers
from typing import Any

import keras

MERGE_MODES = ("concat", "sum", "mul", "ave", None)


def check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected a positive integer, got {value!r}."
        )
    return int(value)


def check_rate(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not 0.0 <= float(value) < 1.0:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected a float in [0, 1), got {value!r}."
        )
    return float(value)


def check_activation(name: str, value: Any):
    """Returns the Keras activation function for `value`: any name Keras knows, a serialized one, or a callable."""
    if value is None:
        return keras.activations.get("linear")
    if callable(value):
        return value
    try:
        return keras.activations.get(value)
    except (ValueError, TypeError):
        known = sorted(n for n in dir(keras.activations) if not n.startswith("_") and n not in ("get", "serialize", "deserialize"))
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected the name of a Keras activation "
            f"(one of {', '.join(known)}) or a callable, got {value!r}."
        ) from None


def check_choice(name: str, value: Any, choices: tuple) -> Any:
    if value not in choices:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected one of {choices}, got {value!r}."
        )
    return value


def activation_name(fn) -> str | None:
    """The registered name of a Keras activation function, or None for custom callables."""
    try:
        return keras.activations.serialize(fn)
    except Exception:
        return None
