"""Tests of seqtasks.decoding.char_lm: proper smoothing, preference for seen text, files, CLI."""

from __future__ import annotations

import json
import random

import numpy as np
import pytest

from seqtasks.decoding.char_lm import END, CharNGramLM, TextStats, lm_sentences, main, read_texts
from seqtasks.errors import DataError

ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"
TEXT = [
    "The quick brown fox jumps over the lazy dog. It's a sunny day!",
    "She sells sea shells by the sea shore; the shells she sells are surely sea shells.",
    "Peter Piper picked a peck of pickled peppers. Where's the peck of pickled peppers Peter Piper picked?",
    "How much wood would a woodchuck chuck if a woodchuck could chuck wood?",
    "A big black bug bit a big black bear, made the big black bear bleed blood.",
]


@pytest.fixture(scope="module")
def lm() -> CharNGramLM:
    return CharNGramLM.train(TEXT * 3, order=4, alphabet=ALPHABET)


def test_lm_sentences_normalise_like_transcripts():
    stats = TextStats()
    out = list(lm_sentences(["Hello, World! It\u2019s a <b>well-known</b> caf\u00e9.\nIn 1990 it rained. Ok?"],
                            ALPHABET, stats=stats))
    assert out == ["hello world", "it's a well known cafe", "ok"]
    assert stats.sentences == 3 and stats.dropped_sentences == 1
    assert list(lm_sentences(["In 1990 it rained."], ALPHABET, on_unknown="drop_char")) == ["in it rained"]
    with pytest.raises(ValueError, match="on_unknown"):
        list(lm_sentences(["a"], ALPHABET, on_unknown="keep"))


@pytest.mark.parametrize("min_count", [1, 2])
def test_distributions_sum_to_one(lm, min_count):
    model = lm if min_count == 1 else CharNGramLM.train(TEXT * 3, order=5, alphabet=ALPHABET, min_count=2)
    for context in ["", "t", "th", "the qu", "zzzz", "q", "peter pipe", "'", "xq'z ", "a " * 20]:
        probs = np.exp(model.log_probs(context))
        assert probs.shape == (len(ALPHABET) + 1,)
        assert np.all(probs > 0), context
        np.testing.assert_allclose(probs.sum(), 1.0, atol=1e-5, err_msg=context)


def test_log_prob_matches_log_probs_and_prefers_seen_continuations(lm):
    row = lm.log_probs("the quick bro")
    assert lm.log_prob("w", "the quick bro") == pytest.approx(row[ALPHABET.index("w")])
    assert lm.log_prob(END, "lazy dog") == pytest.approx(lm.log_probs("lazy dog")[-1])
    assert ALPHABET[int(np.argmax(row[:-1]))] == "w"
    # "dog" ends a sentence in the training text, "do" does not.
    assert lm.log_prob(END, "the lazy dog") > lm.log_prob(END, "the lazy do")
    with pytest.raises(ValueError, match="LM alphabet"):
        lm.log_prob("Q", "the")
    with pytest.raises(ValueError, match="outside the LM alphabet"):
        lm.log_probs("THE")


def test_vectorised_scoring_equals_per_character_queries(lm):
    sentences = ["the quick brown fox", "a", "zq'x y", "peter piper picked a peck"]
    vectorised = lm._sequence_log_probs(sentences)
    reference = [lm.log_prob(s[i] if i < len(s) else END, s[:i]) for s in sentences for i in range(len(s) + 1)]
    np.testing.assert_allclose(vectorised, reference, rtol=1e-12, atol=1e-12)


def test_seen_text_has_lower_perplexity_than_shuffled(lm):
    rng = random.Random(0)
    shuffled = ["".join(rng.sample(t, len(t))) for t in TEXT]
    seen, scrambled = lm.perplexity(TEXT), lm.perplexity(shuffled)
    assert seen < 3.0 < scrambled
    assert lm.bits_per_char(TEXT) == pytest.approx(np.log2(seen))


def test_save_load_round_trip_is_exact(lm, tmp_path):
    path = lm.save(tmp_path / "lm.npz")
    loaded = CharNGramLM.load(path, alphabet=ALPHABET[::-1])  # same characters, any order
    assert (loaded.order, loaded.alphabet, loaded.discounts, loaded.info) == (lm.order, lm.alphabet, lm.discounts, lm.info)
    for context in ["", "the", "peter pipe", "zzz"]:
        np.testing.assert_array_equal(loaded.log_probs(context), lm.log_probs(context))


def test_load_errors_are_one_line_data_errors(lm, tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        CharNGramLM.load(tmp_path / "missing.npz")
    text = tmp_path / "lm.json"
    text.write_text("{}")
    with pytest.raises(DataError, match="not a readable .npz"):
        CharNGramLM.load(text)
    np.savez(tmp_path / "other.npz", weights=np.zeros(3))
    with pytest.raises(DataError, match="missing 'header'"):
        CharNGramLM.load(tmp_path / "other.npz")
    path = lm.save(tmp_path / "lm.npz")
    with np.load(path) as data:
        arrays = dict(data)
    header = json.loads(str(arrays["header"]))
    for change, message in [({"version": 99}, "newer"), ({"format": "kenlm"}, "format"), ({"order": 6}, "keys_5")]:
        bad = {**arrays, "header": np.array(json.dumps({**header, **change}))}
        np.savez(tmp_path / "bad.npz", **bad)
        with pytest.raises(DataError, match=message) as info:
            CharNGramLM.load(tmp_path / "bad.npz")
        assert "\n" not in str(info.value)
    np.savez(tmp_path / "bad.npz", **{**arrays, "probs_2": arrays["probs_2"][:-1]})
    with pytest.raises(DataError, match="inconsistent shapes"):
        CharNGramLM.load(tmp_path / "bad.npz")
    with pytest.raises(DataError, match=r"has alphabet .*xyz. but the model's is ' abc' \(LM adds .'defgh"):
        CharNGramLM.load(path, alphabet=" abc")


def test_train_rejects_bad_arguments():
    with pytest.raises(ValueError, match="`order`"):
        CharNGramLM.train(TEXT, order=0)
    with pytest.raises(ValueError, match="`min_count`"):
        CharNGramLM.train(TEXT, min_count=0)
    with pytest.raises(DataError, match="no training sentence"):
        CharNGramLM.train(["1234", "..."], order=3)
    lm = CharNGramLM.train(TEXT, order=3, max_chars=60)
    assert 0 < lm.info["characters"] <= 60


def test_cli_build_and_perplexity(tmp_path, capsys):
    run = tmp_path / "run"
    (run / "assets").mkdir(parents=True)
    (run / "assets" / "alphabet.json").write_text(json.dumps({"characters": ALPHABET}))
    text = tmp_path / "text.txt"
    text.write_text("\n".join(TEXT) + "\n")
    tsv = tmp_path / "pairs.tsv"
    tsv.write_text("text\tlabel\n" + "".join(f"{t}\t1\n" for t in TEXT))
    out = tmp_path / "lm.npz"
    assert main(["build", "--text", str(text), str(tsv), "--skip-header", "--order", "3",
                 "--alphabet-from", str(run), "--out", str(out)]) == 0
    lm = CharNGramLM.load(out, alphabet=ALPHABET)
    assert lm.order == 3 and lm.info["sentences"] == 2 * 7  # 7 sentences in TEXT, read from both files
    assert main(["perplexity", "--lm", str(out), "--text", str(text)]) == 0
    assert "bits_per_char:" in capsys.readouterr().out
    assert main(["build", "--text", str(tmp_path / "nope.txt"), "--out", str(out)]) == 2
    assert "nope.txt does not exist" in capsys.readouterr().err


def test_exclude_keeps_evaluation_text_out(tmp_path):
    stats = TextStats()
    texts = ["Does it matter? What does it matter now. The cat sat.", "Please call Stella!"]
    out = list(lm_sentences(texts, ALPHABET, stats=stats, exclude=["does it matter", "Please, call Stella."]))
    assert out == ["the cat sat"]
    assert stats.excluded_sentences == 3 and stats.sentences == 1 and stats.characters == len("the cat sat")
    # Whole words only: "one" leaves out "one day" and "it is one", not "someone" or "ones".
    kept = list(lm_sentences(["One day. Someone came. It is one. The ones."], ALPHABET, exclude=["one"]))
    assert kept == ["someone came", "the ones"]
    manifest = tmp_path / "manifest.csv"
    manifest.write_text('path,transcript\na.wav,"Does it, matter?"\n')
    lm = CharNGramLM.train(texts, order=3, alphabet=ALPHABET, exclude=read_texts([manifest]))
    assert lm.info["excluded_sentences"] == 2 and lm.info["sentences"] == 2
    (tmp_path / "bad.csv").write_text("path,words\na.wav,x\n")
    with pytest.raises(DataError, match="no transcript/text/sentence column"):
        list(read_texts([tmp_path / "bad.csv"]))
