"""Run configuration: dataclass schemas, YAML files merged left to right, and `--set section.key=value`.

Every task's configuration is a `RunConfig` subclass with the sections `data / model / train / eval / export`
(a task may add one more, e.g. text generation's `predict`). Values come, in increasing precedence, from the
dataclass defaults, then each YAML file in the order given, then each `--set` override. Unknown keys and values
of the wrong type are reported as one-line `ConfigError`s that name the key, where it came from and the closest
valid key, e.g.::

    error: unknown config key 'train.lerning_rate' (from --set); did you mean 'train.learning_rate'?

Example:

>>> cfg = load_config(TextGenerationConfig, ["recipes/configs/text_generation.yaml"], ["train.epochs=3"])
>>> save_config(cfg, "runs/x/config.yaml")
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import yaml

from seqtasks.errors import ConfigError

SECTIONS = ("data", "model", "train", "eval", "export")


@dataclass
class DataConfig:
    """Where the data comes from (shared fields; tasks subclass to add their own)."""

    # Name of a registered dataset (see `seqtasks.data.list_datasets()`), or "" to use `path` only.
    dataset: str = ""
    # The user's own data: files and/or folders. When set, it replaces `dataset`.
    path: list[str] = field(default_factory=list)
    # Local folder holding original dataset files for offline use ("" = $SEQTASKS_DATA_DIR, if set).
    data_dir: str = ""
    # Where tensorflow-datasets keeps prepared datasets ("" = tfds' default, ~/tensorflow_datasets).
    tfds_data_dir: str = ""


@dataclass
class ModelConfig:
    """Model hyper-parameters; every task defines its own subclass."""


@dataclass
class TrainConfig:
    """Training loop, optimizer, distribution and checkpointing (shared by every task)."""

    # auto: MirroredStrategy over all visible GPUs if there is more than one, else the default strategy;
    # default: one device; mirrored: MirroredStrategy (all GPUs, else CPU); multi_worker: needs TF_CONFIG.
    strategy: Literal["auto", "default", "mirrored", "multi_worker"] = "auto"
    # Global batch size (split across replicas by the strategy).
    batch_size: int = 64
    # Maximum number of epochs.
    epochs: int = 10
    # Steps per epoch; 0 = one pass over the task's training dataset.
    steps_per_epoch: int = 0
    # Wall-clock budget in minutes for the whole run, resumes included; 0 = no budget.
    max_minutes: float = 0.0
    # Optimizer.
    optimizer: Literal["adam", "adamw", "rmsprop", "sgd"] = "adam"
    learning_rate: float = 1e-3
    # Learning-rate schedule after warm-up: constant, cosine (to min_lr_ratio * lr over decay_steps) or
    # exponential (multiplied by decay_rate every decay_steps).
    lr_schedule: Literal["constant", "cosine", "exponential"] = "constant"
    warmup_steps: int = 0
    # Steps of the decay; 0 = epochs * steps_per_epoch for cosine.
    decay_steps: int = 0
    decay_rate: float = 0.5
    min_lr_ratio: float = 0.0
    # Decoupled weight decay (adamw only).
    weight_decay: float = 0.0
    # Exponential moving average of the weights (Polyak averaging), updated every step: validation, the best
    # checkpoint, evaluation and export use the average (e.g. 0.99); checkpoints/ holds the raw weights. Without a
    # validation set the best is chosen by the raw weights' training loss. 0 = off.
    ema_momentum: float = 0.0
    # Gradient clipping (0 = off): global norm over all gradients, per-tensor norm, or per-value.
    clip_global_norm: float = 5.0
    clip_norm: float = 0.0
    clip_value: float = 0.0
    # Mixed precision: off, mixed_float16 (GPU), mixed_bfloat16 (CPUs with native bfloat16, TPUs) or auto
    # (mixed_float16 on a GPU, mixed_bfloat16 on a CPU with AVX512-BF16/AMX, else off).
    mixed_precision: Literal["off", "auto", "mixed_float16", "mixed_bfloat16"] = "off"
    # Compile train/eval steps with XLA. CPU: works, but measured slower for recurrent loops (hence off). GPU:
    # Keras compiles without XLA while an LSTM/GRU may take the cuDNN path (`supports_jit=False`: XLA cannot
    # compile CudnnRNNV3); XLA then applies only to models whose recurrent layers run seqtasks' loop.
    jit_compile: bool = False
    # Seed of data order, window offsets, dropout and initialisation.
    seed: int = 42
    # Save a checkpoint every this many optimizer steps (and at every epoch end); 0 = epoch ends only.
    checkpoint_every_steps: int = 200
    # Number of periodic checkpoints kept.
    keep_checkpoints: int = 3
    # Stop when the validation metric has not improved for this many epochs; 0 = never stop early.
    early_stopping_patience: int = 3
    # Log the training loss to TensorBoard / metrics.json every this many steps.
    log_every_steps: int = 20
    # Keras progress output: auto (bar on a terminal, one line per epoch otherwise), bar, epoch, none.
    verbose: Literal["auto", "bar", "epoch", "none"] = "auto"


@dataclass
class EvalConfig:
    """Evaluation settings (shared fields; tasks subclass to add their own)."""

    # Batch size of evaluation.
    batch_size: int = 64


@dataclass
class ExportConfig:
    """Export settings (SavedModel, LiteRT or ONNX)."""

    # Export folder; relative paths are inside the run directory.
    dir: str = "export"
    # Export the best model at the end of `seqtasks train`.
    after_train: bool = True
    # saved_model (raw inputs in, e.g. text), litert (dir/model.tflite) or onnx (dir/model.onnx); litert and onnx
    # come with dir/export.json and dir/seqtasks_portable.py (pre/post-processing with numpy, no TensorFlow).
    format: Literal["saved_model", "litert", "onnx"] = "saved_model"
    # Weights of a litert/onnx export: none (float32), float16 or dynamic_int8 (int8 weights, float activations).
    quantize: Literal["none", "float16", "dynamic_int8"] = "none"

    def check(self) -> None:
        if self.quantize != "none" and self.format == "saved_model":
            raise ConfigError(
                f"config key 'export.quantize' ({self.quantize}) applies to export.format litert or onnx, "
                "not saved_model; set export.format or leave export.quantize at none"
            )


@dataclass
class RunConfig:
    """A whole run configuration; each task subclasses it with its own section types."""

    data: DataConfig = field(default_factory=DataConfig)
    model: ModelConfig = field(default_factory=ModelConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
    export: ExportConfig = field(default_factory=ExportConfig)


C = TypeVar("C", bound=RunConfig)


# ----------------------------------------------------------------------------------------------- loading


def load_config(
    config_class: type[C],
    files: Sequence[str | os.PathLike] = (),
    overrides: Sequence[str] = (),
    base: Mapping[str, Any] | None = None,
) -> C:
    """Builds a config from defaults, an optional base mapping, YAML files (left to right) and `--set` strings.

    Args:
        config_class: The task's `RunConfig` subclass.
        files: YAML files; later files override earlier ones.
        overrides: `section.key=value` strings; they override the files.
        base: Optional nested mapping applied before the files (e.g. a run's saved config on resume).

    Returns:
        A fully typed `config_class` instance.

    Raises:
        ConfigError: for an unreadable file, an unknown key or a value of the wrong type.
    """
    if not (isinstance(config_class, type) and issubclass(config_class, RunConfig)):
        raise TypeError(f"config_class must be a RunConfig subclass, got {config_class!r}")
    config = config_class()
    if base:
        _apply_mapping(config, base, source="saved run config")
    for path in files:
        _apply_mapping(config, read_yaml(path), source=str(path))
    for item in overrides:
        apply_override(config, item)
    check_sections(config)
    return config


def check_sections(config: RunConfig) -> None:
    """Runs the `check()` method of every section that has one: the checks across keys of a section (e.g. two
    shares of the data that must leave some for training), after every file and `--set` is applied. A section
    raises a one-line ConfigError; ranges of single keys are `VALUE_RANGES`, checked as each value is set."""
    for f in dataclasses.fields(config):
        check = getattr(getattr(config, f.name), "check", None)
        if callable(check):
            check()


def read_yaml(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a YAML config file into a mapping, with one-line errors for the usual mistakes."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"config file {path} does not exist; pass an existing YAML file to --config")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as e:
        raise ConfigError(f"config file {path} is not UTF-8 text ({e.reason}); save it as UTF-8") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(f"config file {path}{where}: invalid YAML ({problem})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError(
            f"config file {path} must hold a mapping of sections (data, model, train, eval, export), "
            f"got a {type(data).__name__}"
        )
    return data


def apply_override(config: RunConfig, item: str) -> None:
    """Applies one `section.key=value` string to `config` in place (the value is converted to the key's type)."""
    if "=" not in item:
        raise ConfigError(f"--set {item!r} is not of the form section.key=value (e.g. train.epochs=5)")
    dotted, raw = item.split("=", 1)
    dotted = dotted.strip()
    parts = dotted.split(".")
    if len(parts) != 2 or not all(parts):
        raise ConfigError(f"--set key {dotted!r} must be section.key (e.g. train.learning_rate), got {dotted!r}")
    section_name, key = parts
    section = _get_section(config, section_name, "--set")
    hints = _field_types(type(section))
    if key not in hints:
        _unknown_key(f"{section_name}.{key}", _all_keys(config), "--set")
    if hints[key] is str:
        # Text is taken as written (a prompt like "ROMEO:" is not YAML); quotes allow escapes such as "\n".
        text = raw.strip()
        value = _parse_scalar(text) if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"" else raw
        value = _convert(str, value, f"{section_name}.{key}", "--set", from_string=True)
    else:
        value = _convert(hints[key], _parse_scalar(raw), f"{section_name}.{key}", "--set", from_string=True)
    setattr(section, key, value)


def _apply_mapping(config: RunConfig, data: Mapping[str, Any], source: str) -> None:
    for section_name, values in data.items():
        section = _get_section(config, str(section_name), source)
        if values is None:
            continue
        if not isinstance(values, Mapping):
            raise ConfigError(
                f"{source}: section '{section_name}' must be a mapping of keys, got {type(values).__name__}"
            )
        hints = _field_types(type(section))
        for key, value in values.items():
            dotted = f"{section_name}.{key}"
            if key not in hints:
                _unknown_key(dotted, _all_keys(config), source)
            setattr(section, key, _convert(hints[key], value, dotted, source, from_string=False))


def _get_section(config: RunConfig, name: str, source: str) -> Any:
    names = [f.name for f in dataclasses.fields(config)]
    if name not in names:
        close = difflib.get_close_matches(name, names, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; valid sections: {', '.join(names)}"
        raise ConfigError(f"unknown config section '{name}' (from {source}){hint}")
    return getattr(config, name)


def _all_keys(config: RunConfig) -> list[str]:
    keys = []
    for f in dataclasses.fields(config):
        keys.extend(f"{f.name}.{k}" for k in _field_types(type(getattr(config, f.name))))
    return keys


def _unknown_key(dotted: str, valid: list[str], source: str) -> typing.NoReturn:
    close = difflib.get_close_matches(dotted, valid, n=1, cutoff=0.5)
    if not close:
        # A right key in the wrong section is a common slip: match the key part alone.
        key = dotted.split(".")[-1]
        by_key = {k.split(".")[-1]: k for k in valid}
        near = difflib.get_close_matches(key, list(by_key), n=1, cutoff=0.6)
        close = [by_key[near[0]]] if near else []
    hint = f"; did you mean '{close[0]}'?" if close else ""
    raise ConfigError(f"unknown config key '{dotted}' (from {source}){hint}")


def _field_types(cls: type) -> dict[str, Any]:
    hints = typing.get_type_hints(cls)
    return {f.name: hints[f.name] for f in dataclasses.fields(cls)}


def _parse_scalar(raw: str) -> Any:
    raw = raw.strip()
    try:
        return yaml.safe_load(raw) if raw else ""
    except yaml.YAMLError:
        return raw


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, Sequence):
        return f"a list of {_type_name(typing.get_args(tp)[0])}"
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_type_name(a) for a in typing.get_args(tp))
    return {int: "an integer", float: "a number", bool: "true or false", str: "a string"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _convert(tp: Any, value: Any, dotted: str, source: str, from_string: bool) -> Any:
    try:
        converted = _coerce(tp, value, from_string)
    except (TypeError, ValueError):
        raise ConfigError(
            f"config key '{dotted}' (from {source}) expects {_type_name(tp)}, got {value!r}"
        ) from None
    check_value(dotted, converted, source)
    return converted


# ---------------------------------------------------------------------------------------------- values

# Allowed ranges by key name, shared by every task's schema (a key means the same thing in every task):
# key -> (low, high, low_inclusive, high_inclusive). Keys ending in "dropout" must lie in [0, 1).
_MIN_1 = (1, None, True, False)
_MIN_0 = (0, None, True, False)
_POSITIVE = (0, None, False, False)
_FRACTION = (0, 1, True, False)
VALUE_RANGES: dict[str, tuple[float | None, float | None, bool, bool]] = {
    "batch_size": _MIN_1, "predict_batch_size": _MIN_1, "epochs": _MIN_1,
    "units": _MIN_1, "encoder_units": _MIN_1, "decoder_units": _MIN_1, "attention_units": _MIN_0,
    "num_layers": _MIN_1, "encoder_layers": _MIN_1, "decoder_layers": _MIN_1, "embedding_dim": _MIN_1,
    "seq_len": _MIN_1, "chunk_len": _MIN_1, "vocab_size": _MIN_1, "source_vocab_size": _MIN_1,
    "target_vocab_size": _MIN_1, "beam_size": _MIN_1, "beam_width": _MIN_1, "num_samples": _MIN_1,
    "learning_rate": _POSITIVE, "steps_per_epoch": _MIN_0, "max_minutes": _MIN_0, "warmup_steps": _MIN_0,
    "decay_steps": _MIN_0, "weight_decay": _MIN_0, "clip_global_norm": _MIN_0, "clip_norm": _MIN_0,
    "clip_value": _MIN_0, "checkpoint_every_steps": _MIN_0, "keep_checkpoints": _MIN_1,
    "early_stopping_patience": _MIN_0, "log_every_steps": _MIN_0, "min_lr_ratio": (0, 1, True, True),
    "max_examples": _MIN_0, "min_char_count": _MIN_1, "validation_fraction": _FRACTION, "validation_split": _FRACTION, "label_smoothing": _FRACTION, "ema_momentum": _FRACTION,
    # memory (generated data: sizes of the problems and of the fixed sets)
    "sequence_length": _MIN_1, "copy_length": _MIN_1, "num_symbols": _MIN_1, "validation_samples": _MIN_1,
    "test_samples": _MIN_1,
    # Speech: audio kept in MiB, longest utterance in seconds (0 = all), test share, each speed factor.
    "audio_cache_mb": _MIN_0, "max_seconds": _MIN_0, "test_fraction": _FRACTION, "speed_perturbation": (0, 2, False, True),
    "num_buckets": _MIN_1, "max_length": _MIN_1,
    # Speech, synthetic sentences (espeak-ng): how many, and the limits of each rate (words/min) and pitch.
    "synthetic_sentences": _MIN_0, "synthetic_rates": (80, 450, True, True), "synthetic_pitches": (0, 99, True, True),
    # Speech, lexicon decoding: weight of the word counts' log-probability.
    "lexicon_lm_weight": _MIN_0, "lexicon_top": _MIN_0, "lexicon_min_pair_count": _MIN_1,
    # Speech, vocal tract length perturbation: largest relative stretch of the mel axis.
    "frequency_warp": (0, 0.5, True, False),
}


def check_value(dotted: str, value: Any, source: str = "config") -> None:
    """Raises a one-line ConfigError when a number is not finite or outside its key's range (`VALUE_RANGES`).

    Called for every value a file or `--set` gives, in every task's schema, so that a bad value stops the
    command before anything runs instead of failing deep inside TensorFlow (or training to NaN). Each item of a
    list is checked against its key's range.
    """
    if isinstance(value, list):
        for item in value:
            check_value(dotted, item, source)
        return
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return
    where = f"config key '{dotted}' (from {source})"
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(f"{where} must be a finite number, got {value}; give a number")
    key = dotted.split(".")[-1]
    bounds = (0, 1, True, False) if key.endswith("dropout") else VALUE_RANGES.get(key)
    if bounds is None:
        return
    low, high, low_in, high_in = bounds
    too_low = low is not None and (value < low if low_in else value <= low)
    too_high = high is not None and (value > high if high_in else value >= high)
    if not (too_low or too_high):
        return
    if high is None:
        wanted = f"at least {low}" if low_in else f"greater than {low}"
    else:
        wanted = f"in {'[' if low_in else '('}{low}, {high}{']' if high_in else ')'}"
    raise ConfigError(f"{where} must be {wanted}, got {value}; fix the value")


def _coerce(tp: Any, value: Any, from_string: bool) -> Any:
    origin = typing.get_origin(tp)
    if origin is Literal:
        choices = typing.get_args(tp)
        if value in choices:
            return value
        if isinstance(value, str) and value.lower() in choices:
            return value.lower()
        raise ValueError
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        if value is None and type(None) in args:
            return None
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(arg, value, from_string)
            except (TypeError, ValueError):
                continue
        raise ValueError
    if origin in (list, Sequence):
        (item_type,) = typing.get_args(tp)
        if isinstance(value, str) and from_string:
            value = [v for v in (s.strip() for s in value.split(",")) if v]
        elif isinstance(value, (str, int, float)) and not isinstance(value, bool):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise ValueError
        return [_coerce(item_type, v, from_string) for v in value]
    if tp is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "yes", "on", "1"):
            return True
        if isinstance(value, str) and value.lower() in ("false", "no", "off", "0"):
            return False
        raise ValueError
    if tp is int:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            return int(value.replace("_", ""))
        raise ValueError
    if tp is float:
        if isinstance(value, bool):
            raise ValueError
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            # PyYAML reads "1e-3" (no dot) as a string; accept it as the number it obviously is.
            return float(value)
        raise ValueError
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise ValueError
    if tp is Any:
        return value
    raise TypeError(f"unsupported config field type {tp!r}")


# ----------------------------------------------------------------------------------------------- saving


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """The config as a nested plain mapping (sections -> keys -> values)."""
    return dataclasses.asdict(config)


def save_config(config: RunConfig, path: str | os.PathLike, header: str | None = None) -> Path:
    """Writes the resolved config as YAML (atomically: a crash never leaves half a file)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump(config_to_dict(config), sort_keys=False, default_flow_style=False)
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)
    return path


def flatten(config: RunConfig) -> dict[str, Any]:
    """`{'train.epochs': 10, ...}`: every key of the config with its dotted name."""
    out = {}
    for section, values in config_to_dict(config).items():
        for key, value in values.items():
            out[f"{section}.{key}"] = value
    return out


def diff_keys(a: RunConfig, b: RunConfig, keys: Iterable[str]) -> list[str]:
    """The dotted keys among `keys` whose values differ between `a` and `b`."""
    fa, fb = flatten(a), flatten(b)
    return [k for k in keys if fa.get(k) != fb.get(k)]
