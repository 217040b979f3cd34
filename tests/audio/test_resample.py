"""In-graph FFT resampling equals scipy.signal.resample."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.signal
import tensorflow as tf

from seqtasks.audio.resample import resample


@pytest.mark.parametrize(
    "n, orig, target", [(1000, 16000, 8000), (1001, 16000, 8000), (999, 8000, 16000), (1234, 44100, 8000),
                        (800, 11025, 16000)]
)
def test_matches_scipy(n, orig, target):
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    ours = resample(x, orig, target).numpy()
    expected = scipy.signal.resample(x.astype(np.float64), int(round(n * target / orig)))
    assert ours.shape == expected.shape
    np.testing.assert_allclose(ours, expected, atol=1e-4)


def test_same_rate_and_empty_are_identity_and_rate_is_a_tensor():
    fn = tf.function(
        lambda x, r: resample(x, r, 8000),
        input_signature=[tf.TensorSpec([None], tf.float32), tf.TensorSpec([], tf.int32)],
    )
    x = np.arange(10, dtype=np.float32)
    np.testing.assert_array_equal(fn(x, 8000).numpy(), x)
    assert fn(np.zeros(0, np.float32), 16000).shape == (0,)
    assert fn(np.zeros(16000, np.float32), 16000).shape == (8000,)
    with pytest.raises(tf.errors.InvalidArgumentError, match="positive"):
        fn(x, 0)
