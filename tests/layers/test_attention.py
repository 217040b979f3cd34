"""Tests of seqtasks.layers.attention: masking, shapes, precomputed keys, serialization."""

import keras
import numpy as np
import pytest

from seqtasks.layers.attention import BahdanauAttention, LuongAttention

LAYERS = [
    lambda: BahdanauAttention(7),
    lambda: LuongAttention("general"),
    lambda: LuongAttention("general", use_scale=True),
    lambda: LuongAttention("dot"),
]


def _inputs(seed=0, batch=3, tq=4, tv=6, dim=5):
    rng = np.random.default_rng(seed)
    query = rng.normal(size=(batch, tq, dim)).astype("float32")
    values = rng.normal(size=(batch, tv, dim)).astype("float32")
    lengths = np.array([6, 3, 1])[:batch]
    mask = np.arange(tv)[None, :] < lengths[:, None]
    return query, values, mask


@pytest.mark.parametrize("make", LAYERS)
def test_padding_gets_exactly_zero_weight(make):
    query, values, mask = _inputs()
    # Huge values at padded positions would dominate any leaky softmax.
    values = np.where(mask[..., None], values, 1e3).astype("float32")
    layer = make()
    context, weights = layer(query, values, values_mask=mask)
    weights = keras.ops.convert_to_numpy(weights)
    assert weights.shape == (3, 4, 6)
    assert np.all(weights[~np.broadcast_to(mask[:, None, :], weights.shape)] == 0.0)
    np.testing.assert_allclose(weights.sum(-1), 1.0, rtol=1e-5)
    # The context only mixes real positions: recompute it from the unpadded prefix.
    for b, length in enumerate(mask.sum(-1)):
        expected = weights[b, :, :length] @ values[b, :length]
        np.testing.assert_allclose(
            keras.ops.convert_to_numpy(context)[b], expected, rtol=1e-4, atol=1e-5
        )


@pytest.mark.parametrize("make", LAYERS)
def test_padding_does_not_change_result(make):
    query, values, mask = _inputs()
    layer = make()
    c1, w1 = layer(query, values, values_mask=mask)
    other = np.where(mask[..., None], values, -values * 50).astype("float32")
    c2, w2 = layer(query, other, values_mask=mask)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(c1), keras.ops.convert_to_numpy(c2), atol=1e-6
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(w1), keras.ops.convert_to_numpy(w2), atol=1e-6
    )


@pytest.mark.parametrize("make", LAYERS)
def test_single_step_query_and_precomputed_keys_match_sequence_query(make):
    query, values, mask = _inputs()
    layer = make()
    c_seq, w_seq = layer(query, values, values_mask=mask)
    keys = layer.project_values(values)
    c_step, w_step = layer(query[:, 2], values, values_mask=mask, keys=keys)
    assert tuple(c_step.shape) == (3, 5) and tuple(w_step.shape) == (3, 6)
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(c_step), keras.ops.convert_to_numpy(c_seq)[:, 2], atol=1e-5
    )
    np.testing.assert_allclose(
        keras.ops.convert_to_numpy(w_step), keras.ops.convert_to_numpy(w_seq)[:, 2], atol=1e-5
    )


def test_keras_mask_of_values_is_used():
    tokens = np.array([[4, 5, 0, 0], [6, 0, 0, 0]])
    embedded = keras.layers.Embedding(10, 5, mask_zero=True)(tokens)
    _, weights = LuongAttention("dot")(keras.ops.ones((2, 5)), embedded)
    weights = keras.ops.convert_to_numpy(weights)
    assert np.all(weights[tokens == 0] == 0.0)
    np.testing.assert_allclose(weights[1, 0], 1.0)


def test_fully_masked_row_gives_zero_context_not_nan():
    query, values, _ = _inputs(batch=2)
    mask = np.zeros((2, 6), dtype=bool)
    context, weights = BahdanauAttention(4)(query, values, values_mask=mask)
    assert np.all(keras.ops.convert_to_numpy(weights) == 0.0)
    assert np.all(keras.ops.convert_to_numpy(context) == 0.0)


def test_inside_functional_model_and_serialization_round_trip(tmp_path):
    query_in = keras.Input((None, 5))
    values_in = keras.Input((None, 5))
    mask_in = keras.Input((None,), dtype="bool")
    context, weights = BahdanauAttention(6, name="att")(query_in, values_in, values_mask=mask_in)
    model = keras.Model([query_in, values_in, mask_in], [context, weights])
    query, values, mask = _inputs()
    before = model.predict([query, values, mask], verbose=0)
    path = tmp_path / "m.keras"
    model.save(path)
    restored = keras.models.load_model(path)
    after = restored.predict([query, values, mask], verbose=0)
    np.testing.assert_allclose(before[0], after[0], atol=1e-6)
    assert isinstance(restored.get_layer("att"), BahdanauAttention)
    config = LuongAttention("dot", use_scale=True, name="l").get_config()
    clone = LuongAttention.from_config(config)
    assert clone.score_mode == "dot" and clone.use_scale and clone.name == "l"


def test_invalid_arguments():
    with pytest.raises(ValueError, match="`units`"):
        BahdanauAttention(0)
    with pytest.raises(ValueError, match="`score_mode`"):
        LuongAttention("concat")
    with pytest.raises(ValueError, match="same size"):
        LuongAttention("dot")(np.ones((2, 3), "float32"), np.ones((2, 4, 5), "float32"))


def test_attention_learns_to_point_at_marked_position():
    # A query equal to one value should end up attending mostly to that value after a little training.
    rng = np.random.default_rng(0)
    values = rng.normal(size=(64, 5, 16)).astype("float32")
    target = rng.integers(0, 5, size=64)
    query = values[np.arange(64), target]
    q_in, v_in = keras.Input((16,)), keras.Input((5, 16))
    _, w = LuongAttention("general", use_scale=True)(q_in, v_in)
    model = keras.Model([q_in, v_in], w)
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    model.fit([query, values], target, epochs=40, verbose=0)
    accuracy = (model.predict([query, values], verbose=0).argmax(-1) == target).mean()
    assert accuracy > 0.95  # chance is 0.2
