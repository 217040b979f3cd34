"""Optimizer construction: clipping as a one-line choice, learning-rate schedules."""

from __future__ import annotations

import pytest

from seqtasks.config import TrainConfig
from seqtasks.errors import ConfigError
from seqtasks.runtime.optimizers import WarmupSchedule, clipping_kwargs, make_optimizer


def test_global_norm_clipping_is_on_by_default():
    opt = make_optimizer(TrainConfig(), total_steps=100)
    assert opt.global_clipnorm == 5.0 and opt.clipnorm is None and opt.clipvalue is None


def test_per_tensor_and_value_clipping():
    assert clipping_kwargs(TrainConfig(clip_global_norm=0, clip_norm=1.0)) == {"clipnorm": 1.0}
    assert clipping_kwargs(TrainConfig(clip_global_norm=0, clip_value=0.5)) == {"clipvalue": 0.5}
    assert clipping_kwargs(TrainConfig(clip_global_norm=0)) == {}
    opt = make_optimizer(TrainConfig(clip_global_norm=0, clip_norm=1.0), 10)
    assert opt.clipnorm == 1.0 and opt.global_clipnorm is None


def test_conflicting_clipping_is_a_config_error():
    with pytest.raises(ConfigError, match="choose one"):
        clipping_kwargs(TrainConfig(clip_global_norm=1.0, clip_norm=1.0))
    with pytest.raises(ConfigError, match="train.clip_value must be >= 0"):
        clipping_kwargs(TrainConfig(clip_value=-1))


@pytest.mark.parametrize("name", ["adam", "adamw", "rmsprop", "sgd"])
def test_every_optimizer_builds(name):
    opt = make_optimizer(TrainConfig(optimizer=name), 10)
    assert opt.global_clipnorm == 5.0


def test_schedules():
    warm = WarmupSchedule(1.0, warmup_steps=10)
    assert float(warm(0)) == pytest.approx(0.1) and float(warm(9)) == pytest.approx(1.0)
    assert float(warm(1000)) == pytest.approx(1.0)
    exp = WarmupSchedule(1.0, decay="exponential", decay_steps=100, decay_rate=0.5)
    assert float(exp(100)) == pytest.approx(0.5) and float(exp(200)) == pytest.approx(0.25)
    cos = WarmupSchedule(1.0, decay="cosine", decay_steps=100, min_lr_ratio=0.1)
    assert float(cos(0)) == pytest.approx(1.0) and float(cos(100)) == pytest.approx(0.1)
    assert float(cos(50)) == pytest.approx(0.55)
    with pytest.raises(ConfigError):
        make_optimizer(TrainConfig(learning_rate=0), 10)
