"""Optimizer and learning-rate schedule from the `train` config section, gradient clipping included."""

from __future__ import annotations

import math

import keras
import tensorflow as tf

from seqtasks.config import TrainConfig
from seqtasks.errors import ConfigError


@keras.saving.register_keras_serializable(package="seqtasks")
class WarmupSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `learning_rate`, then constant, cosine or exponential decay.

    Args:
        learning_rate: Peak learning rate.
        warmup_steps: Steps of linear warm-up from 0 (0 = none).
        decay: `"constant"`, `"cosine"` or `"exponential"`.
        decay_steps: Cosine: steps from the end of warm-up to the floor. Exponential: steps per `decay_rate`.
        decay_rate: Exponential decay factor per `decay_steps`.
        min_lr_ratio: Floor of the cosine decay as a fraction of `learning_rate`.
        time_progress: Optional scalar float variable in [0, 1] (elapsed fraction of a time budget, kept up to
            date by the training loop); the cosine then follows `max(step progress, time progress)`, so a
            time-limited run ends annealed however fast the machine is.
    """

    def __init__(
        self,
        learning_rate: float,
        warmup_steps: int = 0,
        decay: str = "constant",
        decay_steps: int = 1,
        decay_rate: float = 0.5,
        min_lr_ratio: float = 0.0,
        time_progress=None,
    ):
        self.time_progress = time_progress
        self.learning_rate = float(learning_rate)
        self.warmup_steps = int(warmup_steps)
        self.decay = decay
        self.decay_steps = max(int(decay_steps), 1)
        self.decay_rate = float(decay_rate)
        self.min_lr_ratio = float(min_lr_ratio)

    def __call__(self, step):
        step = keras.ops.cast(step, "float32")
        lr = self.learning_rate
        after = keras.ops.maximum(step - self.warmup_steps, 0.0)
        if self.decay == "cosine":
            progress = keras.ops.minimum(after / self.decay_steps, 1.0)
            if self.time_progress is not None:
                progress = keras.ops.maximum(progress, keras.ops.cast(self.time_progress, "float32"))
            cosine = 0.5 * (1.0 + keras.ops.cos(math.pi * progress))
            value = lr * (self.min_lr_ratio + (1.0 - self.min_lr_ratio) * cosine)
        elif self.decay == "exponential":
            value = lr * keras.ops.power(self.decay_rate, after / self.decay_steps)
        else:
            value = lr * keras.ops.ones_like(step)
        if self.warmup_steps > 0:
            value = value * keras.ops.minimum((step + 1.0) / self.warmup_steps, 1.0)
        return value

    def get_config(self):
        # The time-progress variable is runtime state, not configuration.
        return {
            "learning_rate": self.learning_rate,
            "warmup_steps": self.warmup_steps,
            "decay": self.decay,
            "decay_steps": self.decay_steps,
            "decay_rate": self.decay_rate,
            "min_lr_ratio": self.min_lr_ratio,
        }


def clipping_kwargs(train: TrainConfig) -> dict[str, float]:
    """Keras optimizer clipping arguments from `train.clip_global_norm / clip_norm / clip_value`.

    Keras accepts only one of `clipnorm` and `global_clipnorm`; setting both in the config is an error.
    """
    for key in ("clip_global_norm", "clip_norm", "clip_value"):
        if getattr(train, key) < 0:
            raise ConfigError(f"train.{key} must be >= 0 (0 = off), got {getattr(train, key)}")
    if train.clip_global_norm > 0 and train.clip_norm > 0:
        raise ConfigError(
            "train.clip_global_norm and train.clip_norm are both set; choose one "
            "(e.g. --set train.clip_global_norm=0 to clip each tensor by train.clip_norm)"
        )
    kwargs = {}
    if train.clip_global_norm > 0:
        kwargs["global_clipnorm"] = train.clip_global_norm
    if train.clip_norm > 0:
        kwargs["clipnorm"] = train.clip_norm
    if train.clip_value > 0:
        kwargs["clipvalue"] = train.clip_value
    return kwargs


def make_schedule(train: TrainConfig, total_steps: int) -> WarmupSchedule:
    """The learning-rate schedule; cosine decays over `decay_steps` or, when 0, the rest of `total_steps` and,
    with a time budget (`max_minutes`), over that budget too (whichever ends first)."""
    if train.learning_rate <= 0:
        raise ConfigError(f"train.learning_rate must be > 0, got {train.learning_rate}")
    decay_steps = train.decay_steps
    time_progress = None
    if decay_steps <= 0:
        decay_steps = max(total_steps - train.warmup_steps, 1)
        if train.lr_schedule == "cosine" and train.max_minutes > 0:
            time_progress = tf.Variable(0.0, trainable=False, dtype=tf.float32, name="time_progress")
    return WarmupSchedule(
        train.learning_rate,
        warmup_steps=train.warmup_steps,
        decay=train.lr_schedule,
        decay_steps=decay_steps,
        decay_rate=train.decay_rate,
        min_lr_ratio=train.min_lr_ratio,
        time_progress=time_progress,
    )


def make_optimizer(train: TrainConfig, total_steps: int) -> keras.optimizers.Optimizer:
    """Builds the configured optimizer with its schedule and gradient clipping.

    Args:
        train: The `train` config section.
        total_steps: Planned number of optimizer steps (for the cosine schedule).
    """
    schedule = make_schedule(train, total_steps)
    kwargs = clipping_kwargs(train)
    if train.ema_momentum > 0:
        kwargs.update(use_ema=True, ema_momentum=train.ema_momentum)
    if train.optimizer == "adam":
        return keras.optimizers.Adam(schedule, **kwargs)
    if train.optimizer == "adamw":
        return keras.optimizers.AdamW(schedule, weight_decay=train.weight_decay, **kwargs)
    if train.optimizer == "rmsprop":
        return keras.optimizers.RMSprop(schedule, **kwargs)
    if train.optimizer == "sgd":
        return keras.optimizers.SGD(schedule, momentum=0.9, **kwargs)
    raise ConfigError(f"train.optimizer must be one of adam, adamw, rmsprop, sgd, got {train.optimizer!r}")


def time_progress_variable(optimizer: keras.optimizers.Optimizer) -> tf.Variable | None:
    """The time-budget progress variable of the optimizer's schedule, if it has one."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)
    schedule = getattr(inner, "_learning_rate", None)
    return getattr(schedule, "time_progress", None)
