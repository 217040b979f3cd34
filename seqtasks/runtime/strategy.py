"""Choosing a `tf.distribute` strategy from `train.strategy`, and who may write files."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

import tensorflow as tf

from seqtasks.errors import ConfigError

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


def make_strategy(name: str = "auto") -> tf.distribute.Strategy:
    """Returns the strategy for `train.strategy`.

    Args:
        name: `auto` (MirroredStrategy over the visible GPUs when there are two or more, else the default
            strategy), `default` (one device), `mirrored` (MirroredStrategy over all GPUs, or over the logical
            CPU devices when there is no GPU) or `multi_worker` (MultiWorkerMirroredStrategy; needs `TF_CONFIG`).

    Returns:
        A `tf.distribute.Strategy`. Build and compile the model inside `strategy.scope()`.
    """
    if name not in STRATEGIES:
        raise ConfigError(f"train.strategy must be one of {', '.join(STRATEGIES)}, got {name!r}")
    if name == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise ConfigError(
                "train.strategy=multi_worker needs the TF_CONFIG environment variable on every worker "
                '(e.g. {"cluster": {"worker": ["host1:12345", "host2:12345"]}, "task": {"type": "worker", '
                '"index": 0}}); see the README section on several machines'
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    gpus = tf.config.list_logical_devices("GPU")
    if name == "auto":
        if len(gpus) > 1:
            return tf.distribute.MirroredStrategy()
        return tf.distribute.get_strategy()
    if name == "mirrored":
        if gpus:
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    return tf.distribute.get_strategy()


def is_chief(strategy: tf.distribute.Strategy | None = None) -> bool:
    """True on the worker that writes checkpoints, logs and exports (always true outside multi-worker)."""
    resolver = getattr(getattr(strategy, "extended", None), "_cluster_resolver", None)
    if resolver is not None and getattr(resolver, "task_type", None):
        task_type, task_id = resolver.task_type, resolver.task_id
        if task_type == "chief":
            return True
        cluster = resolver.cluster_spec().as_dict()
        return task_type == "worker" and task_id == 0 and "chief" not in cluster
    tf_config = json.loads(os.environ.get("TF_CONFIG", "{}") or "{}")
    task = tf_config.get("task", {})
    if not task:
        return True
    if task.get("type") == "chief":
        return True
    return task.get("type") == "worker" and int(task.get("index", 0)) == 0 and "chief" not in tf_config.get(
        "cluster", {}
    )


def write_dir(path: Path, strategy: tf.distribute.Strategy | None) -> Path:
    """Where this worker writes what belongs at `path`: `path` itself on the chief, a scratch folder elsewhere.

    Under MultiWorkerMirroredStrategy every worker must take part in saving a checkpoint (the variables are
    synchronised collectively), but only the chief's copy is kept; the others write to a temporary folder.
    """
    if is_chief(strategy):
        return path
    return Path(tempfile.mkdtemp(prefix=f"seqtasks-worker-{path.name}-"))
