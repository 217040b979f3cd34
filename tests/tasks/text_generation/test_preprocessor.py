"""Text generation preprocessor: the character vocabulary, and the Preprocessor build / adapt_from / save / load."""

from __future__ import annotations

import pytest

from seqtasks.errors import CheckpointError
from seqtasks.tasks.text_generation.config import TextGenerationConfig
from seqtasks.tasks.text_generation.preprocessor import CharVocabulary, TextGenerationPreprocessor

TEXT = "First Citizen:\nBefore we proceed any further, hear me speak.\n\nAll:\nSpeak, speak.\n" * 4


@pytest.fixture(scope="module")
def vocab():
    return CharVocabulary.build(TEXT)


def test_vocabulary_roundtrip_unknown_and_extend(tmp_path, vocab):
    assert vocab.decode(vocab.encode("hear me")) == "hear me"
    ids = vocab.encode("héar")
    assert ids[1] == vocab.unknown_id == 0 and vocab.count_unknown("héar€") == 2
    assert vocab.decode(ids) == "h\ufffdar"
    bigger, new = vocab.extend("héllo €uro", min_count=1)
    assert new == ["é", "€"] and bigger.size == vocab.size + 2
    assert list(bigger.encode("hear")) == list(vocab.encode("hear"))  # existing ids unchanged
    path = vocab.save(tmp_path / "vocabulary.json")
    assert CharVocabulary.load(path).chars == vocab.chars
    with pytest.raises(CheckpointError, match="is missing"):
        CharVocabulary.load(tmp_path / "nope.json")


def test_build_save_load(tmp_path):
    config = TextGenerationConfig()
    config.data.min_char_count = 2
    pre = TextGenerationPreprocessor.build(config, "aab\nb c")
    assert pre.vocab.chars == ["a", "b"] and pre.new_chars == []  # " ", "\n", "c" seen once
    assert TextGenerationPreprocessor.build(config, "aab\nb c").vocab.chars == pre.vocab.chars  # deterministic
    assert TextGenerationPreprocessor.files == ("vocabulary.json",)
    assert not TextGenerationPreprocessor.is_saved(tmp_path)
    pre.save(tmp_path)
    assert TextGenerationPreprocessor.is_saved(tmp_path)
    assert TextGenerationPreprocessor.load(tmp_path, config).vocab.chars == ["a", "b"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["vocabulary.json"]  # no temporary file left


@pytest.mark.parametrize("policy", ["extend", "unknown"])
def test_adapt_from_follows_data_new_chars(policy):
    config = TextGenerationConfig()
    config.data.new_chars = policy
    source = TextGenerationPreprocessor(CharVocabulary("abc"))
    adapted = TextGenerationPreprocessor.adapt_from(source, config, "cab€é")
    if policy == "extend":
        assert adapted.vocab.chars == ["a", "b", "c", "é", "€"] and adapted.new_chars == ["é", "€"]
    else:
        assert adapted.vocab.chars == ["a", "b", "c"] and adapted.new_chars == []
    assert source.vocab.chars == ["a", "b", "c"]  # the source run's is left as it was
