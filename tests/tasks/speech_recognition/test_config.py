"""The recipe's YAML restates the dataclass defaults, and feature settings convert to librosa parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqtasks.config import config_to_dict, load_config, read_yaml
from seqtasks.errors import ConfigError
from seqtasks.tasks.speech_recognition.config import (
    SpeechModel,
    SpeechRecognitionConfig,
    feature_kwargs,
    specaugment_kwargs,
)

YAML = Path(__file__).resolve().parents[3] / "recipes" / "configs" / "speech_recognition.yaml"


def test_yaml_equals_dataclass_defaults():
    from_yaml = config_to_dict(load_config(SpeechRecognitionConfig, [YAML]))
    assert from_yaml == config_to_dict(SpeechRecognitionConfig())
    # Every key of every section is written out in the YAML (with its comment).
    written = read_yaml(YAML)
    for section, values in config_to_dict(SpeechRecognitionConfig()).items():
        assert set(written[section]) == set(values), section


def test_feature_kwargs_in_samples():
    kwargs = feature_kwargs(SpeechModel(), 8000)
    assert (kwargs["win_length"], kwargs["hop_length"], kwargs["n_fft"]) == (200, 80, 256)
    assert feature_kwargs(SpeechModel(), 16000)["n_fft"] == 512
    with pytest.raises(ConfigError, match="model.n_fft=128 is shorter"):
        feature_kwargs(SpeechModel(n_fft=128), 8000)
    assert specaugment_kwargs(SpeechModel(specaugment=False)) is None


def test_unknown_key_is_one_line_error():
    with pytest.raises(ConfigError, match="did you mean 'model.units'"):
        load_config(SpeechRecognitionConfig, overrides=["model.unit=3"])


def test_vctk_finetune_config_loads_over_the_default():
    from seqtasks.config import load_config
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig

    config = load_config(SpeechRecognitionConfig, [YAML, YAML.with_name("speech_recognition_vctk.yaml")])
    assert config.data.test_fraction == 0.1 and config.data.speed_perturbation == [0.9, 1.0, 1.1]
    assert config.model.units == 128 and config.eval.beam_width == 16  # untouched keys keep the default
