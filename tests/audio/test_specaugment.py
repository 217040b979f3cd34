"""Tests for seqtasks.audio.specaugment."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.audio.specaugment import SpecAugment


def test_identity_at_inference():
    x = tf.random.normal([2, 30, 8])
    aug = SpecAugment(freq_mask_param=4, time_mask_param=10, seed=0)
    np.testing.assert_array_equal(aug(x).numpy(), x.numpy())
    np.testing.assert_array_equal(aug(x, training=False).numpy(), x.numpy())


def test_masks_bounded_and_inside_valid_frames():
    aug = SpecAugment(freq_mask_param=3, num_freq_masks=1, time_mask_param=10, num_time_masks=1,
                      time_mask_ratio=0.5, mask_value=0.0, seed=3)
    lengths = tf.constant([100, 12])
    for _ in range(20):
        out = aug(tf.ones([2, 100, 16]), lengths, training=True).numpy()
        zero_channels = np.all(out == 0.0, axis=1)  # (batch, channels) fully masked channels
        assert zero_channels.sum(axis=1).max() <= 3
        zero_frames = np.all(out == 0.0, axis=2)  # (batch, frames) fully masked frames
        assert zero_frames[0].sum() <= 10
        assert zero_frames[1].sum() <= 6  # time_mask_ratio * length = 6
        assert not zero_frames[1, 12:].any()  # padding is never chosen as a time mask


def test_same_seed_same_masks_and_different_seed_differs():
    x = tf.ones([4, 60, 20])
    a = SpecAugment(freq_mask_param=6, time_mask_param=15, seed=7)(x, training=True).numpy()
    b = SpecAugment(freq_mask_param=6, time_mask_param=15, seed=7)(x, training=True).numpy()
    c = SpecAugment(freq_mask_param=6, time_mask_param=15, seed=8)(x, training=True).numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert (a == 0).any()


def test_config_round_trip_and_validation():
    aug = SpecAugment(freq_mask_param=5, num_freq_masks=1, time_mask_param=7, seed=2)
    assert SpecAugment.from_config(aug.get_config()).get_config() == aug.get_config()
    with pytest.raises(ValueError, match="freq_mask_param"):
        SpecAugment(freq_mask_param=-1)
    with pytest.raises(ValueError, match="time_mask_ratio"):
        SpecAugment(time_mask_ratio=1.5)
