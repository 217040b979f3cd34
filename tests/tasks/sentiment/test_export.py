"""The exported SavedModel: raw strings in, the same probabilities as in-process.

(Loading in a fresh process without seqtasks is covered end to end in test_task.py.)
"""

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.runtime.export import save_serving_module
from seqtasks.tasks.sentiment.export import SentimentServing
from seqtasks.tasks.sentiment.model import build_classifier, probabilities
from seqtasks.tasks.sentiment.preprocessor import SentimentTokenizer
from seqtasks.tokenizers import SentencePieceTokenizer, train_sentencepiece

TEXTS = ["the film was great fun", "dull<br />plot, slow " * 5, "", "great acting"]


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("export")
    corpus = ["the film was great fun", "the plot was dull and slow", "great acting, dull plot"] * 20
    tok = SentencePieceTokenizer(train_sentencepiece(corpus, tmp / "spm.model", vocab_size=40))
    pre = SentimentTokenizer(tok.model_proto, max_length=12, truncate="head_tail")
    model = build_classifier(tok.vocab_size, 3, embedding_dim=8, units=4, seed=3)
    path = save_serving_module(SentimentServing(model, pre, ["neg", "neutral", "pos"]), tmp / "export")
    ids = pre.encode(TEXTS).to_tensor().numpy()
    expected = probabilities(model.predict(np.pad(ids, ((0, 0), (0, 1))), verbose=0))
    return tf.saved_model.load(str(path)), expected


def test_serving_signature_matches_in_process(exported):
    served, expected = exported
    out = served.signatures["serving_default"](text=tf.constant(TEXTS))
    np.testing.assert_allclose(out["probabilities"].numpy(), expected, rtol=1e-5, atol=1e-6)
    names = np.array(["neg", "neutral", "pos"])
    assert [s.decode() for s in out["label"].numpy()] == names[expected.argmax(-1)].tolist()
    np.testing.assert_array_equal(out["label_id"].numpy(), expected.argmax(-1))
    np.testing.assert_allclose(out["probability"].numpy(), expected.max(-1), rtol=1e-5, atol=1e-6)
    assert [c.decode() for c in served.class_names.numpy()] == names.tolist()


def test_batch_composition_does_not_matter(exported):
    served, expected = exported
    single = served.serve(tf.constant([TEXTS[1]]))["probabilities"].numpy()
    np.testing.assert_allclose(single[0], expected[1], rtol=1e-5, atol=1e-6)
    assert served.serve(tf.constant([], tf.string))["probabilities"].shape.as_list() == [0, 3]
