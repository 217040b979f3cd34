"""The sentiment classifier: masking end to end, serialization, encoder transfer."""

import keras
import numpy as np
import pytest

from seqtasks.tasks.sentiment.model import build_classifier, probabilities, transfer_encoder


@pytest.mark.parametrize("cell_type,pooling", [("gru", "mean_max"), ("lstm", "last"), ("gru", "max")])
def test_logits_do_not_depend_on_padding(cell_type, pooling):
    model = build_classifier(30, 3, embedding_dim=8, cell_type=cell_type, units=5, num_layers=2,
                             pooling=pooling, seed=1)
    ids = np.array([[4, 5, 6, 0], [7, 8, 0, 0]], dtype="int32")
    longer = np.pad(ids, ((0, 0), (0, 5)))
    short = model.predict(ids, verbose=0)
    np.testing.assert_allclose(model.predict(longer, verbose=0), short, rtol=1e-5, atol=1e-5)
    # Row by row without any padding gives the same logits too.
    alone = model.predict(np.array([[7, 8]], dtype="int32"), verbose=0)
    np.testing.assert_allclose(alone[0], short[1], rtol=1e-5, atol=1e-5)
    assert short.shape == (2, 3)
    p = probabilities(short)
    np.testing.assert_allclose(p.sum(-1), 1.0, rtol=1e-6)


def test_save_load_round_trip(tmp_path):
    model = build_classifier(20, 2, embedding_dim=4, units=3, seed=0)
    ids = np.array([[3, 4, 5], [6, 0, 0]], dtype="int32")
    path = tmp_path / "m.keras"
    model.save(path)
    again = keras.saving.load_model(path)
    np.testing.assert_allclose(again.predict(ids, verbose=0), model.predict(ids, verbose=0), rtol=1e-6)


def test_transfer_encoder_keeps_encoder_and_new_head():
    src = build_classifier(20, 2, embedding_dim=4, units=3, seed=0)
    dst = build_classifier(20, 3, embedding_dim=4, units=3, seed=5)
    assert transfer_encoder(src, dst) == ["embedding", "encoder"]
    for name in ("embedding", "encoder"):
        for a, b in zip(src.get_layer(name).get_weights(), dst.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    assert dst.get_layer("classifier").get_weights()[0].shape == (12, 3)
    other = build_classifier(20, 3, embedding_dim=4, units=7)
    with pytest.raises(ValueError, match="weight shapes"):
        transfer_encoder(src, other)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="num_classes"):
        build_classifier(20, 1)
    with pytest.raises(ValueError, match="mode"):
        build_classifier(20, 2, pooling="sum")
    with pytest.raises(ValueError, match="cell_type"):
        build_classifier(20, 2, cell_type="transformer")
