"""Workarounds for Keras 3.15 `fit` under MultiWorkerMirroredStrategy (applied only to such runs).

1. `fit` learns the model's input shapes by all-reducing the first distributed batch with `strategy.reduce`, which
   fails eagerly on PerReplica values ("Attempt to convert a value (PerReplica...)"). We hand it a local batch of
   the same shapes instead.
2. Keras reduces every per-replica training log under a multi-worker strategy with
   `strategy.reduce("MEAN", v, axis=0)`, which fails for the scalar losses and metrics ("Invalid reduction
   dimension 0 for input with 0 dimensions"). We reduce scalars over replicas with `axis=None` (the mean the
   logs are meant to show) and leave everything else to Keras.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

_PATCHED = False


def is_multi_worker(strategy: Any) -> bool:
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def build_from_local_batch(model: keras.Model, sample: Any) -> None:
    """Workaround 1: `model` builds from `sample` (a batch of the task's undistributed dataset)."""
    original = model._maybe_symbolic_build

    def build(iterator=None, data_batch=None):
        return original(iterator=None, data_batch=sample if data_batch is None else data_batch)

    model._maybe_symbolic_build = build


def patch_scalar_reduction() -> None:
    """Workaround 2 (idempotent)."""
    global _PATCHED
    if _PATCHED:
        return
    from keras.src import tree
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original = tf_trainer.reduce_per_replica

    def reduce_per_replica(values, strategy, reduction):
        if not is_multi_worker(strategy) or reduction not in ("auto", "mean"):
            return original(values, strategy, reduction)

        def reduce(v):
            local = strategy.experimental_local_results(v)[0] if isinstance(v, tf.distribute.DistributedValues) else v
            if getattr(local, "shape", None) is not None and local.shape.rank == 0:
                return strategy.reduce("MEAN", v, axis=None)
            return original(v, strategy, reduction)

        return tree.map_structure(reduce, values)

    tf_trainer.reduce_per_replica = reduce_per_replica
    _PATCHED = True
