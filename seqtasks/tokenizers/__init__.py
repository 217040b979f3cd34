"""Tokenizers shared by the text recipes."""

from seqtasks.tokenizers.sentencepiece import (
    SentencePieceTokenizer,
    train_sentencepiece,
    train_sentencepiece_model,
)

__all__ = ["SentencePieceTokenizer", "train_sentencepiece", "train_sentencepiece_model"]
