"""Samplers (greedy, temperature, top-k, top-p): choices, frequencies, argument checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.decoding.samplers import (
    GreedySampler,
    TemperatureSampler,
    TopKSampler,
    TopPSampler,
    get_sampler,
)


def test_samplers():
    logits = tf.constant([[0.0, 5.0, 1.0, -2.0], [3.0, 0.0, 0.0, 2.9]])
    np.testing.assert_array_equal(GreedySampler()(logits).numpy(), [1, 0])
    seed = tf.constant([1, 2])
    for _ in range(20):
        seed = seed + 1
        assert set(TopKSampler(2, temperature=5.0)(logits, seed).numpy()[:1]) <= {1, 2}
        assert TopPSampler(0.5)(logits, seed).numpy()[0] == 1  # the nucleus is the top character alone
    # Temperature sampling follows softmax(logits / T): check a frequency.
    draws = TemperatureSampler(1.0)(tf.repeat(tf.constant([[0.0, math.log(3.0)]]), 4000, axis=0), seed).numpy()
    assert 0.72 < draws.mean() < 0.78
    with pytest.raises(ValueError, match="`temperature`"):
        TemperatureSampler(0.0)
    with pytest.raises(ValueError, match="`k`"):
        TopKSampler(0)
    assert isinstance(get_sampler("top_p", 0.7, top_p=0.8), TopPSampler)
