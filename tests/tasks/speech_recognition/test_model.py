"""Tests for the CTC speech model: shapes, lengths after subsampling, padding invariance, a training step."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqtasks.losses.ctc import ctc_loss
from seqtasks.tasks.speech_recognition.model import ConvFrontEnd, CTCSpeechModel

FEATURES = dict(n_fft=256, hop_length=80, n_mels=24)


def _model(**kwargs):
    args = dict(num_classes=7, sample_rate=8000, features=FEATURES, units=8, num_layers=2, seed=0)
    args.update(kwargs)
    return CTCSpeechModel(**args)


@pytest.mark.parametrize("cell_type", ["gru", "lstm"])
def test_output_lengths_match_output_frames(cell_type):
    model = _model(cell_type=cell_type, conv_time_strides=(2, 2))
    out = model({"waveform": tf.zeros([3, 4000]), "waveform_length": tf.constant([4000, 1234, 81])})
    lengths = out["logit_lengths"].numpy().tolist()
    assert lengths == [model.output_frames(n) for n in (4000, 1234, 81)]
    assert out["logits"].shape == (3, lengths[0], 7)
    assert model.time_subsampling == 4


def test_padded_batch_equals_single_utterance():
    model = _model(specaugment=dict(freq_mask_param=4, time_mask_param=5))
    rng = np.random.default_rng(0)
    long, short = rng.standard_normal(4001).astype(np.float32), rng.standard_normal(2223).astype(np.float32)
    batch = np.zeros((2, 4001), np.float32)
    batch[0], batch[1, :2223] = long, short
    both = model({"waveform": batch, "waveform_length": np.array([4001, 2223])})
    alone = model({"waveform": short[None], "waveform_length": np.array([2223])})
    n = int(alone["logit_lengths"][0])
    assert int(both["logit_lengths"][1]) == n
    np.testing.assert_allclose(both["logits"][1, :n].numpy(), alone["logits"][0].numpy(), atol=1e-5)


def test_without_front_end_no_subsampling():
    model = _model(conv_filters=(), conv_time_strides=(), conv_freq_strides=())
    out = model({"waveform": tf.zeros([1, 800]), "waveform_length": tf.constant([800])})
    assert out["logit_lengths"].numpy().tolist() == [11]


def test_training_step_reduces_ctc_loss():
    model = _model()
    rng = np.random.default_rng(1)
    waveform = tf.constant(rng.standard_normal((2, 4000)).astype(np.float32))
    lengths = tf.constant([4000, 3000])
    labels, label_lengths = tf.constant([[0, 1, 2], [3, 3, -1]]), tf.constant([3, 2])
    optimizer = keras.optimizers.Adam(0.01)
    losses = []
    for _ in range(5):
        with tf.GradientTape() as tape:
            out = model({"waveform": waveform, "waveform_length": lengths}, training=True)
            loss = tf.reduce_mean(ctc_loss(labels, out["logits"], label_lengths, out["logit_lengths"]))
        grads = tape.gradient(loss, model.trainable_variables)
        assert all(np.isfinite(g.numpy()).all() for g in grads)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        losses.append(float(loss))
    assert losses[-1] < losses[0]


def test_config_round_trip_and_validation():
    model = _model(specaugment=dict(time_mask_param=3))
    clone = CTCSpeechModel.from_config(model.get_config())
    assert clone.get_config() == model.get_config()
    with pytest.raises(ValueError, match="num_classes"):
        _model(num_classes=1)
    with pytest.raises(ValueError, match="kernel_size"):
        ConvFrontEnd(kernel_size=4)
    with pytest.raises(ValueError, match="one entry per"):
        ConvFrontEnd(filters=(8,), time_strides=(2, 2), freq_strides=(2,))


def test_frequency_warp_trains_only_and_round_trips():
    model = CTCSpeechModel(num_classes=5, sample_rate=8000, units=4, num_layers=1, conv_filters=(4,),
                           conv_time_strides=(2,), conv_freq_strides=(2,), features={"n_mels": 16},
                           frequency_warp=0.1, seed=2)
    inputs = {"waveform": tf.random.normal([2, 4000]), "waveform_length": tf.constant([4000, 3000])}
    eval_a = model(inputs, training=False)["logits"].numpy()
    assert np.array_equal(eval_a, model(inputs, training=False)["logits"].numpy())
    assert model.warp is not None and model.get_config()["frequency_warp"] == 0.1
    again = CTCSpeechModel.from_config(model.get_config())
    assert again.warp is not None and again.warp.max_warp == 0.1
    with pytest.raises(ValueError, match="frequency_warp"):
        CTCSpeechModel(num_classes=5, features={"kind": "mfcc"}, frequency_warp=0.1)
