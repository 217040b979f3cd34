"""Phoneme targets: espeak-ng pronunciations (cached), the PhonemeAlphabet's encoding, codes and JSON form, and the
one-line errors. Tests that run espeak-ng skip where it is not installed."""

from __future__ import annotations

import json
import shutil

import pytest

from seqtasks.errors import ConfigError, DataError
from seqtasks.tokenizers import phonemes
from seqtasks.tokenizers.phonemes import (
    PhonemeAlphabet,
    espeak_pronunciations,
    is_phoneme_alphabet_json,
)

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng, or make install)")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("SEQTASKS_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def test_alphabet_encodes_words_by_their_pronunciations():
    alphabet = PhonemeAlphabet(["D", "@", "k", "a", "t", "aI", "tS"], {
        "the": ("D", "@"), "cat": ("k", "a", "t"), "i": ("aI",), "chat": ("tS", "a", "t"), "dog": ("d", "0", "g"),
    })
    # Single-character phonemes are their own code; longer names get a Greek letter each.
    assert alphabet.characters[:6] == (" ", "D", "@", "k", "a", "t")
    assert all(len(c) == 1 and c not in "DAkat @" for c in alphabet.characters[6:])
    assert alphabet.num_classes == 9 and alphabet.blank_index == 8
    assert alphabet.encode("the cat") == [1, 2, 0, 3, 4, 5]
    assert alphabet.encode("i chat") == [6, 0, 7, 4, 5]
    assert alphabet.phonemes_of(alphabet.spell("chat") + " " + alphabet.spell("i")) == ["tS", "a", "t", " ", "aI"]
    # "dog" has phonemes outside the classes, "bird" no pronunciation: both are unknown words.
    assert alphabet.spell("dog") is None and alphabet.unknown_characters("the dog bird cat") == ["dog", "bird"]
    with pytest.raises(DataError, match="'dog'"):
        alphabet.encode("the dog")


def test_alphabet_round_trips_through_json_and_is_told_apart(tmp_path):
    alphabet = PhonemeAlphabet(["k", "a", "t", "aI"], {"cat": ("k", "a", "t"), "i": ("aI",)}, voice="en-us")
    path = alphabet.save(tmp_path / "alphabet.json")
    text = path.read_text(encoding="utf-8")
    assert is_phoneme_alphabet_json(text) and not is_phoneme_alphabet_json('{"characters": " ab"}')
    again = PhonemeAlphabet.load(path)
    assert again == alphabet and again.characters == alphabet.characters and again.voice == "en-us"
    assert again.pronunciations == alphabet.pronunciations
    broken = json.loads(text)
    broken["characters"] = " xyz!"
    (tmp_path / "broken.json").write_text(json.dumps(broken), encoding="utf-8")
    with pytest.raises(DataError, match="broken.json"):
        PhonemeAlphabet.load(tmp_path / "broken.json")


def test_invalid_phoneme_sets_are_refused():
    with pytest.raises(ValueError, match="phonemes"):
        PhonemeAlphabet([], {})
    with pytest.raises(ValueError, match="phonemes"):
        PhonemeAlphabet(["a", "a"], {})


def test_missing_espeak_is_one_line_unless_the_words_are_cached(cache, monkeypatch):
    path = phonemes._cache_file("en-gb")
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"cat": ["k", "a", "t"]}), encoding="utf-8")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    assert espeak_pronunciations(["cat"]) == {"cat": ("k", "a", "t")}
    with pytest.raises(ConfigError, match="espeak-ng") as error:
        espeak_pronunciations(["cat", "dog"])
    assert "\n" not in str(error.value) and "data.targets=characters" in str(error.value)
    with pytest.raises(ConfigError, match="phoneme_voice"):
        espeak_pronunciations(["cat"], voice="en gb; rm -rf")


@needs_espeak
def test_espeak_pronunciations_drop_stress_and_are_cached(cache, monkeypatch):
    got = espeak_pronunciations(["cat", "don't", "cat", "about"])
    assert list(got) == ["cat", "don't", "about"]
    assert got["cat"] == ("k", "a", "t")
    assert all("'" not in p and "," not in p for phones in got.values() for p in phones)
    calls = []
    real = phonemes._run_espeak
    monkeypatch.setattr(phonemes, "_run_espeak", lambda words, voice: calls.append(list(words)) or real(words, voice))
    again = espeak_pronunciations(["about", "stella"])
    assert calls == [["stella"]] and again["about"] == got["about"]


@needs_espeak
def test_alphabet_from_texts_and_new_words(cache):
    alphabet = PhonemeAlphabet.from_texts(["please call stella", "the cat"])
    assert set(alphabet.pronunciations) == {"please", "call", "stella", "the", "cat"}
    assert alphabet.phonemes == tuple(sorted(alphabet.phonemes))
    ids = alphabet.encode("please call stella")
    assert ids.count(0) == 2 and alphabet.blank_index not in ids
    wider = alphabet.with_words(["sat", "cat"])
    assert wider.characters == alphabet.characters and wider.spell("sat") is not None
    assert alphabet.with_words(["cat"]) is alphabet
    extended = alphabet.extend(["the judge"])  # "judge" brings phonemes the first texts lack
    assert extended.characters[: alphabet.size] == alphabet.characters and extended.size > alphabet.size
    assert extended.spell("judge") is not None
