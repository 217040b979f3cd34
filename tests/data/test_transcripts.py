"""Transcript normalisation and the CTC alphabet (`seqtasks.data.transcripts`)."""

from __future__ import annotations

import pytest

from seqtasks.data.transcripts import Alphabet, normalize_transcript
from seqtasks.errors import DataError


def test_normalize_transcript():
    assert normalize_transcript("Please call Stella.") == "please call stella"
    assert normalize_transcript("  Six spoons, five   thick slabs!\n") == "six spoons five thick slabs"
    assert normalize_transcript("It\u2019s a well-known \"fact\"") == "it's a well known fact"
    assert normalize_transcript("ABC", lowercase=False) == "ABC"


def test_alphabet_encode_decode_extend_and_save(tmp_path):
    alphabet = Alphabet.from_texts(["three one", "four"])
    assert alphabet.characters[0] == " " and alphabet.blank_index == alphabet.size
    assert alphabet.num_classes == alphabet.size + 1
    ids = alphabet.encode("one four")
    assert alphabet.decode(ids + [-1, alphabet.blank_index]) == "one four"
    with pytest.raises(DataError, match="outside the alphabet: 'z'"):
        alphabet.encode("zero")
    bigger = alphabet.extend(["zero"])
    assert bigger.characters[: alphabet.size] == alphabet.characters and "z" in bigger.characters
    assert Alphabet.load(alphabet.save(tmp_path / "alphabet.json")) == alphabet
    with pytest.raises(ValueError, match="distinct"):
        Alphabet("abca")
    with pytest.raises(DataError, match="does not exist"):
        Alphabet.load(tmp_path / "missing.json")
