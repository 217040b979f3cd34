"""Feature parity with librosa and padding behaviour of seqtasks.audio.features.

Stated tolerance (float32 on both sides): log-mel (natural log, offset 1e-6) within 1e-3 nats, dB log-mel within
0.01 dB, MFCC within 0.01, mel filterbank within 1e-6 of the largest weight. Measured differences are ~1e-5.
"""

from __future__ import annotations

import librosa
import numpy as np
import pytest
import tensorflow as tf

from seqtasks.audio.features import (
    AudioFeatures,
    log_mel_spectrogram,
    mel_filterbank,
    mfcc,
    normalize_per_utterance,
)

RATE = 8000
CONFIGS = [
    dict(n_fft=256, hop_length=80, win_length=200, n_mels=40, fmin=20.0, fmax=3800.0, htk=False, norm="slaney"),
    dict(n_fft=512, hop_length=128, win_length=None, n_mels=64, fmin=0.0, fmax=None, htk=True, norm=None),
    dict(n_fft=255, hop_length=100, win_length=255, n_mels=20, fmin=0.0, fmax=None, htk=False, norm="slaney"),
]


@pytest.fixture(scope="module")
def signal() -> np.ndarray:
    rng = np.random.default_rng(0)
    t = np.arange(RATE) / RATE
    chirp = 0.5 * np.sin(2 * np.pi * (200 + 1500 * t) * t)
    return (chirp + 0.05 * rng.standard_normal(RATE)).astype(np.float32)


def _librosa_mel(y, cfg, power=2.0):
    return librosa.feature.melspectrogram(
        y=y, sr=RATE, n_fft=cfg["n_fft"], hop_length=cfg["hop_length"], win_length=cfg["win_length"],
        n_mels=cfg["n_mels"], fmin=cfg["fmin"], fmax=cfg["fmax"], htk=cfg["htk"], norm=cfg["norm"], power=power,
    )


def _ours(y, cfg, **kwargs):
    return log_mel_spectrogram(
        y, RATE, n_fft=cfg["n_fft"], hop_length=cfg["hop_length"], win_length=cfg["win_length"],
        n_mels=cfg["n_mels"], fmin=cfg["fmin"], fmax=cfg["fmax"], htk=cfg["htk"], mel_norm=cfg["norm"], **kwargs,
    ).numpy().T


@pytest.mark.parametrize("cfg", CONFIGS)
def test_filterbank_matches_librosa(cfg):
    ours = mel_filterbank(RATE, cfg["n_fft"], cfg["n_mels"], cfg["fmin"], cfg["fmax"], cfg["htk"], cfg["norm"])
    ref = librosa.filters.mel(sr=RATE, n_fft=cfg["n_fft"], n_mels=cfg["n_mels"], fmin=cfg["fmin"],
                              fmax=cfg["fmax"], htk=cfg["htk"], norm=cfg["norm"])
    np.testing.assert_allclose(ours, ref, atol=1e-6 * ref.max())


@pytest.mark.parametrize("cfg", CONFIGS)
def test_log_mel_matches_librosa(signal, cfg):
    ref = np.log(_librosa_mel(signal, cfg) + 1e-6)
    ours = _ours(signal, cfg, log="natural", log_offset=1e-6)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, atol=1e-3)


@pytest.mark.parametrize("cfg", CONFIGS)
def test_db_and_mfcc_match_librosa(signal, cfg):
    ref_db = librosa.power_to_db(_librosa_mel(signal, cfg), ref=1.0, amin=1e-10, top_db=80.0)
    ours_db = _ours(signal, cfg, log="db", amin=1e-10, top_db=80.0)
    np.testing.assert_allclose(ours_db, ref_db, atol=1e-2)
    ref_mfcc = librosa.feature.mfcc(S=ref_db, n_mfcc=13, dct_type=2, norm="ortho", lifter=0)
    ours_mfcc = mfcc(tf.constant(ours_db.T), 13).numpy().T
    np.testing.assert_allclose(ours_mfcc, ref_mfcc, atol=1e-2)


def test_magnitude_power_matches_librosa(signal):
    cfg = CONFIGS[0]
    ref = np.log(_librosa_mel(signal, cfg, power=1.0) + 1e-6)
    np.testing.assert_allclose(_ours(signal, cfg, power=1.0), ref, atol=1e-3)


def test_layer_padded_batch_equals_single_utterances(signal):
    layer = AudioFeatures(sample_rate=RATE, n_fft=256, hop_length=80, n_mels=40)
    short = signal[:3001]
    batch = np.zeros((2, RATE), np.float32)
    batch[0], batch[1, :3001] = signal, short
    feats, lengths = layer(batch, tf.constant([RATE, 3001]))
    alone, alone_len = layer(short[None], tf.constant([3001]))
    assert lengths.numpy().tolist() == [1 + RATE // 80, 1 + 3001 // 80]
    n = int(alone_len[0])
    np.testing.assert_allclose(feats[1, :n].numpy(), alone[0].numpy(), atol=1e-4)
    assert np.all(feats[1, n:].numpy() == 0.0)


def test_per_utterance_normalisation_uses_valid_frames_only():
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, (2, 50, 4)).astype(np.float32)
    out = normalize_per_utterance(x, tf.constant([50, 20])).numpy()
    valid = out[1, :20]
    np.testing.assert_allclose(valid.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(valid.std(axis=0), 1.0, atol=1e-3)
    assert np.all(out[1, 20:] == 0.0)


def test_mfcc_layer_and_config_round_trip():
    layer = AudioFeatures(sample_rate=RATE, kind="mfcc", n_fft=256, hop_length=80, n_mels=40, n_mfcc=13, log="db")
    feats, _ = layer(tf.random.normal([1, 800]))
    assert feats.shape == (1, 11, 13)
    clone = AudioFeatures.from_config(layer.get_config())
    assert clone.get_config() == layer.get_config()


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(n_fft=0), "n_fft"),
        (dict(n_fft=256, win_length=300), "win_length"),
        (dict(kind="spectrogram"), "kind"),
        (dict(log="log2"), "log"),
        (dict(fmax=9000.0), "fmax"),
        (dict(kind="mfcc", n_mels=10, n_mfcc=13), "n_mfcc"),
    ],
)
def test_invalid_arguments(kwargs, match):
    with pytest.raises(ValueError, match=match):
        AudioFeatures(sample_rate=RATE, **kwargs)
