"""Tokenizers shared by the recipes: SentencePiece pieces for text, espeak-ng phonemes for speech targets."""

from seqtasks.tokenizers.phonemes import PhonemeAlphabet, espeak_pronunciations
from seqtasks.tokenizers.sentencepiece import (
    SentencePieceTokenizer,
    train_sentencepiece,
    train_sentencepiece_model,
)

__all__ = ["PhonemeAlphabet", "SentencePieceTokenizer", "espeak_pronunciations", "train_sentencepiece",
           "train_sentencepiece_model"]
