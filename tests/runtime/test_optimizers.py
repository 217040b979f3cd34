"""Optimizer construction: clipping as a one-line choice, learning-rate schedules."""

from __future__ import annotations

import numpy as np
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


def test_cosine_follows_the_time_budget_when_it_ends_first():
    from seqtasks.runtime.optimizers import make_schedule, time_progress_variable

    cfg = TrainConfig(lr_schedule="cosine", learning_rate=1.0, max_minutes=10.0, min_lr_ratio=0.0)
    schedule = make_schedule(cfg, total_steps=1000)
    assert float(schedule(0)) == pytest.approx(1.0)
    schedule.time_progress.assign(0.5)  # half the time budget used after only 10 steps
    assert float(schedule(10)) == pytest.approx(0.5, abs=1e-6)
    assert float(schedule(900)) == pytest.approx(0.5 * (1 + np.cos(np.pi * 0.9)), abs=1e-6)  # steps ahead
    opt = make_optimizer(cfg, 1000)
    assert time_progress_variable(opt) is not None
    assert make_schedule(TrainConfig(lr_schedule="cosine"), 100).time_progress is None  # no budget
