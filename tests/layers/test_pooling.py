"""MaskedPooling against a numpy reference over the valid steps."""

import keras
import numpy as np
import pytest

from seqtasks.layers.pooling import MaskedPooling


def _reference(x: np.ndarray, mask: np.ndarray, mode: str) -> np.ndarray:
    out = []
    for row, m in zip(x, mask, strict=True):
        valid = row[m]
        if len(valid) == 0:
            size = row.shape[-1] * (2 if mode == "mean_max" else 1)
            out.append(np.zeros(size, dtype=row.dtype))
        elif mode == "last":
            out.append(row[np.nonzero(m)[0][-1]])
        elif mode == "mean":
            out.append(valid.mean(axis=0))
        elif mode == "max":
            out.append(valid.max(axis=0))
        else:
            out.append(np.concatenate([valid.mean(axis=0), valid.max(axis=0)]))
    return np.stack(out)


def _batch():
    rng = np.random.default_rng(0)
    # Negative values everywhere so that a max that leaks a zero-padded step is caught.
    x = -np.abs(rng.normal(size=(4, 6, 3))).astype("float32") - 0.1
    x[:, 4:] = 0.0
    lengths = np.array([6, 3, 1, 0])
    mask = np.arange(6)[None, :] < lengths[:, None]
    return x, mask


@pytest.mark.parametrize("mode", ["last", "mean", "max", "mean_max"])
def test_pooling_equals_numpy_reference(mode):
    x, mask = _batch()
    got = keras.ops.convert_to_numpy(MaskedPooling(mode)(x, mask=mask))
    np.testing.assert_allclose(got, _reference(x, mask, mode), rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("mode", ["last", "mean", "max"])
def test_pooling_without_mask_uses_every_step(mode):
    x, _ = _batch()
    full = np.ones(x.shape[:2], dtype=bool)
    got = keras.ops.convert_to_numpy(MaskedPooling(mode)(x))
    np.testing.assert_allclose(got, _reference(x, full, mode), rtol=1e-6, atol=1e-6)


def test_pooling_takes_mask_from_embedding():
    ids = np.array([[5, 6, 0, 0], [7, 0, 0, 0]])
    inputs = keras.Input((None,), dtype="int32")
    emb = keras.layers.Embedding(10, 3, mask_zero=True)
    model = keras.Model(inputs, MaskedPooling("last")(emb(inputs)))
    table = keras.ops.convert_to_numpy(emb.embeddings)
    np.testing.assert_allclose(model.predict(ids, verbose=0), table[[6, 7]], rtol=1e-6)


def test_pooling_config_round_trip_and_invalid_mode():
    layer = MaskedPooling("max", name="pool")
    clone = MaskedPooling.from_config(layer.get_config())
    assert clone.mode == "max" and clone.name == "pool"
    assert keras.saving.get_registered_name(MaskedPooling) == "seqtasks>MaskedPooling"
    with pytest.raises(ValueError, match="argument `mode`"):
        MaskedPooling("sum")


def test_pooling_output_shape():
    assert MaskedPooling("mean_max").compute_output_shape((2, 5, 4)) == (2, 8)
    assert MaskedPooling("last").compute_output_shape((None, None, 4)) == (None, 4)
