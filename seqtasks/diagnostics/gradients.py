"""Gradient flow through time: how the gradient of a loss at the last step fades (or blows up) with the number of
steps back, for cell configurations or for the recurrent layers of a trained run.

For each configuration the cell runs over random sequences `x_1..x_T`; the loss is a random linear read-out of
the last output, `L = w . h_T`. One backward pass gives, exactly, for every step t:

* `||dL/dx_t||` — the gradient reaching the *input* at step t, and
* `||dL/dh_t||` — the gradient reaching the *hidden state* at step t (for LSTM also `||dL/d(h_t, c_t)||`, the
  whole state).

The state gradients come from zero perturbations added to every state the cell emits (`s_t + e_t`, `e_t = 0`):
`dL/de_t` equals `dL/ds_t`, and all of them come out of the same backward pass as the input gradients. Norms are
taken per sequence and averaged over the batches and seeds (a new weight initialisation, new inputs and a new
read-out per seed); computation is in float64 by default so that gradients of 1e-300 are still resolved.

Summary per configuration and quantity: the fitted decay per step (slope of log10 norm against steps back; the
gradient shrinks by a factor 10**slope per step) and the horizon, the first number of steps back at which the
norm falls below 1e-6 of its value at the last step (and, for exploding configurations, the first at which it
exceeds 1e6 times that value).

Example:

>>> curves = gradient_flow(["simple_rnn(tanh)", "lstm"], units=32, sequence_length=200, seeds=(0, 1))
>>> print(format_summary(curves))                           # doctest: +SKIP
>>> write_outputs(curves, "runs/diagnostics/gradients")     # PNG + CSV + summary.txt

Command line (`python -m seqtasks.diagnostics.gradients --help`):

    python -m seqtasks.diagnostics.gradients --cells "simple_rnn(tanh)" "simple_rnn(relu)" lstm gru --steps 1000
    python -m seqtasks.diagnostics.gradients --workdir runs/text_generation --steps 300
    python -m seqtasks.diagnostics.gradients --cells lstm gru --workdir runs/a runs/b --inputs real_inputs.npy
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import logging
import math
import os
import re
import sys
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from seqtasks.errors import ConfigError, SeqtasksError
from seqtasks.layers import RNN, Bidirectional, RecurrentStack, get_cell_class, recurrent_loop

DEFAULT_CELLS = ("simple_rnn(tanh)", "simple_rnn(relu)", "lstm", "gru", "simple_rnn(relu, gain=1.5)")
QUANTITIES = ("input", "hidden", "state")
THRESHOLD = 1e-6
INITIALIZERS = ("orthogonal", "identity", "glorot_uniform", "random_normal")
DEFAULT_OUT = "runs/diagnostics/gradients"
_SPEC_HELP = (
    "cell specs look like simple_rnn(tanh), simple_rnn(relu, gain=2), lstm, gru, lstm(unit_forget_bias=false), "
    "gru(reset_after=false); options: activation, init=orthogonal|identity|glorot_uniform|random_normal "
    "(recurrent initialiser), gain=FLOAT (scales the recurrent kernel)"
)


# ------------------------------------------------------------------------------------------ cell specs


@dataclass(frozen=True)
class CellSpec:
    """A cell configuration to measure.

    Args:
        cell_type: `"simple_rnn"`, `"lstm"` or `"gru"`.
        activation: The cell activation (None: the cell's default, tanh).
        init: Recurrent initialiser: `"orthogonal"` (the cells' default), `"identity"` (for LSTM/GRU the identity
            fills the first gate block), `"glorot_uniform"` or `"random_normal"`.
        gain: Factor applied to the initialised recurrent kernel (e.g. 2 for an exploding ReLU network).
        options: Other cell arguments, e.g. `(("unit_forget_bias", False),)`.
        text: The label shown in plots and tables (default: the canonical spec).
    """

    cell_type: str
    activation: str | None = None
    init: str = "orthogonal"
    gain: float = 1.0
    options: tuple[tuple[str, Any], ...] = ()
    text: str = ""

    @property
    def label(self) -> str:
        if self.text:
            return self.text
        args = [self.activation] if self.activation else []
        if self.init != "orthogonal":
            args.append(f"init={self.init}")
        if self.gain != 1.0:
            args.append(f"gain={self.gain:g}")
        args += [f"{k}={str(v).lower()}" for k, v in self.options]
        return f"{self.cell_type}({', '.join(args)})" if args else self.cell_type

    def build_cell(self, units: int, input_dim: int, seed: int, dtype: str = "float64"):
        """A freshly initialised cell (seeded) with built weights."""
        cell_class = get_cell_class(self.cell_type)
        kwargs: dict[str, Any] = dict(self.options)
        if self.activation:
            kwargs["activation"] = self.activation
        recurrent = {
            "orthogonal": keras.initializers.Orthogonal(seed=seed + 1),
            "identity": keras.initializers.Identity(),
            "glorot_uniform": keras.initializers.GlorotUniform(seed=seed + 1),
            "random_normal": keras.initializers.RandomNormal(stddev=1.0 / math.sqrt(units), seed=seed + 1),
        }[self.init]
        cell = cell_class(
            units,
            kernel_initializer=keras.initializers.GlorotUniform(seed=seed),
            recurrent_initializer=recurrent,
            dtype=dtype,
            **kwargs,
        )
        cell.build((None, input_dim))
        if self.gain != 1.0:
            cell.recurrent_kernel.assign(cell.recurrent_kernel * self.gain)
        return cell


def _parse_bool(key: str, value: str, text: str) -> bool:
    if value.lower() in ("true", "1", "yes"):
        return True
    if value.lower() in ("false", "0", "no"):
        return False
    raise ConfigError(f"cell spec {text!r}: {key} must be true or false, got {value!r}")


def parse_cell_spec(text: str | CellSpec) -> CellSpec:
    """Parses `"simple_rnn(relu, gain=2)"`-style text (see the module docstring) into a `CellSpec`."""
    if isinstance(text, CellSpec):
        return text
    match = re.fullmatch(r"\s*([A-Za-z_]+)\s*(?:\((.*)\))?\s*", text)
    if not match:
        raise ConfigError(f"cell spec {text!r} is not understood; {_SPEC_HELP}")
    cell_type = match.group(1).lower()
    if cell_type not in ("simple_rnn", "lstm", "gru"):
        raise ConfigError(f"cell spec {text!r}: unknown cell type {cell_type!r}; {_SPEC_HELP}")
    activation, init, gain, options = None, "orthogonal", 1.0, []
    items = [s.strip() for s in (match.group(2) or "").split(",") if s.strip()]
    for position, item in enumerate(items):
        key, value = (item.split("=", 1) if "=" in item else ("activation" if position == 0 else "", item))
        key, value = key.strip().lower(), value.strip()
        if key == "activation":
            activation = value
        elif key == "init":
            if value not in INITIALIZERS:
                raise ConfigError(f"cell spec {text!r}: init must be one of {', '.join(INITIALIZERS)}, got {value!r}")
            init = value
        elif key == "gain":
            try:
                gain = float(value)
            except ValueError:
                raise ConfigError(f"cell spec {text!r}: gain must be a number, got {value!r}") from None
        elif key == "unit_forget_bias" and cell_type == "lstm" or key == "reset_after" and cell_type == "gru":
            options.append((key, _parse_bool(key, value, text)))
        else:
            raise ConfigError(f"cell spec {text!r}: unknown option {item!r}; {_SPEC_HELP}")
    if activation is not None:
        from seqtasks.layers.validation import check_activation

        try:
            check_activation("activation", activation)
        except ValueError:
            raise ConfigError(
                f"cell spec {text!r}: unknown activation {activation!r}; use a Keras activation name "
                "(tanh, relu, silu, ...)"
            ) from None
    spec = CellSpec(cell_type, activation, init, gain, tuple(options))
    return CellSpec(cell_type, activation, init, gain, tuple(options), text=spec.label)


# ----------------------------------------------------------------------------------------- measurement


def _state_sizes(cell) -> list[int]:
    size = cell.state_size
    return list(size) if isinstance(size, (list, tuple)) else [size]


def per_step_gradient_norms(cell, inputs, readout):
    """Exact per-sequence gradient norms of `L = sum_b readout . h_T[b]` for one batch.

    Args:
        cell: A built seqtasks (or Keras-contract) cell whose output is its first state.
        inputs: `(batch, T, features)` tensor in the cell's dtype.
        readout: `(units,)` read-out vector in the cell's dtype.

    Returns:
        Three `(batch, T)` tensors `(input, hidden, state)` of gradient norms, indexed by steps back (column 0 is
        the last step, column T - 1 the first).
    """
    sizes = _state_sizes(cell)
    features = int(inputs.shape[-1])
    batch, steps = tf.shape(inputs)[0], tf.shape(inputs)[1]
    # Zero perturbations of every emitted state ride along as extra input features, so the loop is the layers'
    # own `recurrent_loop` and one backward pass yields input and state gradients together.
    zeros = tf.zeros(tf.stack([batch, steps, sum(sizes)]), inputs.dtype)
    packed = tf.concat([inputs, zeros], axis=-1)
    with tf.GradientTape() as tape:
        tape.watch(packed)

        def step(p_t, states):
            parts = tf.split(p_t, [features] + sizes, axis=-1)
            _, new_states = cell.call(parts[0], list(states), training=False)
            new_states = [s + e for s, e in zip(new_states, parts[1:], strict=True)]
            return new_states[0], new_states

        initial = [tf.zeros(tf.stack([batch, s]), inputs.dtype) for s in sizes]
        last, _, _ = recurrent_loop(step, packed, initial, return_sequences=False, output_size=sizes[0])
        loss = tf.reduce_sum(last * readout)
    grad = tf.reverse(tape.gradient(loss, packed), axis=[1])
    g_input, g_state = grad[..., :features], grad[..., features:]
    return _norm(g_input), _norm(g_state[..., : sizes[0]]), _norm(g_state)


def _norm(g):
    """Euclidean norm over the last axis, scaled first so that squaring neither underflows nor overflows
    (`tf.norm` squares: in float64 it returns 0 below ~1e-154 and inf above ~1e154)."""
    scale = tf.reduce_max(tf.abs(g), axis=-1, keepdims=True)
    safe = tf.where(scale > 0, scale, tf.ones_like(scale))
    return scale[..., 0] * tf.norm(g / safe, axis=-1)


@dataclass
class FlowCurve:
    """Mean gradient norms of one configuration, indexed by steps back (index 0 = the last step)."""

    label: str
    norms: dict[str, np.ndarray]
    samples: int
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def steps(self) -> int:
        return len(self.norms["input"])

    def summary(self, quantity: str = "hidden", threshold: float = THRESHOLD) -> dict[str, Any]:
        return decay_summary(self.norms[quantity], threshold)


def decay_summary(norms: np.ndarray, threshold: float = THRESHOLD) -> dict[str, Any]:
    """Fitted decay and horizons of a norm curve indexed by steps back.

    Returns:
        `norm_last` (the norm at 0 steps back), `slope` (least-squares slope of log10 norm per step back over the
        finite, non-zero points), `factor` (10**slope: the change per step), `horizon` (first steps-back count with
        norm < threshold * norm_last, or None within the measured span; an underflow to 0 counts as below) and
        `explode_horizon` (first count with norm > norm_last / threshold or not finite, or None).
    """
    norms = np.asarray(norms, np.float64)
    k = np.arange(len(norms))
    first = norms[0]
    ok = np.isfinite(norms) & (norms > 0)
    slope = float(np.polyfit(k[ok], np.log10(norms[ok]), 1)[0]) if ok.sum() >= 2 else float("nan")
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = norms / first
    below = np.nonzero(np.isfinite(rel) & (rel < threshold))[0]
    above = np.nonzero(~np.isfinite(norms) | (rel > 1.0 / threshold))[0]
    return {
        "norm_last": float(first),
        "slope": slope,
        "factor": float(10.0**slope) if math.isfinite(slope) else float("nan"),
        "horizon": int(below[0]) if len(below) else None,
        "explode_horizon": int(above[0]) if len(above) else None,
        "steps": len(norms),
    }


def measure_cell(cell, inputs: Sequence[np.ndarray], readouts: Sequence[np.ndarray],
                 fn=None) -> tuple[dict[str, np.ndarray], int]:
    """Sums of per-sequence gradient norms of `cell` over several batches (each with its own read-out).

    Args:
        cell: The cell to measure.
        inputs: Batches `(batch, T, features)`.
        readouts: One read-out vector `(units,)` per batch.
        fn: Optional `gradient_norms_function(cell)` to reuse (the cell's variables may have been reassigned).

    Returns:
        `({quantity: sum over sequences (T,)}, number of sequences)`.
    """
    fn = fn or gradient_norms_function(cell)
    dtype = cell.compute_dtype
    totals = {q: 0.0 for q in QUANTITIES}
    count = 0
    for x, w in zip(inputs, readouts, strict=True):
        with _quiet_tracing():
            out = fn(tf.constant(x, dtype), tf.constant(w, dtype))
        for q, value in zip(QUANTITIES, out, strict=True):
            totals[q] = totals[q] + value.numpy().sum(axis=0)
        count += x.shape[0]
    return totals, count


@contextlib.contextmanager
def _quiet_tracing():
    # One traced function per measured cell is by design; TensorFlow's "frequent retracing" warning is noise here.
    logger = tf.get_logger()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def gradient_norms_function(cell):
    """`per_step_gradient_norms` of `cell` compiled with `tf.function` (traced once per input shape)."""
    return tf.function(lambda x, w: per_step_gradient_norms(cell, x, w), reduce_retracing=True)


def _readout(rng: np.random.Generator, units: int) -> np.ndarray:
    w = rng.standard_normal(units)
    return w / np.linalg.norm(w)


InputFn = Callable[[np.random.Generator, tuple[int, int, int]], np.ndarray]


def gaussian_inputs(std: float = 1.0) -> InputFn:
    """Input draws `N(0, std^2)` of a requested `(batch, T, features)` shape."""
    return lambda rng, shape: std * rng.standard_normal(shape)


def inputs_from_array(array: np.ndarray) -> InputFn:
    """Input draws taken from `array` `(N, T0, features)`: random rows, cut to the requested T (T <= T0)."""
    array = np.asarray(array, np.float32)
    if array.ndim != 3:
        raise ConfigError(f"input sequences must have shape (N, T, features), got {array.shape}")

    def draw(rng, shape):
        batch, steps, features = shape
        if steps > array.shape[1] or features != array.shape[2]:
            raise ConfigError(
                f"input sequences of shape {array.shape} cannot give inputs of T={steps} and {features} features; "
                "use a smaller --steps or sequences of the right width"
            )
        return array[rng.integers(0, array.shape[0], batch), :steps]

    return draw


def gradient_flow(
    cells: Sequence[str | CellSpec] = DEFAULT_CELLS,
    *,
    units: int = 64,
    sequence_length: int = 200,
    input_dim: int = 8,
    batch_size: int = 16,
    num_batches: int = 1,
    seeds: Sequence[int] = (0, 1, 2),
    input_std: float = 1.0,
    input_fn: InputFn | None = None,
    dtype: str = "float64",
    verbose: bool = False,
) -> list[FlowCurve]:
    """Measures the gradient flow of freshly initialised cell configurations.

    Args:
        cells: Cell specs (`"simple_rnn(tanh)"`, `"lstm"`, ... or `CellSpec`s).
        units: Units of every cell.
        sequence_length: T, number of steps.
        input_dim: Width of the random inputs.
        batch_size: Sequences per batch.
        num_batches: Batches per seed.
        seeds: One weight initialisation, input draw and read-out per seed.
        input_std: Standard deviation of the Gaussian inputs.
        input_fn: Draws the inputs instead (see `gaussian_inputs`, `inputs_from_array`).
        dtype: `"float64"` (default; resolves gradients down to ~1e-300) or `"float32"`.
        verbose: Print a line per configuration.

    Returns:
        One `FlowCurve` per configuration, in order.
    """
    _check_sizes(units=units, sequence_length=sequence_length, input_dim=input_dim, batch_size=batch_size,
                 num_batches=num_batches)
    if not seeds:
        raise ConfigError("gradient_flow needs at least one seed")
    draw = input_fn or gaussian_inputs(input_std)
    if input_fn is not None:
        input_std = float("nan")
    curves = []
    for spec in (parse_cell_spec(c) for c in cells):
        totals = {q: np.zeros(sequence_length) for q in QUANTITIES}
        count = 0
        cell, fn = None, None
        for seed in seeds:
            fresh = spec.build_cell(units, input_dim, seed, dtype)
            if cell is None:
                cell, fn = fresh, gradient_norms_function(fresh)
            else:  # same traced function, new weights
                cell.set_weights(fresh.get_weights())
            rng = np.random.default_rng([seed, 7])
            xs = [draw(rng, (batch_size, sequence_length, input_dim)) for _ in range(num_batches)]
            ws = [_readout(rng, units) for _ in range(num_batches)]
            sums, n = measure_cell(cell, xs, ws, fn)
            for q in QUANTITIES:
                totals[q] += sums[q]
            count += n
        curve = FlowCurve(spec.label, {q: totals[q] / count for q in QUANTITIES}, count,
                          {"units": units, "input_dim": input_dim, "input_std": input_std, "dtype": dtype})
        curves.append(curve)
        if verbose:
            s = curve.summary("hidden")
            print(f"  {spec.label}: hidden decay {s['slope']:+.4f} log10/step, horizon {_fmt_horizon(s)}", flush=True)
    return curves


def _check_sizes(**sizes: int) -> None:
    for key, value in sizes.items():
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ConfigError(f"{key} must be a positive integer, got {value!r}")


# ----------------------------------------------------------------------------------------- trained runs


def _clone_cell(cell, input_dim: int, dtype: str):
    """A copy of a trained cell in `dtype`, with the same weights."""
    config = {**cell.get_config(), "dtype": dtype}
    clone = type(cell).from_config(config)
    clone.build((None, input_dim))
    clone.set_weights([np.asarray(w) for w in cell.get_weights()])
    return clone


def _directions(layer) -> list[tuple[str, RNN]]:
    if isinstance(layer, Bidirectional):
        return [("forward", layer.forward_layer), ("backward", layer.backward_layer)]
    return [("", layer)]


def _walk(layer, prefix: str = ""):
    """Yields `(path, layer)` for every RecurrentStack and every recurrent layer outside one."""
    path = f"{prefix}/{layer.name}" if prefix else layer.name
    if isinstance(layer, (RecurrentStack, RNN, Bidirectional)):
        yield path, layer
        return
    children = layer.layers if isinstance(layer, keras.Model) else layer._flatten_layers(include_self=False,
                                                                                         recursive=False)
    for child in children:
        yield from _walk(child, path)


def _embedding_std(model) -> float | None:
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, keras.layers.Embedding):
            return float(np.sqrt(np.mean(np.square(np.asarray(layer.embeddings)))))
    return None


def _layer_input_dim(layer) -> int:
    rnn = _directions(layer)[0][1]
    return int(rnn.cell.kernel.shape[0])


def recurrent_layer_inputs(model, sequence_length: int, batch_size: int, rng: np.random.Generator,
                           input_fn: InputFn) -> list[tuple[str, Any, np.ndarray]]:
    """Every recurrent cell of `model` with an input batch for it, `[(label, cell, inputs (B, T, D)), ...]`.

    The first layer of each `RecurrentStack` (and every recurrent layer outside a stack) gets inputs drawn by
    `input_fn` (e.g. `gaussian_inputs(1.0)`); the upper layers of a stack get what the layers below output for
    those inputs (residual connections included), so they are measured on realistic inputs. A backward direction
    gets its input in its own processing order (time reversed).
    """
    found = []
    for path, layer in _walk(model):
        layers = layer.rnn_layers if isinstance(layer, RecurrentStack) else [layer]
        x = input_fn(rng, (batch_size, sequence_length, _layer_input_dim(layers[0]))).astype(np.float32)
        for i, sub in enumerate(layers):
            for direction, rnn in _directions(sub):
                seq = x[:, ::-1] if rnn.go_backwards else x
                label = "/".join(p for p in (path if sub is layer else f"{path}/{sub.name}", direction) if p)
                found.append((label, rnn.cell, np.ascontiguousarray(seq)))
            if i + 1 < len(layers):
                result = sub(tf.constant(x), training=False)
                out = (result[0] if isinstance(result, (list, tuple)) else result).numpy()
                if layer.residual and out.shape[-1] == x.shape[-1]:
                    out = out + x
                x = out
    return found


def trained_run_flow(
    workdir: str | os.PathLike,
    *,
    sequence_length: int = 200,
    batch_size: int = 16,
    num_batches: int = 1,
    seeds: Sequence[int] = (0, 1, 2),
    input_std: float | None = None,
    input_fn: InputFn | None = None,
    dtype: str = "float64",
    verbose: bool = False,
) -> list[FlowCurve]:
    """Measures the gradient flow of every recurrent cell of a trained run (its best weights).

    Args:
        workdir: A `seqtasks train` run directory.
        sequence_length: T.
        batch_size, num_batches, seeds: Random input batches (a new draw and read-out per seed; the weights are the
            run's).
        input_std: Standard deviation of the Gaussian inputs of the first recurrent layer; None: the RMS of the
            model's embedding matrix when it has one (what token inputs look like), else 1.
        input_fn: Draws the first layer's inputs instead (see `gaussian_inputs`, `inputs_from_array`).
        dtype: Computation dtype (the trained weights are copied into it).
        verbose: Print what is measured.

    Returns:
        One `FlowCurve` per recurrent cell (one per direction of a bidirectional layer), labelled by its path.
    """
    from seqtasks.runtime import load_trained

    _check_sizes(sequence_length=sequence_length, batch_size=batch_size, num_batches=num_batches)
    _, model = load_trained(workdir)
    if input_std is None:
        input_std = _embedding_std(model) or 1.0
    if input_fn is None:
        input_fn = gaussian_inputs(input_std)
    else:
        input_std = float("nan")
    totals: dict[str, dict[str, np.ndarray]] = {}
    counts: dict[str, int] = {}
    cells: dict[str, Any] = {}
    for seed in seeds:
        rng = np.random.default_rng([seed, 11])
        per_layer = [recurrent_layer_inputs(model, sequence_length, batch_size, rng, input_fn)
                     for _ in range(num_batches)]
        if not per_layer[0]:
            raise SeqtasksError(f"run {workdir} has no seqtasks recurrent layers to measure")
        for j, (label, cell, _) in enumerate(per_layer[0]):
            if label not in cells:
                clone = _clone_cell(cell, int(cell.kernel.shape[0]), dtype)
                cells[label] = (clone, gradient_norms_function(clone))
            xs = [batches[j][2] for batches in per_layer]
            ws = [_readout(rng, cell.units) for _ in range(num_batches)]
            clone, fn = cells[label]
            sums, n = measure_cell(clone, xs, ws, fn)
            acc = totals.setdefault(label, {q: np.zeros(sequence_length) for q in QUANTITIES})
            for q in QUANTITIES:
                acc[q] += sums[q]
            counts[label] = counts.get(label, 0) + n
    curves = []
    for label, acc in totals.items():
        cell = cells[label][0]
        curves.append(FlowCurve(f"{label} ({type(cell).__name__})", {q: acc[q] / counts[label] for q in QUANTITIES},
                                counts[label], {"units": cell.units, "input_std": input_std, "dtype": dtype}))
        if verbose:
            s = curves[-1].summary("hidden")
            print(f"  {curves[-1].label}: hidden decay {s['slope']:+.4f} log10/step, horizon {_fmt_horizon(s)}")
    return curves


# -------------------------------------------------------------------------------------------- outputs


def _fmt_horizon(s: dict[str, Any]) -> str:
    if s["horizon"] is not None:
        return str(s["horizon"])
    if s["explode_horizon"] is not None:
        return f"none (grows x1e6 by {s['explode_horizon']})"
    return f"> {s['steps'] - 1}"


def summary_rows(curves: Sequence[FlowCurve], threshold: float = THRESHOLD) -> list[dict[str, Any]]:
    """One row per (configuration, quantity): `config, quantity, norm_last, slope, factor, horizon, ...`."""
    rows = []
    for curve in curves:
        for q in QUANTITIES:
            if q == "state" and np.allclose(curve.norms["state"], curve.norms["hidden"]):
                continue  # the state is h alone (SimpleRNN, GRU)
            rows.append({"config": curve.label, "quantity": q, **curve.summary(q, threshold)})
    return rows


def format_summary(curves: Sequence[FlowCurve], threshold: float = THRESHOLD) -> str:
    """The printed summary table."""
    rows = summary_rows(curves, threshold)
    width = max([len(r["config"]) for r in rows] + [6])
    head = (f"{'config':<{width}}  {'grad wrt':<8}  {'norm@0':>9}  {'log10/step':>10}  {'x per step':>10}  "
            f"horizon (norm < {threshold:g} x norm@0)")
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(f"{r['config']:<{width}}  {r['quantity']:<8}  {r['norm_last']:>9.3g}  {r['slope']:>+10.4f}  "
                     f"{r['factor']:>10.4f}  {_fmt_horizon(r)}")
    return "\n".join(lines)


def write_csv(curves: Sequence[FlowCurve], path: str | os.PathLike) -> Path:
    """Long-format CSV: `config, steps_back, <quantity>_norm, <quantity>_relative` for every quantity."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["config", "steps_back"] + [f"{q}_norm" for q in QUANTITIES] + [f"{q}_relative" for q in QUANTITIES])
        for curve in curves:
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = {q: curve.norms[q] / curve.norms[q][0] for q in QUANTITIES}
            for k in range(curve.steps):
                writer.writerow([curve.label, k] + [f"{curve.norms[q][k]:.6e}" for q in QUANTITIES]
                                + [f"{rel[q][k]:.6e}" for q in QUANTITIES])
    return path


def plot_curves(curves: Sequence[FlowCurve], path: str | os.PathLike, threshold: float = THRESHOLD,
                title: str = "") -> Path:
    """PNG with two log-scale panels (input and hidden-state gradients relative to the last step)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=True)
    names = {"input": "input x_{T-k}", "hidden": "hidden state h_{T-k}"}
    for ax, q in zip(axes, ("input", "hidden"), strict=True):
        for curve in curves:
            with np.errstate(divide="ignore", invalid="ignore"):
                rel = curve.norms[q] / curve.norms[q][0]
            rel = np.where(np.isfinite(rel) & (rel > 0), rel, np.nan)
            ax.plot(np.arange(curve.steps), rel, label=curve.label, linewidth=1.4)
        ax.axhline(threshold, color="grey", linestyle="--", linewidth=0.8)
        ax.text(0, threshold, f" {threshold:g}", va="bottom", color="grey", fontsize=8)
        ax.set_yscale("log")
        ax.set_xlabel("steps back k")
        ax.set_title(f"||dL_T / d {names[q]}|| relative to k = 0")
        ax.grid(True, which="major", alpha=0.3)
    axes[0].set_ylabel("relative gradient norm (log scale)")
    axes[1].legend(fontsize=8, loc="best")
    if title:
        fig.suptitle(textwrap.fill(title, 150), fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_outputs(curves: Sequence[FlowCurve], out_dir: str | os.PathLike, name: str = "gradient_flow",
                  title: str = "") -> dict[str, Path]:
    """Writes `<name>.png`, `<name>.csv` and `<name>_summary.txt` into `out_dir`; returns their paths."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    summary = out_dir / f"{name}_summary.txt"
    summary.write_text((title + "\n" if title else "") + format_summary(curves) + "\n", encoding="utf-8")
    return {
        "png": plot_curves(curves, out_dir / f"{name}.png", title=title),
        "csv": write_csv(curves, out_dir / f"{name}.csv"),
        "summary": summary,
    }


# ----------------------------------------------------------------------------------------- command line


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of `seqtasks diagnose gradients` / `python -m seqtasks.diagnostics.gradients`."""
    p.add_argument("--cells", nargs="+", metavar="SPEC", help=f"cell configurations (default: {' '.join(DEFAULT_CELLS)}); {_SPEC_HELP}")
    p.add_argument("--workdir", nargs="+", metavar="RUN", help="measure the recurrent layers of these trained runs "
                   "(with --cells too: all in one plot; lines of runs are labelled by run folder)")
    p.add_argument("--units", type=int, default=64, help="units of every cell (--cells only; default 64)")
    p.add_argument("--steps", type=int, default=200, help="sequence length T (default 200)")
    p.add_argument("--input-dim", type=int, default=8, help="input width (--cells only; default 8)")
    p.add_argument("--input-std", type=float, help="std of the Gaussian inputs (default 1; for --workdir the RMS of "
                   "the model's embedding if it has one)")
    p.add_argument("--inputs", metavar="NPY", help="a .npy array (N, T, features) of real (first-layer) inputs to draw "
                   "from instead of Gaussian inputs; sets the input width of --cells")
    p.add_argument("--batch-size", type=int, default=16, help="sequences per batch (default 16)")
    p.add_argument("--batches", type=int, default=1, help="batches per seed (default 1)")
    p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="seeds (default 0 1 2)")
    p.add_argument("--dtype", choices=("float64", "float32"), default="float64")
    p.add_argument("--out", default=DEFAULT_OUT, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--name", default="gradient_flow", help="file name stem of the outputs")


def run_from_args(args: argparse.Namespace) -> list[FlowCurve]:
    """Runs the gradient-flow diagnosis for parsed arguments and writes/prints its outputs."""
    common = {"sequence_length": args.steps, "batch_size": args.batch_size, "num_batches": args.batches,
              "seeds": tuple(args.seeds), "dtype": args.dtype, "verbose": True}
    input_fn, input_dim = None, args.input_dim
    if args.inputs:
        path = Path(args.inputs)
        if not path.is_file():
            raise ConfigError(f"--inputs {path} does not exist; give a .npy file of shape (N, T, features)")
        array = np.load(path)
        input_fn = inputs_from_array(array)
        input_dim = int(array.shape[-1])
    source = f"inputs from {args.inputs}" if args.inputs else None
    curves: list[FlowCurve] = []
    titles = []
    if args.cells or not args.workdir:
        cells = args.cells or list(DEFAULT_CELLS)
        std = 1.0 if args.input_std is None else args.input_std
        print(f"Gradient flow of freshly initialised cells, units={args.units}, T={args.steps}:", flush=True)
        curves += gradient_flow(cells, units=args.units, input_dim=input_dim, input_std=std, input_fn=input_fn, **common)
        titles.append(f"fresh cells: units={args.units}, " + (source or f"Gaussian inputs (std {std:g}, width {input_dim})"))
    if args.workdir:
        runs = list(args.workdir)
        found_all = []
        for run in runs:
            print(f"Gradient flow of the recurrent layers of {run}, T={args.steps}:", flush=True)
            found = trained_run_flow(run, input_std=args.input_std, input_fn=input_fn, **common)
            if len(runs) > 1 or args.cells:
                for curve in found:
                    curve.label = f"{Path(run).name}: {curve.label}"
            found_all += found
        curves += found_all
        titles.append("trained: " + (source or f"Gaussian inputs (std {found_all[0].info['input_std']:.3g})"))
    title = (f"T={args.steps}, {curves[0].samples} sequences (seeds {' '.join(map(str, args.seeds))}); "
             + "; ".join(titles))
    paths = write_outputs(curves, args.out, args.name, title)
    print()
    print(format_summary(curves))
    print()
    for kind, path in paths.items():
        print(f"{kind}: {path}")
    return curves


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m seqtasks.diagnostics.gradients`."""
    from seqtasks.diagnostics.commands import run_module

    return run_module(
        "gradients", "Measure vanishing/exploding gradients through time.",
        add_arguments,
        run_from_args,
        argv,
    )


if __name__ == "__main__":
    sys.exit(main())
