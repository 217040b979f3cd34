"""The recipe's YAML restates the dataclass defaults, and feature settings convert to librosa parameters."""

from __future__ import annotations

from pathlib import Path

import pytest

from seqtasks.config import config_to_dict, load_config, read_yaml
from seqtasks.errors import ConfigError
from seqtasks.tasks.speech_recognition.config import (
    SpeechRecognitionConfig,
    SpeechRecognitionModelConfig,
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
    kwargs = feature_kwargs(SpeechRecognitionModelConfig(), 8000)
    assert (kwargs["win_length"], kwargs["hop_length"], kwargs["n_fft"]) == (200, 80, 256)
    assert feature_kwargs(SpeechRecognitionModelConfig(), 16000)["n_fft"] == 512
    with pytest.raises(ConfigError, match="model.n_fft=128 is shorter"):
        feature_kwargs(SpeechRecognitionModelConfig(n_fft=128), 8000)
    assert specaugment_kwargs(SpeechRecognitionModelConfig(specaugment=False)) is None


def test_unknown_key_is_one_line_error():
    with pytest.raises(ConfigError, match="did you mean 'model.units'"):
        load_config(SpeechRecognitionConfig, overrides=["model.unit=3"])


def test_vctk_config_loads_over_the_default():
    from seqtasks.config import load_config
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig

    config = load_config(SpeechRecognitionConfig, [YAML, YAML.with_name("speech_recognition_vctk.yaml")])
    assert config.data.test_fraction == 0.1 and config.data.speed_perturbation == [0.9, 1.0, 1.1]
    # The from-scratch 16 kHz recipe (synthetic sentences off: measured worse).
    assert (config.data.sample_rate, config.model.n_mels, config.model.freq_mask_width) == (16000, 80, 15)
    assert (config.data.synthetic_sentences, config.train.learning_rate, config.train.max_minutes) == (0, 0.002, 40.0)
    assert config.model.units == 128 and config.eval.beam_width == 16  # untouched keys keep the default
    # Chosen on the validation split (README): 20 ms CTC frames, four residual layers, the weight average, 40,000 words.
    assert (config.model.conv_time_strides, config.model.num_layers, config.model.residual) == ([2, 1], 4, True)
    assert config.train.ema_momentum == 0.99
    assert (config.eval.lexicon, config.eval.lexicon_top, config.eval.lexicon_lm_weight) == ("build", 40000, 1.5)


def test_librispeech_config_loads_and_keeps_a_ctc_frame_rate_for_fast_speech(tmp_path):
    from seqtasks.config import load_config
    from seqtasks.runtime.run_dir import RunDir
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig
    from seqtasks.tasks.speech_recognition.task import SpeechRecognitionTask

    config = load_config(SpeechRecognitionConfig, [YAML, YAML.with_name("speech_recognition_librispeech.yaml")])
    assert (config.data.dataset, config.data.sample_rate, config.model.n_mels) == ("librispeech", 16000, 80)
    task = SpeechRecognitionTask(config, RunDir.at(tmp_path / "run"))
    frames_per_second = task.output_frames(10 * 16000) / 10
    assert 24 <= frames_per_second <= 26  # 40 ms per CTC frame: room for ~20 characters per second


def test_cross_key_checks_of_phonemes_and_the_frequency_warp():
    from seqtasks.config import load_config

    with pytest.raises(ConfigError, match="model.frequency_warp"):
        load_config(SpeechRecognitionConfig, [], ["model.features=mfcc", "model.frequency_warp=0.1"])
    with pytest.raises(ConfigError, match="frequency_warp"):
        load_config(SpeechRecognitionConfig, [], ["model.frequency_warp=0.5"])
    with pytest.raises(ConfigError, match="phoneme_voice"):
        load_config(SpeechRecognitionConfig, [], ["data.targets=phonemes", "data.phoneme_voice=en gb"])
    config = load_config(SpeechRecognitionConfig, [], ["data.targets=phonemes", "model.frequency_warp=0.1"])
    assert config.data.targets == "phonemes" and config.model.frequency_warp == 0.1
