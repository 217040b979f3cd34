"""seqtasks.tokenizers.sentencepiece: training in memory or to a file (the same model), loading from bytes."""

import pytest

from seqtasks.errors import DataError
from seqtasks.tokenizers import (
    SentencePieceTokenizer,
    train_sentencepiece,
    train_sentencepiece_model,
)
from seqtasks.tokenizers.sentencepiece import BOS_ID, EOS_ID, PAD_ID, UNK_ID

TEXTS = ["the film was great fun", "the plot was dull and slow", "great acting, dull plot"] * 20


def test_in_memory_model_equals_the_written_file(tmp_path):
    model = train_sentencepiece_model(TEXTS, vocab_size=40)
    assert list(tmp_path.iterdir()) == []
    path = train_sentencepiece(TEXTS, tmp_path / "sub" / "spm.model", vocab_size=40)
    assert path.read_bytes() == model
    from_file, from_bytes = SentencePieceTokenizer(path), SentencePieceTokenizer.from_bytes(model)
    assert from_file.model_path == path and from_bytes.model_path is None
    assert from_bytes.model_proto == model and from_bytes.vocab_size == from_file.vocab_size
    assert (from_bytes.pad_id, from_bytes.unk_id, from_bytes.bos_id, from_bytes.eos_id) == (
        PAD_ID, UNK_ID, BOS_ID, EOS_ID
    )
    assert from_bytes.encode_batch(TEXTS[:3]) == from_file.encode_batch(TEXTS[:3])
    assert from_bytes.decode(from_bytes.encode("great fun")) == "great fun"


def test_bad_models_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        SentencePieceTokenizer(tmp_path / "missing.model")
    with pytest.raises(DataError, match=r"Sentencepiece model 'mine' cannot be read") as info:
        SentencePieceTokenizer.from_bytes(b"not a model", "'mine'")
    assert "\n" not in str(info.value)
    with pytest.raises(DataError, match="empty corpus"):
        train_sentencepiece_model(["", "  "], vocab_size=40)
