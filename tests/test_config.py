"""Config schemas: YAML merge order, --set overrides with types, one-line errors for unknown keys."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from seqtasks.config import RunConfig, config_to_dict, load_config, read_yaml, save_config
from seqtasks.errors import ConfigError
from seqtasks.tasks.text_generation import TextGenerationConfig

ROOT = Path(__file__).resolve().parents[1]


def test_default_yaml_equals_dataclass_defaults():
    from_yaml = load_config(TextGenerationConfig, [ROOT / "recipes/configs/text_generation.yaml"])
    assert config_to_dict(from_yaml) == config_to_dict(TextGenerationConfig())


def test_gpu_yaml_loads_on_top_of_defaults():
    cfg = load_config(
        TextGenerationConfig,
        [ROOT / "recipes/configs/text_generation.yaml", ROOT / "recipes/configs/text_generation_gpu.yaml"],
    )
    assert cfg.model.cell_type == "lstm" and cfg.model.num_layers == 2 and cfg.train.mixed_precision == "mixed_float16"
    assert cfg.data.dataset == "tiny_shakespeare"  # untouched keys keep the defaults


def test_files_merge_left_to_right_and_set_wins(tmp_path):
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("train:\n  epochs: 3\n  batch_size: 16\nmodel:\n  units: 32\n")
    b.write_text("train:\n  epochs: 5\n")
    cfg = load_config(TextGenerationConfig, [a, b], ["train.batch_size=8", "train.learning_rate=1e-3"])
    assert cfg.train.epochs == 5  # b overrides a
    assert cfg.train.batch_size == 8  # --set overrides both
    assert cfg.model.units == 32  # a's value survives where b is silent
    assert cfg.train.learning_rate == pytest.approx(1e-3)  # "1e-3" is a float, not YAML's string


def test_set_converts_types():
    cfg = load_config(
        TextGenerationConfig,
        overrides=["export.after_train=false", "data.path=a.txt, b.txt", "train.max_minutes=2", "model.cell_type=LSTM"],
    )
    assert cfg.export.after_train is False
    assert cfg.data.path == ["a.txt", "b.txt"]
    assert cfg.train.max_minutes == 2.0 and isinstance(cfg.train.max_minutes, float)
    assert cfg.model.cell_type == "lstm"


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.lerning_rate=0.1", "unknown config key 'train.lerning_rate' (from --set); did you mean 'train.learning_rate'?"),
        ("trian.epochs=3", "unknown config section 'trian' (from --set); did you mean 'train'?"),
        ("data.batch_size=3", "did you mean 'train.batch_size'?"),
        ("train.epochs=three", "config key 'train.epochs' (from --set) expects an integer, got 'three'"),
        ("model.cell_type=transformer", "expects one of 'lstm', 'gru', 'simple_rnn'"),
        ("train.epochs", "is not of the form section.key=value"),
        ("epochs=3", "must be section.key"),
    ],
)
def test_set_errors_are_one_line(override, expected):
    with pytest.raises(ConfigError) as info:
        load_config(TextGenerationConfig, overrides=[override])
    message = str(info.value)
    assert expected in message
    assert "\n" not in message


def test_unknown_key_in_file_names_file_and_key(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("model:\n  unit: 64\n")
    with pytest.raises(ConfigError, match=r"unknown config key 'model.unit' \(from .*bad.yaml\); did you mean 'model.units'\?"):
        load_config(TextGenerationConfig, [path])


def test_wrong_type_in_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  batch_size: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"'train.batch_size' \(from .*bad.yaml\) expects an integer"):
        load_config(TextGenerationConfig, [path])


def test_bad_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        read_yaml(tmp_path / "missing.yaml")
    broken = tmp_path / "broken.yaml"
    broken.write_text("train:\n  epochs: [1,\n")
    with pytest.raises(ConfigError, match=r"broken.yaml line \d+: invalid YAML"):
        read_yaml(broken)
    scalar = tmp_path / "scalar.yaml"
    scalar.write_text("3\n")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        read_yaml(scalar)


def test_save_and_reload_roundtrip(tmp_path):
    cfg = load_config(TextGenerationConfig, overrides=["train.epochs=7", "predict.prompt=ROMEO:", "data.dataset=\"a b\""])
    assert cfg.predict.prompt == "ROMEO:" and cfg.data.dataset == "a b"
    path = save_config(cfg, tmp_path / "run" / "config.yaml", header="resolved")
    assert path.read_text().startswith("# resolved\n")
    again = load_config(TextGenerationConfig, [path])
    assert config_to_dict(again) == config_to_dict(cfg)


def test_every_field_has_a_comment_in_default_yaml():
    text = (ROOT / "recipes/configs/text_generation.yaml").read_text().splitlines()
    for section in dataclasses.fields(TextGenerationConfig):
        for f in dataclasses.fields(getattr(TextGenerationConfig(), section.name)):
            idx = next(i for i, line in enumerate(text) if line.strip().startswith(f"{f.name}:"))
            assert text[idx - 1].strip().startswith("#"), f"{section.name}.{f.name} has no comment above it"


def test_base_runconfig_has_the_five_sections():
    assert [f.name for f in dataclasses.fields(RunConfig)] == ["data", "model", "train", "eval", "export"]


@pytest.mark.parametrize(
    "override, expected",
    [("train.batch_size=0", "'train.batch_size' (from --set) must be at least 1, got 0"),
     ("data.seq_len=0", "'data.seq_len' (from --set) must be at least 1, got 0"),
     ("model.units=0", "'model.units' (from --set) must be at least 1"),
     ("model.num_layers=0", "'model.num_layers' (from --set) must be at least 1"),
     ("model.dropout=1.5", "'model.dropout' (from --set) must be in [0, 1), got 1.5"),
     ("model.recurrent_dropout=-0.1", "must be in [0, 1)"),
     ("train.learning_rate=nan", "'train.learning_rate' (from --set) must be a finite number, got nan"),
     ("train.learning_rate=0", "must be greater than 0"),
     ("train.max_minutes=inf", "must be a finite number"),
     ("train.epochs=0", "'train.epochs' (from --set) must be at least 1, got 0")],
)
def test_bad_values_are_one_line_errors(override, expected):
    with pytest.raises(ConfigError) as info:
        load_config(TextGenerationConfig, overrides=[override])
    assert expected in str(info.value) and "\n" not in str(info.value)


def test_bad_values_in_files_and_every_task_schema(tmp_path):
    from seqtasks.config import check_value, flatten
    from seqtasks.tasks import get_task

    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  batch_size: 0\n")
    with pytest.raises(ConfigError, match=rf"'train.batch_size' \(from {bad}\) must be at least 1"):
        load_config(TextGenerationConfig, [bad])
    for name in ("text_generation", "sentiment", "translation", "speech_recognition", "memory"):
        cls = get_task(name).config_class
        for key, value in flatten(cls()).items():
            check_value(key, value)  # every default is valid
        with pytest.raises(ConfigError, match="must be at least 1"):
            load_config(cls, overrides=["train.batch_size=0"])  # one shared rule, every task
        if hasattr(cls().model, "dropout"):
            with pytest.raises(ConfigError, match=r"must be in \[0, 1\)"):
                load_config(cls, overrides=["model.dropout=1.5"])
