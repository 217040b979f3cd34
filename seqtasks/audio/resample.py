"""Sample-rate conversion in TensorFlow ops, for graphs that take audio at any rate (exported models).

Files read in Python go through `seqtasks.audio.io.load_audio` (librosa's soxr resampler). Inside a SavedModel
there is no librosa, so `resample` converts with the FFT method (the same as `scipy.signal.resample` and
librosa's `res_type="fft"`): the spectrum is cut or zero-extended to the new length, an ideal low-pass filter at
the lower Nyquist frequency. It treats the signal as periodic, so the first and last few milliseconds can
differ slightly from a streaming resampler; for speech features this is far below the features' own noise.
"""

from __future__ import annotations

import tensorflow as tf


def resampled_length(num_samples: tf.Tensor, orig_sample_rate: tf.Tensor, sample_rate: int) -> tf.Tensor:
    """`round(num_samples * sample_rate / orig_sample_rate)` as int32."""
    n = tf.cast(num_samples, tf.float64)
    ratio = tf.cast(sample_rate, tf.float64) / tf.cast(orig_sample_rate, tf.float64)
    return tf.cast(tf.round(n * ratio), tf.int32)


def resample(waveform: tf.Tensor, orig_sample_rate: tf.Tensor, sample_rate: int) -> tf.Tensor:
    """Resamples a 1-D float32 waveform from `orig_sample_rate` (a tensor: known only at run time) to `sample_rate`.

    Args:
        waveform: float32 `(samples,)`.
        orig_sample_rate: int scalar tensor, the rate of `waveform`.
        sample_rate: the wanted rate.

    Returns:
        float32 `(round(samples * sample_rate / orig_sample_rate),)`; the input itself when the rates are equal.
    """
    waveform = tf.convert_to_tensor(waveform, tf.float32)
    orig_sample_rate = tf.cast(orig_sample_rate, tf.int32)
    check = tf.debugging.assert_positive(orig_sample_rate, message="sample_rate must be a positive number of Hz")
    # Everything below waits for the check, so a bad rate always fails with its message, never inside tf.range.
    with tf.control_dependencies([check]):
        waveform = tf.identity(waveform)
        orig_sample_rate = tf.identity(orig_sample_rate)

    def convert():
        n = tf.shape(waveform)[0]
        m = resampled_length(n, orig_sample_rate, sample_rate)
        spectrum = tf.signal.rfft(waveform, fft_length=[n])
        bins_in = tf.shape(spectrum)[0]
        bins_out = m // 2 + 1
        keep = tf.minimum(bins_in, bins_out)
        spectrum = spectrum[:keep]
        # When the shorter length is even, its Nyquist bin stands for both the positive and the negative
        # frequency: upsampling splits it in two (x 0.5), downsampling folds the pair into one real bin (x 2),
        # exactly as scipy.signal.resample does.
        shorter = tf.minimum(n, m)
        at_nyquist = tf.logical_and(tf.equal(shorter % 2, 0), tf.equal(tf.range(keep), shorter // 2))
        factor = tf.where(m < n, tf.constant(2.0), tf.constant(0.5))
        scale = tf.where(tf.logical_and(at_nyquist, tf.not_equal(n, m)), factor, tf.constant(1.0))
        spectrum = spectrum * tf.cast(scale, tf.complex64)
        spectrum = tf.pad(spectrum, [[0, bins_out - keep]])
        out = tf.signal.irfft(spectrum, fft_length=[m])
        return out * (tf.cast(m, tf.float32) / tf.cast(tf.maximum(n, 1), tf.float32))

    same = tf.equal(orig_sample_rate, sample_rate)
    empty = tf.equal(tf.size(waveform), 0)
    return tf.cond(tf.logical_or(same, empty), lambda: waveform, convert)
