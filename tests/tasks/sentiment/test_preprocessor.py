"""In-graph preprocessing: cleaning, tensorflow-text sentencepiece, truncation."""

import pytest
import tensorflow as tf

from seqtasks.tasks.sentiment.data import clean_text
from seqtasks.tasks.sentiment.preprocessor import SentimentPreprocessor
from seqtasks.tokenizers import SentencePieceTokenizer, train_sentencepiece


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    texts = ["the film was great fun", "the plot was dull and slow", "great acting, dull plot"] * 20
    path = train_sentencepiece(texts, tmp_path_factory.mktemp("spm") / "spm.model", vocab_size=40)
    return SentencePieceTokenizer(path)


def test_matches_python_sentencepiece_on_cleaned_text(tokenizer):
    texts = ["the film was<br />great   fun", "dull plot", ""]
    pre = SentimentPreprocessor(tokenizer.model_proto, max_length=100)
    got = pre.encode(texts).to_list()
    assert got == [tokenizer.encode(clean_text(t)) for t in texts]
    assert got[2] == []


def test_truncation_and_graph_mode(tokenizer):
    pre = SentimentPreprocessor(tokenizer.model_proto, max_length=3, truncate="tail")
    full = tokenizer.encode("the plot was dull and slow")
    fn = tf.function(lambda t: pre(t).to_tensor(), input_signature=[tf.TensorSpec([None], tf.string)])
    assert fn(tf.constant(["the plot was dull and slow"])).numpy().tolist() == [full[-3:]]
    # Chunked eager encoding gives the same rows as one call.
    many = ["great fun"] * 5 + ["slow"] * 4
    assert pre.encode(many, chunk_size=2).to_list() == pre(tf.constant(many)).to_list()


def test_invalid_arguments(tokenizer):
    with pytest.raises(ValueError, match="truncate"):
        SentimentPreprocessor(tokenizer.model_proto, 8, truncate="middle")
    with pytest.raises(ValueError, match="max_length"):
        SentimentPreprocessor(tokenizer.model_proto, 0)
