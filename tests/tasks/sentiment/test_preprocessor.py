"""The sentiment preprocessor: in-graph cleaning, tensorflow-text sentencepiece, truncation; and its learnt state
(sentencepiece model + class names) built, saved, loaded and adapted for fine-tuning."""

import json

import pytest
import tensorflow as tf

from seqtasks.config import load_config
from seqtasks.errors import DataError
from seqtasks.tasks.sentiment.config import SentimentConfig
from seqtasks.tasks.sentiment.data import LabelledTexts, clean_text
from seqtasks.tasks.sentiment.preprocessor import (
    SentimentPreprocessor,
    SentimentTokenizer,
    TrainingTexts,
)
from seqtasks.tokenizers import SentencePieceTokenizer, train_sentencepiece

CORPUS = ["the film was great fun", "the plot was dull and slow", "great acting, dull plot"] * 20


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    path = train_sentencepiece(CORPUS, tmp_path_factory.mktemp("spm") / "spm.model", vocab_size=40)
    return SentencePieceTokenizer(path)


def test_matches_python_sentencepiece_on_cleaned_text(tokenizer):
    texts = ["the film was<br />great   fun", "dull plot", ""]
    pre = SentimentTokenizer(tokenizer.model_proto, max_length=100)
    got = pre.encode(texts).to_list()
    assert got == [tokenizer.encode(clean_text(t)) for t in texts]
    assert got[2] == []


def test_truncation_and_graph_mode(tokenizer):
    pre = SentimentTokenizer(tokenizer.model_proto, max_length=3, truncate="tail")
    full = tokenizer.encode("the plot was dull and slow")
    fn = tf.function(lambda t: pre(t).to_tensor(), input_signature=[tf.TensorSpec([None], tf.string)])
    assert fn(tf.constant(["the plot was dull and slow"])).numpy().tolist() == [full[-3:]]
    # Chunked eager encoding gives the same rows as one call.
    many = ["great fun"] * 5 + ["slow"] * 4
    assert pre.encode(many, chunk_size=2).to_list() == pre(tf.constant(many)).to_list()


def test_invalid_arguments(tokenizer):
    with pytest.raises(ValueError, match="truncate"):
        SentimentTokenizer(tokenizer.model_proto, 8, truncate="middle")
    with pytest.raises(ValueError, match="max_length"):
        SentimentTokenizer(tokenizer.model_proto, 0)


def labelled(labels):
    texts = (CORPUS * 2)[: len(labels)]
    return LabelledTexts(texts=texts, labels=list(labels), source="mine.tsv")


def test_build_is_deterministic_writes_nothing_and_round_trips(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    config = load_config(SentimentConfig, overrides=["data.vocab_size=40", "data.max_length=5"])
    data = labelled(["pos", "neg"] * 20)
    built = SentimentPreprocessor.build(config, TrainingTexts(data, data))
    again = SentimentPreprocessor.build(config, TrainingTexts(data, data))
    assert list(tmp_path.iterdir()) == []  # the sentencepiece trainer works in memory
    assert built.spm_model == again.spm_model and built.class_names == ["neg", "pos"]
    assert built.vocab_size == SentencePieceTokenizer.from_bytes(built.spm_model).vocab_size
    assert max(len(r) for r in built.encode(CORPUS).to_list()) <= 5
    assets = tmp_path / "assets"
    assets.mkdir()
    built.save(assets)
    assert sorted(p.name for p in assets.iterdir()) == ["classes.json", "spm.model"]
    assert json.loads((assets / "classes.json").read_text())["classes"] == ["neg", "pos"]
    assert SentimentPreprocessor.is_saved(assets)
    loaded = SentimentPreprocessor.load(assets, config)
    assert loaded.spm_model == built.spm_model and loaded.class_names == built.class_names
    assert loaded.encode(CORPUS[:3]).to_list() == built.encode(CORPUS[:3]).to_list()


def test_user_tokenizer_file_and_finetune_policy(tmp_path, tokenizer):
    own = load_config(SentimentConfig, overrides=[f"data.tokenizer={tokenizer.model_path}", "data.classes=b,a"])
    data = labelled(["a", "b", "c"] * 4)
    pre = SentimentPreprocessor.build(own, TrainingTexts(data, data))
    assert pre.spm_model == tokenizer.model_proto and pre.class_names == ["b", "a"]
    # Fine-tuning keeps the source's sentencepiece model (even with another data.tokenizer) and takes the new
    # data's classes.
    plain = load_config(SentimentConfig, overrides=["data.tokenizer=/no/such.model"])
    adapted = SentimentPreprocessor.adapt_from(pre, plain, TrainingTexts(data, data))
    assert adapted.spm_model == pre.spm_model and adapted.class_names == ["a", "b", "c"]
    with pytest.raises(DataError, match="does not exist"):
        SentimentPreprocessor.build(plain, TrainingTexts(data, data))
    with pytest.raises(DataError, match=r"mine\.tsv: only one class \('a'\)"):
        SentimentPreprocessor.build(own.__class__(), TrainingTexts(labelled(["a"] * 4), labelled(["a"] * 4)))
