"""Log-mel and MFCC features computed with TensorFlow ops, so that they live inside an exported graph.

The parameters and the arithmetic follow librosa (`librosa.feature.melspectrogram`, `librosa.power_to_db`,
`librosa.feature.mfcc`) with `center=True` and `pad_mode="constant"` (librosa's defaults), so that features
computed here and features computed by librosa on the same waveform agree to float32 rounding; the test
`tests/audio/test_features.py` states the tolerance. The mel filterbank is built once in NumPy (the same
triangular filters as `librosa.filters.mel`, HTK or Slaney mel scale, optional Slaney area normalisation) and
becomes a constant of the graph.

Batches of waveforms padded with zeros at the end give, for every frame inside an utterance's true length,
the same values as the unpadded waveform: both librosa and this module pad with zeros.
"""

from __future__ import annotations

import math

import keras
import numpy as np
import tensorflow as tf

from seqtasks.layers.tracing import portable_target

_LOG_MODES = ("natural", "db")
_FEATURE_KINDS = ("log_mel", "mfcc")


def hz_to_mel(frequencies: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Converts Hz to mels on the HTK scale or the Slaney (Auditory Toolbox) scale, as librosa does."""
    f = np.asarray(frequencies, dtype=np.float64)
    if htk:
        return 2595.0 * np.log10(1.0 + f / 700.0)
    # Slaney: linear below 1 kHz (3 mels per 200 Hz), logarithmic above it.
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(
        f >= min_log_hz,
        min_log_mel + np.log(np.maximum(f, min_log_hz) / min_log_hz) / logstep,
        f / f_sp,
    )


def mel_to_hz(mels: np.ndarray | float, htk: bool = False) -> np.ndarray:
    """Inverse of `hz_to_mel`."""
    m = np.asarray(mels, dtype=np.float64)
    if htk:
        return 700.0 * (10.0 ** (m / 2595.0) - 1.0)
    f_sp = 200.0 / 3.0
    min_log_hz = 1000.0
    min_log_mel = min_log_hz / f_sp
    logstep = math.log(6.4) / 27.0
    return np.where(m >= min_log_mel, min_log_hz * np.exp(logstep * (m - min_log_mel)), f_sp * m)


def mel_filterbank(
    sample_rate: int,
    n_fft: int,
    n_mels: int = 80,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    norm: str | None = "slaney",
) -> np.ndarray:
    """Triangular mel filters, shape `(n_mels, 1 + n_fft // 2)`, float32.

    Args:
        sample_rate: audio sample rate in Hz.
        n_fft: FFT size.
        n_mels: number of mel bands.
        fmin: lowest band edge in Hz.
        fmax: highest band edge in Hz; `None` means `sample_rate / 2`.
        htk: use the HTK mel formula instead of Slaney's.
        norm: `"slaney"` divides each filter by its width in Hz (constant energy per band); `None` leaves the
            peaks at 1.
    """
    if fmax is None:
        fmax = sample_rate / 2.0
    if not 0.0 <= fmin < fmax <= sample_rate / 2.0 + 1e-6:
        raise ValueError(
            f"Received invalid mel band edges fmin={fmin}, fmax={fmax}: expected 0 <= fmin < fmax <= "
            f"sample_rate / 2 = {sample_rate / 2}."
        )
    if norm not in ("slaney", None):
        raise ValueError(f"Received an invalid value for argument `norm`, expected 'slaney' or None, got {norm!r}.")
    fft_freqs = np.fft.rfftfreq(n_fft, d=1.0 / sample_rate)
    mel_edges = mel_to_hz(np.linspace(hz_to_mel(fmin, htk), hz_to_mel(fmax, htk), n_mels + 2), htk)
    widths = np.diff(mel_edges)
    distances = mel_edges[:, None] - fft_freqs[None, :]
    rising = -distances[:-2] / widths[:-1, None]
    falling = distances[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    if norm == "slaney":
        weights *= (2.0 / (mel_edges[2 : n_mels + 2] - mel_edges[:n_mels]))[:, None]
    return weights.astype(np.float32)


def num_frames(num_samples: tf.Tensor | int, n_fft: int, hop_length: int) -> tf.Tensor:
    """Frames that a centred STFT produces for `num_samples` samples: `1 + (n + 2 * (n_fft // 2) - n_fft) // hop`."""
    n = tf.cast(num_samples, tf.int32)
    return 1 + tf.math.floordiv(n + 2 * (n_fft // 2) - n_fft, hop_length)


def power_spectrogram(
    waveform: tf.Tensor,
    n_fft: int = 400,
    hop_length: int = 160,
    win_length: int | None = None,
    power: float = 2.0,
) -> tf.Tensor:
    """|STFT|^power of `waveform` (shape `(..., samples)`) -> `(..., frames, 1 + n_fft // 2)`.

    A periodic Hann window of `win_length` samples is centred inside each `n_fft` frame, and the signal is
    zero-padded by `n_fft // 2` on both sides (librosa's `center=True, pad_mode="constant"`).
    """
    win_length = n_fft if win_length is None else win_length
    waveform = tf.convert_to_tensor(waveform, dtype=tf.float32)
    pad = n_fft // 2
    paddings = [[0, 0]] * (waveform.shape.rank - 1) + [[pad, pad]]
    padded = tf.pad(waveform, paddings)
    frames = tf.signal.frame(padded, frame_length=n_fft, frame_step=hop_length, pad_end=False)
    # Built in NumPy: tf.signal.hann_window ignores `periodic` for odd lengths, scipy/librosa do not.
    window = 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(win_length) / win_length)
    left = (n_fft - win_length) // 2
    window = tf.constant(np.pad(window, (left, n_fft - win_length - left)).astype(np.float32))
    if portable_target() == "onnx":
        # tf2onnx (1.17) converts RFFT (into a product with DFT constants) only when ComplexAbs is
        # its sole consumer (ONNX tensors have no complex type), and its ComplexAbs needs a static
        # (real, imaginary) axis, which it infers only for a 2-D input: frames are flattened around
        # it. |X|^2 through |X| differs from the TensorFlow path by float32 rounding.
        flat = tf.reshape(frames * window, [-1, n_fft])
        magnitude = tf.abs(tf.signal.rfft(flat, fft_length=[n_fft]))
        magnitude = tf.reshape(magnitude, tf.concat([tf.shape(frames)[:-1], [n_fft // 2 + 1]], 0))
        return tf.math.square(magnitude) if power == 2.0 else tf.pow(magnitude, power)
    spectrum = tf.signal.rfft(frames * window, fft_length=[n_fft])
    magnitude_sq = tf.math.square(tf.math.real(spectrum)) + tf.math.square(tf.math.imag(spectrum))
    if power == 2.0:
        return magnitude_sq
    return tf.pow(magnitude_sq, power / 2.0)


def power_to_db(spectrogram: tf.Tensor, amin: float = 1e-10, top_db: float | None = 80.0) -> tf.Tensor:
    """`10 * log10(max(S, amin))` clipped to `top_db` below the maximum of each utterance (librosa, ref=1).

    The maximum is taken over the last two axes (frames, bands), i.e. per utterance in a batch.
    """
    db = 10.0 * tf.math.log(tf.maximum(spectrogram, amin)) / math.log(10.0)
    if top_db is not None:
        peak = tf.reduce_max(db, axis=[-2, -1], keepdims=True)
        db = tf.maximum(db, peak - top_db)
    return db


def log_mel_spectrogram(
    waveform: tf.Tensor,
    sample_rate: int,
    n_fft: int = 400,
    hop_length: int = 160,
    win_length: int | None = None,
    n_mels: int = 80,
    fmin: float = 0.0,
    fmax: float | None = None,
    htk: bool = False,
    mel_norm: str | None = "slaney",
    power: float = 2.0,
    log: str = "natural",
    log_offset: float = 1e-6,
    amin: float = 1e-10,
    top_db: float | None = 80.0,
) -> tf.Tensor:
    """Log-mel spectrogram `(..., frames, n_mels)` of `waveform` `(..., samples)`.

    `log="natural"` gives `ln(mel + log_offset)` (the usual ASR feature); `log="db"` gives librosa's
    `power_to_db(mel, ref=1.0, amin=amin, top_db=top_db)`.
    """
    if log not in _LOG_MODES:
        raise ValueError(f"Received an invalid value for argument `log`, expected one of {_LOG_MODES}, got {log!r}.")
    spec = power_spectrogram(waveform, n_fft=n_fft, hop_length=hop_length, win_length=win_length, power=power)
    filters = mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, htk, mel_norm)
    if portable_target() is not None and spec.shape.rank == 3:
        # The filterbank as the left operand: the converters' dynamic-range int8 quantization
        # (LiteRT: a constant right operand of >= 1024 values; onnxruntime: a MatMul's constant B)
        # would otherwise also quantize the power spectrum to int8 at run time, which cannot hold
        # its ~100 dB range.
        mel = tf.linalg.matrix_transpose(tf.matmul(tf.constant(filters), spec, transpose_b=True))
    else:
        mel = tf.tensordot(spec, tf.constant(filters.T), axes=[[spec.shape.rank - 1], [0]])
    if log == "natural":
        return tf.math.log(mel + log_offset)
    return power_to_db(mel, amin=amin, top_db=top_db)


def mfcc(log_mel: tf.Tensor, n_mfcc: int = 13) -> tf.Tensor:
    """MFCCs from a log-mel spectrogram: orthonormal DCT-II over the mel axis, first `n_mfcc` coefficients.

    With a dB log-mel (`log="db"`) this is `librosa.feature.mfcc(..., dct_type=2, norm="ortho", lifter=0)`.
    """
    if portable_target() is not None:
        # tf.signal.dct goes through an RFFT with a complex scaling that neither the LiteRT
        # converter (builtin ops) nor tf2onnx holds; the same transform as a product with the
        # orthonormal DCT-II matrix converts.
        n = log_mel.shape[-1]
        k, i = np.arange(n)[:, None], np.arange(n)[None, :]
        basis = np.cos(np.pi * k * (2 * i + 1) / (2 * n)) * np.sqrt(2.0 / n)
        basis[0] /= np.sqrt(2.0)
        basis = tf.constant(basis[:n_mfcc].T.astype(np.float32))
        return tf.tensordot(log_mel, basis, axes=[[-1], [0]])
    return tf.signal.dct(log_mel, type=2, norm="ortho")[..., :n_mfcc]


def normalize_per_utterance(features: tf.Tensor, lengths: tf.Tensor | None = None, epsilon: float = 1e-5) -> tf.Tensor:
    """Zero mean, unit variance per feature channel over each utterance's valid frames; padding becomes 0.

    Args:
        features: `(batch, frames, channels)`.
        lengths: `(batch,)` valid frames per utterance; `None` means all frames are valid.
        epsilon: added to the standard deviation (silence has zero variance).
    """
    features = tf.convert_to_tensor(features, tf.float32)
    if lengths is None:
        mask = tf.ones_like(features[..., :1])
    else:
        # expand_dims rather than `[..., None]`: LiteRT's builtin StridedSlice has no new_axis_mask.
        mask = tf.cast(tf.sequence_mask(lengths, tf.shape(features)[1]), features.dtype)
        mask = tf.expand_dims(mask, -1)
    count = tf.maximum(tf.reduce_sum(mask, axis=1, keepdims=True), 1.0)
    mean = tf.reduce_sum(features * mask, axis=1, keepdims=True) / count
    centered = (features - mean) * mask
    variance = tf.reduce_sum(tf.square(centered), axis=1, keepdims=True) / count
    return centered / (tf.sqrt(variance) + epsilon)


@keras.saving.register_keras_serializable(package="seqtasks")
class AudioFeatures(keras.layers.Layer):
    """Waveforms -> log-mel or MFCC features (+ frame counts), in TensorFlow ops.

    Args:
        sample_rate: the sample rate of the input waveforms in Hz.
        kind: `"log_mel"` or `"mfcc"`.
        n_fft: FFT size in samples (400 = 25 ms at 16 kHz).
        hop_length: samples between frames (160 = 10 ms at 16 kHz).
        win_length: Hann window length in samples, `<= n_fft`; `None` means `n_fft`.
        n_mels: mel bands.
        fmin: lowest mel band edge in Hz.
        fmax: highest mel band edge in Hz; `None` means Nyquist.
        htk: HTK mel formula instead of Slaney's.
        mel_norm: `"slaney"` or `None` (see `mel_filterbank`).
        power: exponent of the magnitude spectrogram (2 = power, 1 = magnitude).
        log: `"natural"` (`ln(mel + log_offset)`) or `"db"` (librosa's `power_to_db`).
        log_offset: added before the natural log.
        amin: floor before the dB log.
        top_db: dB dynamic range kept below each utterance's peak (`None` keeps all); only for `log="db"`.
        n_mfcc: MFCCs kept when `kind="mfcc"`.
        normalize: per-utterance mean and variance normalisation over valid frames.

    Call arguments:
        inputs: float32 waveforms `(batch, samples)`, zero-padded at the end.
        lengths: int `(batch,)` true sample counts; `None` means all samples are valid.

    Returns:
        `(features, frame_lengths)`: `(batch, frames, channels)` float32 and `(batch,)` int32.

    Example:

    >>> layer = AudioFeatures(sample_rate=8000, n_fft=256, hop_length=80, n_mels=40)
    >>> feats, n = layer(tf.zeros([2, 8000]), tf.constant([8000, 4000]))
    >>> tuple(feats.shape), n.numpy().tolist()
    ((2, 101, 40), [101, 51])
    """

    def __init__(
        self,
        sample_rate: int = 16000,
        kind: str = "log_mel",
        n_fft: int = 400,
        hop_length: int = 160,
        win_length: int | None = None,
        n_mels: int = 80,
        fmin: float = 0.0,
        fmax: float | None = None,
        htk: bool = False,
        mel_norm: str | None = "slaney",
        power: float = 2.0,
        log: str = "natural",
        log_offset: float = 1e-6,
        amin: float = 1e-10,
        top_db: float | None = 80.0,
        n_mfcc: int = 13,
        normalize: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        for name, value in (("sample_rate", sample_rate), ("n_fft", n_fft), ("hop_length", hop_length),
                            ("n_mels", n_mels), ("n_mfcc", n_mfcc)):
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(
                    f"Received an invalid value for argument `{name}`, expected a positive integer, got {value!r}."
                )
        if win_length is not None and not 0 < win_length <= n_fft:
            raise ValueError(
                f"Received an invalid value for argument `win_length`, expected 0 < win_length <= n_fft = {n_fft}, "
                f"got {win_length!r}."
            )
        if kind not in _FEATURE_KINDS:
            raise ValueError(f"Received an invalid value for argument `kind`, expected one of {_FEATURE_KINDS}, got {kind!r}.")
        if log not in _LOG_MODES:
            raise ValueError(f"Received an invalid value for argument `log`, expected one of {_LOG_MODES}, got {log!r}.")
        if kind == "mfcc" and n_mfcc > n_mels:
            raise ValueError(f"Received `n_mfcc`={n_mfcc} larger than `n_mels`={n_mels}; expected n_mfcc <= n_mels.")
        # Validates the band edges now rather than on the first call.
        mel_filterbank(sample_rate, n_fft, n_mels, fmin, fmax, htk, mel_norm)
        self.sample_rate = sample_rate
        self.kind = kind
        self.n_fft = n_fft
        self.hop_length = hop_length
        self.win_length = win_length
        self.n_mels = n_mels
        self.fmin = fmin
        self.fmax = fmax
        self.htk = htk
        self.mel_norm = mel_norm
        self.power = power
        self.log = log
        self.log_offset = log_offset
        self.amin = amin
        self.top_db = top_db
        self.n_mfcc = n_mfcc
        self.normalize = normalize

    @property
    def num_channels(self) -> int:
        """Feature channels per frame."""
        return self.n_mfcc if self.kind == "mfcc" else self.n_mels

    def frame_lengths(self, sample_lengths: tf.Tensor) -> tf.Tensor:
        """Valid frames for waveforms of `sample_lengths` samples."""
        return num_frames(sample_lengths, self.n_fft, self.hop_length)

    def call(self, inputs, lengths=None):
        waveform = tf.cast(inputs, tf.float32)
        if lengths is None:
            lengths = tf.fill(tf.shape(waveform)[:1], tf.shape(waveform)[1])
        frame_lengths = self.frame_lengths(lengths)
        features = log_mel_spectrogram(
            waveform, self.sample_rate, n_fft=self.n_fft, hop_length=self.hop_length, win_length=self.win_length,
            n_mels=self.n_mels, fmin=self.fmin, fmax=self.fmax, htk=self.htk, mel_norm=self.mel_norm,
            power=self.power, log=self.log, log_offset=self.log_offset, amin=self.amin, top_db=self.top_db,
        )
        if self.kind == "mfcc":
            features = mfcc(features, self.n_mfcc)
        if self.normalize:
            features = normalize_per_utterance(features, frame_lengths)
        else:
            mask = tf.sequence_mask(frame_lengths, tf.shape(features)[1], dtype=features.dtype)
            features = features * tf.expand_dims(mask, -1)
        return features, frame_lengths

    def compute_output_shape(self, input_shape, lengths_shape=None):
        frames = None
        if input_shape[1] is not None:
            frames = 1 + (input_shape[1] + 2 * (self.n_fft // 2) - self.n_fft) // self.hop_length
        return (input_shape[0], frames, self.num_channels), (input_shape[0],)

    def get_config(self):
        base_config = super().get_config()
        config = {
            "sample_rate": self.sample_rate, "kind": self.kind, "n_fft": self.n_fft,
            "hop_length": self.hop_length, "win_length": self.win_length, "n_mels": self.n_mels,
            "fmin": self.fmin, "fmax": self.fmax, "htk": self.htk, "mel_norm": self.mel_norm,
            "power": self.power, "log": self.log, "log_offset": self.log_offset, "amin": self.amin,
            "top_db": self.top_db, "n_mfcc": self.n_mfcc, "normalize": self.normalize,
        }
        return {**base_config, **config}
