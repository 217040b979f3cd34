"""Sentiment classification: labelled text -> sentencepiece -> bidirectional recurrent encoder -> classes."""
