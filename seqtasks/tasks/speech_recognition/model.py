"""The CTC speech recogniser: waveform -> features -> (frequency warp, SpecAugment) -> conv front end -> BiRNN stack
-> Dense.

Following Graves et al. (2013), a deep bidirectional recurrent network maps acoustic frames straight to
character scores and is trained with CTC, so no alignment is needed. The model keeps every length explicit:
waveform samples -> feature frames (`AudioFeatures`) -> output frames after the conv front end's time
subsampling (`ConvFrontEnd`), which are the `logit_lengths` that the CTC loss and decoders need.

Features are computed inside the model (TensorFlow ops), so the exported graph takes raw waveforms.
"""

from __future__ import annotations

from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf

from seqtasks.audio.features import AudioFeatures
from seqtasks.audio.frequency_warp import FrequencyWarp
from seqtasks.audio.specaugment import SpecAugment
from seqtasks.decoding.ctc import ctc_greedy_decode
from seqtasks.layers import RecurrentStack
from seqtasks.losses.ctc import ctc_feasible, ctc_loss


def _positive_ints(name: str, values: Sequence[int]) -> tuple[int, ...]:
    values = tuple(values)
    for v in values:
        if isinstance(v, bool) or not isinstance(v, int | np.integer) or v <= 0:
            raise ValueError(
                f"Received an invalid value for argument `{name}`, expected positive integers, got {list(values)!r}."
            )
    return tuple(int(v) for v in values)


def conv_output_length(length, kernel_size: int, stride: int):
    """Frames after one front-end convolution: `floor((length - 1) / stride) + 1` (0 stays 0).

    The convolution pads `kernel_size // 2` on both sides, so the count depends only on the utterance's own length,
    not on the padded batch length (Keras' `padding="same"` shifts with the batch length's parity).
    """
    pad = kernel_size // 2
    return (length + 2 * pad - kernel_size) // stride + 1


@keras.saving.register_keras_serializable(package="seqtasks")
class ConvFrontEnd(keras.layers.Layer):
    """2-D convolutions over (time, feature) with time and frequency subsampling, flattened per frame.

    Every convolution is padded symmetrically by `kernel_size // 2` and followed by `activation`; frames past an
    utterance's length are zeroed after each layer, so a padded batch gives each utterance the same values it
    gets alone.

    Args:
        filters: output channels of each convolution, e.g. `(32, 32)`.
        kernel_size: odd kernel size (time and frequency).
        time_strides: time stride of each convolution (their product is the time subsampling).
        freq_strides: frequency stride of each convolution.
        activation: activation after each convolution.

    Call arguments:
        inputs: `(batch, frames, channels)` features.
        lengths: int `(batch,)` valid frames.

    Returns:
        `(outputs, lengths)`: `(batch, frames', channels' * filters[-1])` and int32 `(batch,)`.
    """

    def __init__(
        self,
        filters: Sequence[int] = (32, 32),
        kernel_size: int = 3,
        time_strides: Sequence[int] = (2, 1),
        freq_strides: Sequence[int] = (2, 2),
        activation: str = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.filters = _positive_ints("filters", filters)
        self.time_strides = _positive_ints("time_strides", time_strides)
        self.freq_strides = _positive_ints("freq_strides", freq_strides)
        if not (len(self.filters) == len(self.time_strides) == len(self.freq_strides)) or not self.filters:
            raise ValueError(
                "Received `filters`, `time_strides` and `freq_strides` of different or zero lengths "
                f"({len(self.filters)}, {len(self.time_strides)}, {len(self.freq_strides)}); give one entry per "
                "convolution."
            )
        if isinstance(kernel_size, bool) or not isinstance(kernel_size, int) or kernel_size <= 0 or kernel_size % 2 == 0:
            raise ValueError(
                f"Received an invalid value for argument `kernel_size`, expected a positive odd integer, got {kernel_size!r}."
            )
        self.kernel_size = kernel_size
        self.activation = activation
        self.convs = [
            keras.layers.Conv2D(
                f, kernel_size, strides=(ts, fs), padding="valid", activation=activation, name=f"conv_{i}"
            )
            for i, (f, ts, fs) in enumerate(zip(self.filters, self.time_strides, self.freq_strides, strict=True))
        ]

    @property
    def time_subsampling(self) -> int:
        return int(np.prod(self.time_strides))

    def output_lengths(self, lengths):
        """Frames after the front end for `lengths` input frames (tensor or int)."""
        for stride in self.time_strides:
            lengths = conv_output_length(lengths, self.kernel_size, stride)
        return lengths

    def output_channels(self, channels: int) -> int:
        for stride in self.freq_strides:
            channels = conv_output_length(channels, self.kernel_size, stride)
        return channels * self.filters[-1]

    def build(self, input_shape):
        channels = input_shape[-1]
        shape = (input_shape[0], None, channels, 1)
        for conv, fs in zip(self.convs, self.freq_strides, strict=True):
            conv.build(shape)
            channels = conv_output_length(channels, self.kernel_size, fs)
            shape = (input_shape[0], None, channels, conv.filters)
        self.built = True

    def call(self, inputs, lengths):
        # expand_dims rather than `[..., None]`: LiteRT's builtin StridedSlice has no new_axis_mask.
        x = tf.expand_dims(inputs, -1)
        pad = self.kernel_size // 2
        lengths = tf.cast(lengths, tf.int32)
        for conv, stride in zip(self.convs, self.time_strides, strict=True):
            x = conv(tf.pad(x, [[0, 0], [pad, pad], [pad, pad], [0, 0]]))
            lengths = conv_output_length(lengths, self.kernel_size, stride)
            mask = tf.sequence_mask(lengths, tf.shape(x)[1], dtype=x.dtype)
            x = x * tf.reshape(mask, [tf.shape(mask)[0], tf.shape(mask)[1], 1, 1])
        batch, frames = tf.shape(x)[0], tf.shape(x)[1]
        x = tf.reshape(x, [batch, frames, x.shape[2] * x.shape[3]])
        return x, lengths

    def get_config(self):
        base_config = super().get_config()
        config = {
            "filters": list(self.filters), "kernel_size": self.kernel_size, "time_strides": list(self.time_strides),
            "freq_strides": list(self.freq_strides), "activation": self.activation,
        }
        return {**base_config, **config}


def _scale_for_replicas(loss: tf.Tensor) -> tf.Tensor:
    """Divides a per-replica mean loss by the replica count, as Keras' compiled losses do, so that the summed
    gradients of all replicas are those of the global-batch mean."""
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    return loss / replicas if replicas > 1 else loss


def _dense_to_sparse(ids: tf.Tensor, lengths: tf.Tensor) -> tf.SparseTensor:
    ids = tf.cast(ids, tf.int64)
    indices = tf.where(tf.sequence_mask(lengths, tf.shape(ids)[1]))
    return tf.SparseTensor(indices, tf.gather_nd(ids, indices), tf.cast(tf.shape(ids), tf.int64))


@keras.saving.register_keras_serializable(package="seqtasks")
class CharacterErrorRate(keras.metrics.Metric):
    """Character error rate of greedy CTC decoding: total edit distance / total reference characters.

    `update_state(labels, label_lengths, logits, logit_lengths)`; the result over a whole epoch is the corpus
    CER (not a mean of per-batch rates). Beam-search CER/WER with jiwer come from the task's `evaluate`.
    """

    def __init__(self, name: str = "cer", blank_index: int | None = None, **kwargs):
        super().__init__(name=name, **kwargs)
        self.blank_index = blank_index
        self.errors = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="errors")
        self.characters = self.add_variable(shape=(), initializer="zeros", dtype="float32", name="characters")

    def update_state(self, labels, label_lengths, logits, logit_lengths):
        hyp_ids, hyp_lengths = ctc_greedy_decode(logits, logit_lengths, self.blank_index)
        truth = _dense_to_sparse(labels, label_lengths)
        hypothesis = _dense_to_sparse(hyp_ids, hyp_lengths)
        distances = tf.edit_distance(hypothesis, truth, normalize=False)
        self.errors.assign_add(tf.reduce_sum(tf.cast(distances, tf.float32)))
        self.characters.assign_add(tf.cast(tf.reduce_sum(label_lengths), tf.float32))

    def result(self):
        return tf.math.divide_no_nan(self.errors, self.characters)

    def get_config(self):
        return {**super().get_config(), "blank_index": self.blank_index}


@keras.saving.register_keras_serializable(package="seqtasks")
class CTCSpeechModel(keras.Model):
    """Waveforms to CTC logits over an alphabet + blank (blank = last class).

    Args:
        num_classes: alphabet size + 1.
        sample_rate: rate of the input waveforms.
        features: keyword arguments of `AudioFeatures` (besides `sample_rate`).
        specaugment: keyword arguments of `SpecAugment`, or `None` for no augmentation.
        frequency_warp: largest relative stretch of the mel axis while training (vocal tract length perturbation,
            `seqtasks.audio.frequency_warp`); 0 = none. Log-mel features only.
        conv_filters: channels of each front-end convolution; empty for no front end (no subsampling).
        conv_kernel_size: odd kernel size of the convolutions.
        conv_time_strides: time stride of each convolution.
        conv_freq_strides: frequency stride of each convolution.
        cell_type: `"gru"` or `"lstm"` (or `"simple_rnn"`).
        units: units per direction of each recurrent layer.
        num_layers: stacked bidirectional layers.
        dropout: dropout between recurrent layers and before the output layer.
        recurrent_dropout: recurrent dropout inside the cells (disables fused kernels).
        residual: residual connections between recurrent layers of equal width.
        seed: seed of SpecAugment and dropout.

    Training: `compile(optimizer)` without a loss; `fit` takes `(inputs, targets)` with targets
    `{"labels": int (batch, max_chars) padded with -1, "label_length": int (batch,)}`. `compute_loss` is the
    mean CTC loss over the batch (utterances whose transcript cannot fit their frames are masked, see
    `seqtasks.losses.ctc`); `cer` (greedy-decoding character error rate) and `infeasible` (masked utterances) are
    reported as metrics.

    Call arguments:
        inputs: dict with `"waveform"` float32 `(batch, samples)` zero-padded and `"waveform_length"` int
            `(batch,)`.
        training: enables the frequency warp, SpecAugment and dropout.

    Returns:
        dict with `"logits"` float32 `(batch, frames, num_classes)` and `"logit_lengths"` int32 `(batch,)`.

    Example:

    >>> model = CTCSpeechModel(num_classes=17, sample_rate=8000, units=32, num_layers=1)
    >>> out = model({"waveform": tf.zeros([2, 8000]), "waveform_length": tf.constant([8000, 4000])})
    >>> out["logits"].shape, out["logit_lengths"].numpy().tolist()
    (TensorShape([2, 51, 17]), [51, 26])
    """

    def __init__(
        self,
        num_classes: int,
        sample_rate: int = 16000,
        features: dict | None = None,
        specaugment: dict | None = None,
        frequency_warp: float = 0.0,
        conv_filters: Sequence[int] = (32, 32),
        conv_kernel_size: int = 3,
        conv_time_strides: Sequence[int] = (2, 1),
        conv_freq_strides: Sequence[int] = (2, 2),
        cell_type: str = "gru",
        units: int = 256,
        num_layers: int = 3,
        dropout: float = 0.1,
        recurrent_dropout: float = 0.0,
        residual: bool = False,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(num_classes, bool) or not isinstance(num_classes, int | np.integer) or num_classes < 2:
            raise ValueError(
                f"Received an invalid value for argument `num_classes`, expected an integer >= 2 (alphabet + blank), "
                f"got {num_classes!r}."
            )
        self.num_classes = int(num_classes)
        self.sample_rate = sample_rate
        self.features_config = dict(features or {})
        self.specaugment_config = None if specaugment is None else dict(specaugment)
        self.frequency_warp = float(frequency_warp)
        self.conv_filters = tuple(conv_filters)
        self.conv_kernel_size = conv_kernel_size
        self.conv_time_strides = tuple(conv_time_strides)
        self.conv_freq_strides = tuple(conv_freq_strides)
        self.cell_type = cell_type
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.residual = residual
        self.seed = seed

        # float32 whatever the global policy: mixed precision would round the waveform to 16 bits.
        self.featurizer = AudioFeatures(sample_rate=sample_rate, dtype="float32", name="features", **self.features_config)
        self.warp = None
        if self.frequency_warp:
            if self.featurizer.kind != "log_mel":
                raise ValueError("Received `frequency_warp` with MFCC features; it stretches mel bands (log_mel only).")
            import librosa

            f = self.featurizer
            centers = librosa.mel_frequencies(f.n_mels + 2, fmin=f.fmin, fmax=f.fmax or sample_rate / 2, htk=f.htk)
            self.warp = FrequencyWarp(centers[1:-1], self.frequency_warp, seed=seed, name="frequency_warp")
        self.augment = None
        if self.specaugment_config is not None:
            self.augment = SpecAugment(**{"seed": seed, **self.specaugment_config}, name="specaugment")
        self.front_end = None
        if self.conv_filters:
            self.front_end = ConvFrontEnd(
                self.conv_filters, conv_kernel_size, self.conv_time_strides, self.conv_freq_strides, name="front_end"
            )
        self.encoder = RecurrentStack(
            cell_type=cell_type, units=units, num_layers=num_layers, bidirectional=True, dropout=dropout,
            recurrent_dropout=recurrent_dropout, residual=residual, seed=seed, name="encoder",
        )
        self.output_dropout = keras.layers.Dropout(dropout, seed=seed, name="output_dropout")
        self.classifier = keras.layers.Dense(self.num_classes, dtype="float32", name="classifier")
        self.cer_metric = CharacterErrorRate(blank_index=self.num_classes - 1)
        self.infeasible_metric = keras.metrics.Sum(name="infeasible")

    @property
    def blank_index(self) -> int:
        return self.num_classes - 1

    @property
    def time_subsampling(self) -> int:
        return 1 if self.front_end is None else self.front_end.time_subsampling

    def output_frames(self, num_samples: int) -> int:
        """Output frames (logit length) for a waveform of `num_samples` samples."""
        n_fft, hop = self.featurizer.n_fft, self.featurizer.hop_length
        frames = 1 + (int(num_samples) + 2 * (n_fft // 2) - n_fft) // hop
        return frames if self.front_end is None else int(self.front_end.output_lengths(frames))

    def build(self, input_shape=None):
        channels = self.featurizer.num_channels
        if self.front_end is not None:
            self.front_end.build((None, None, channels))
            channels = self.front_end.output_channels(channels)
        self.encoder.build((None, None, channels))
        self.classifier.build((None, None, self.encoder.output_size))
        self.built = True

    def logits_from_features(self, features, frame_lengths, training=None):
        """The network after the featurizer: `(features, frame_lengths)` -> `(logits, logit_lengths)`."""
        if self.warp is not None:
            features = self.warp(features, training=training)
        if self.augment is not None:
            features = self.augment(features, frame_lengths, training=training)
        x, lengths = features, tf.cast(frame_lengths, tf.int32)
        if self.front_end is not None:
            x, lengths = self.front_end(x, lengths)
        mask = tf.sequence_mask(lengths, tf.shape(x)[1])
        x = self.encoder(x, mask=mask, training=training)
        x = self.output_dropout(x, training=training)
        return self.classifier(x), lengths

    def call(self, inputs, training=None):
        if isinstance(inputs, dict):
            waveform, lengths = inputs["waveform"], inputs.get("waveform_length")
        else:
            waveform, lengths = inputs
        features, frame_lengths = self.featurizer(waveform, lengths)
        logits, logit_lengths = self.logits_from_features(features, frame_lengths, training=training)
        return {"logits": logits, "logit_lengths": logit_lengths}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        del x, sample_weight, training
        losses = ctc_loss(
            y["labels"], y_pred["logits"], y["label_length"], y_pred["logit_lengths"], self.blank_index
        )
        loss = tf.reduce_mean(losses)
        for extra in self.losses:
            loss = loss + tf.cast(extra, loss.dtype)
        return _scale_for_replicas(loss)

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        feasible = ctc_feasible(y["labels"], y["label_length"], y_pred["logit_lengths"])
        self.infeasible_metric.update_state(tf.reduce_sum(1 - tf.cast(feasible, tf.float32)))
        self.cer_metric.update_state(y["labels"], y["label_length"], y_pred["logits"], y_pred["logit_lengths"])
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def get_config(self):
        config = {
            "num_classes": self.num_classes, "sample_rate": self.sample_rate, "features": self.features_config,
            "specaugment": self.specaugment_config, "frequency_warp": self.frequency_warp,
            "conv_filters": list(self.conv_filters),
            "conv_kernel_size": self.conv_kernel_size, "conv_time_strides": list(self.conv_time_strides),
            "conv_freq_strides": list(self.conv_freq_strides), "cell_type": self.cell_type, "units": self.units,
            "num_layers": self.num_layers, "dropout": self.dropout, "recurrent_dropout": self.recurrent_dropout,
            "residual": self.residual, "seed": self.seed,
        }
        return {"name": self.name, "trainable": self.trainable, **config}
