"""The lexicon-constrained CTC decoder against an independent reference: the best CTC alignment score (Viterbi,
in NumPy) of every word sequence, enumerated, plus the unigram LM score of its words; the word-list reader and
the `build` command."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.decoding.lexicon import Lexicon, LexiconCTCDecoder, main
from seqtasks.errors import DataError
from seqtasks.losses.ctc import PAD_LABEL

SEP, BLANK, K = 0, 5, 6
LEXICON = [[1, 2], [2, 3, 3], [4], [1, 1]]


def best_alignment_score(log_probs: np.ndarray, labels: list[int]) -> float:
    """Max over CTC alignments of `labels` of the summed frame log-probabilities (textbook Viterbi)."""
    ext = [BLANK]
    for label in labels:
        ext += [label, BLANK]
    t_len, s_len = len(log_probs), len(ext)
    delta = np.full(s_len, -np.inf)
    delta[0] = log_probs[0, ext[0]]
    if s_len > 1:
        delta[1] = log_probs[0, ext[1]]
    for t in range(1, t_len):
        new = np.full(s_len, -np.inf)
        for s in range(s_len):
            best = delta[s]
            if s >= 1:
                best = max(best, delta[s - 1])
            if s >= 2 and ext[s] != BLANK and ext[s] != ext[s - 2]:
                best = max(best, delta[s - 2])
            new[s] = best + log_probs[t, ext[s]]
        delta = new
    return float(max(delta[-1], delta[-2] if s_len > 1 else -np.inf))


def reference(log_probs: np.ndarray, max_words: int = 4, lexicon=LEXICON, word_scores=None) -> tuple[list[int], float]:
    """The best word sequence by enumeration; `word_scores[i]` is added per use of word `i` (LM + bonus)."""
    best, best_score = [], -np.inf
    for n in range(1, max_words + 1):
        for chosen in itertools.product(range(len(lexicon)), repeat=n):
            words = [lexicon[i] for i in chosen]
            labels = list(words[0])
            for w in words[1:]:
                labels += [SEP, *w]
            score = best_alignment_score(log_probs, labels)
            if word_scores is not None:
                score += sum(word_scores[i] for i in chosen)
            if score > best_score + 1e-6:
                best, best_score = labels, score
    return best, best_score


@pytest.mark.parametrize("seed", range(6))
def test_matches_exhaustive_search_over_word_sequences(seed):
    rng = np.random.default_rng(seed)
    frames = 7
    logits = rng.normal(0, 2.0, (3, frames, K)).astype(np.float32)
    lengths = np.array([frames, 5, 4], np.int32)
    ids, out_lengths = LexiconCTCDecoder(LEXICON, SEP, BLANK).decode(tf.constant(logits), tf.constant(lengths))
    log_probs = tf.nn.log_softmax(logits).numpy()
    for b in range(3):
        # At most 4 words fit in 7 frames (each character and separator needs a frame).
        expected, _ = reference(log_probs[b, : lengths[b]])
        got = ids.numpy()[b, : out_lengths.numpy()[b]].tolist()
        assert got == expected, (b, got, expected)
        assert np.all(ids.numpy()[b, out_lengths.numpy()[b]:] == PAD_LABEL)


def test_spells_only_lexicon_words_where_free_decoding_would_not():
    # The frames say 1 3 (not a word); the closest words under the constraint win.
    path = [1, 1, BLANK, 3, 3, BLANK]
    logits = tf.one_hot([path], K) * 4.0
    ids, lengths = LexiconCTCDecoder(LEXICON, SEP, BLANK).decode(logits, tf.constant([6]))
    decoded = ids.numpy()[0, : lengths.numpy()[0]].tolist()
    words = [tuple(w) for w in LEXICON]
    pieces = [tuple(int(x) for x in piece.split()) for piece in " ".join(map(str, decoded)).split(f" {SEP} ")]
    assert decoded and all(piece in words for piece in pieces), decoded


def test_too_short_rows_decode_to_nothing_and_graph_mode_works():
    decoder = LexiconCTCDecoder([[1, 2, 3]], SEP, BLANK)  # needs 3 frames
    fn = tf.function(decoder.decode, input_signature=[tf.TensorSpec([None, None, K]), tf.TensorSpec([None], tf.int32)])
    ids, lengths = fn(tf.zeros([2, 4, K]), tf.constant([2, 0]))
    assert lengths.numpy().tolist() == [0, 0]
    ids, lengths = fn(tf.zeros([1, 1, K]), tf.constant([1]))
    assert lengths.numpy().tolist() == [0]


def test_invalid_lexicon_is_refused():
    with pytest.raises(ValueError, match="lexicon"):
        LexiconCTCDecoder([[1, SEP, 2]], SEP, BLANK)
    with pytest.raises(ValueError, match="lexicon"):
        LexiconCTCDecoder([], SEP, BLANK)


@pytest.mark.parametrize("seed", range(4))
def test_word_counts_add_the_unigram_log_probability_of_each_word(seed):
    # Words that are prefixes of others ("1 2" / "1 2 4") and share prefixes: the LM look-ahead spread over the
    # prefix tree must still add exactly lm_weight * log P(word) + word_bonus per word.
    lexicon = [[1, 2], [1, 2, 4], [2, 3, 3], [4], [1, 1], [3]]
    rng = np.random.default_rng(100 + seed)
    counts = rng.integers(1, 50, len(lexicon)).astype(float)
    lm_weight, word_bonus = 0.8, 0.6
    word_scores = lm_weight * np.log(counts / counts.sum()) + word_bonus
    frames = 6
    logits = rng.normal(0, 2.0, (2, frames, K)).astype(np.float32)
    lengths = np.array([frames, 4], np.int32)
    decoder = LexiconCTCDecoder(lexicon, SEP, BLANK, counts=counts, lm_weight=lm_weight, word_bonus=word_bonus)
    ids, out_lengths = decoder.decode(tf.constant(logits), tf.constant(lengths))
    log_probs = tf.nn.log_softmax(logits).numpy()
    for b in range(2):
        expected, _ = reference(log_probs[b, : lengths[b]], 3, lexicon, word_scores)
        assert ids.numpy()[b, : out_lengths.numpy()[b]].tolist() == expected


def test_counts_move_the_decision_toward_the_frequent_word():
    # Audio halfway between word [1, 2] and word [1, 3]: the counts decide.
    frame = np.full(K, -4.0, np.float32)
    logits = np.stack([frame] * 3)
    logits[0, 1] = 2.0
    logits[1, 2] = logits[1, 3] = 1.0
    logits[2, BLANK] = 2.0
    for counts, want in (([1.0, 100.0], [1, 3]), ([100.0, 1.0], [1, 2])):
        ids, n = LexiconCTCDecoder([[1, 2], [1, 3]], SEP, BLANK, counts=counts).decode(
            tf.constant(logits[None]), tf.constant([3]))
        assert ids.numpy()[0, : n.numpy()[0]].tolist() == want


def test_word_list_reader(tmp_path):
    plain = tmp_path / "words.txt"
    plain.write_text("# digits\nzero\none\n\none\n", encoding="utf-8")
    lexicon = Lexicon.read(plain)
    assert lexicon.words == ("zero", "one") and lexicon.counts is None
    counted = tmp_path / "counts.tsv"
    counted.write_text("the\t120\ncat 3\nthe\t5\n", encoding="utf-8")
    lexicon = Lexicon.read(counted, lm_weight=0.5, word_bonus=1.0)
    assert lexicon.words == ("the", "cat") and lexicon.counts == (125.0, 3.0)
    assert (lexicon.lm_weight, lexicon.word_bonus, lexicon.bigrams) == (0.5, 1.0, None)
    # Word pairs: a bigram LM over the counted words (`<s>`: the sentence start and the number of sentences).
    paired = tmp_path / "pairs.tsv"
    paired.write_text("<s>\t10\nthe\t120\ncat\t3\n<s> the\t7\nthe cat\t2\nthe cat\t1\n", encoding="utf-8")
    lexicon = Lexicon.read(paired)
    assert lexicon.words == ("the", "cat") and lexicon.sentences == 10.0
    assert lexicon.bigrams == ((-1, 0, 7.0), (0, 1, 3.0))
    for text, message in (("a\nb 2\n", "line 2"), ("a 2\nb 1\na b 3\n", "<s>"), ("a -1\n", "positive"),
                          ("a x\n", "positive"), ("\n# nothing\n", "no words"), ("a\na b 3\n", "line 2"),
                          ("<s> 4\na 2\na b 3\n", "line 3"), ("a 1 2 3\n", "line 1"),
                          ("<s>\na\n", "sentence start")):
        bad = tmp_path / "bad.txt"
        bad.write_text(text, encoding="utf-8")
        with pytest.raises(DataError, match=message):
            Lexicon.read(bad)
    with pytest.raises(DataError, match="does not exist"):
        Lexicon.read(tmp_path / "missing.txt")
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))
    with pytest.raises(DataError, match="latin1.txt is not UTF-8"):
        Lexicon.read(tmp_path / "latin1.txt")


def test_build_counts_words_leaves_test_sentences_out_and_never_overwrites(tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text("The cat sat. The dog sat!\nA secret test sentence here.\nCafé au lait\n", encoding="utf-8")
    manifest = tmp_path / "test.csv"
    manifest.write_text("path,transcript\na.wav,secret test sentence\n", encoding="utf-8")
    alphabet = tmp_path / "alphabet.json"
    alphabet.write_text('{"characters": " \'abcdefghijklmnopqrstuvwxyz"}', encoding="utf-8")
    out = tmp_path / "words.tsv"
    args = ["build", "--text", str(text), "--alphabet-from", str(alphabet), "--exclude", str(manifest), "--out", str(out)]
    assert main(args) == 0
    lexicon = Lexicon.read(out)
    assert dict(zip(lexicon.words, lexicon.counts, strict=True)) == {
        "the": 2, "sat": 2, "cat": 1, "dog": 1, "cafe": 1, "au": 1, "lait": 1}
    before = out.read_text(encoding="utf-8")
    assert main(args) == 1 and "never overwrites" in capsys.readouterr().err
    assert out.read_text(encoding="utf-8") == before
    # Without a run: the given letters (default a-z and the apostrophe), e.g. for a phoneme model's word list.
    letters = tmp_path / "letters.tsv"
    assert main(["build", "--text", str(text), "--alphabet", " abcdefghijklmnopqrstuvwxyz", "--out", str(letters)]) == 0
    assert set(Lexicon.read(letters).words) == {"the", "sat", "cat", "dog", "a", "secret", "test", "sentence", "here",
                                                "cafe", "au", "lait"}
    assert main(["build", "--text", str(text), "--alphabet", "", "--out", str(tmp_path / "none.tsv")]) == 1
    assert "--alphabet" in capsys.readouterr().err and not (tmp_path / "none.tsv").exists()
    # --bigrams: the sentence count and the word pairs (both words listed, seen --min-pair-count times).
    pairs = tmp_path / "pairs.tsv"
    assert main(["build", "--text", str(text), "--bigrams", "--min-pair-count", "1", "--out", str(pairs)]) == 0
    lexicon = Lexicon.read(pairs)
    index = {w: i for i, w in enumerate(lexicon.words)}
    assert lexicon.sentences == 4.0  # "the cat sat", "the dog sat", "a secret ...", "cafe au lait"
    got = {(h, w): c for h, w, c in lexicon.bigrams}
    assert got[(-1, index["the"])] == 2.0 and got[(index["the"], index["cat"])] == 1.0
    assert got[(index["cat"], index["sat"])] == 1.0 and (index["sat"], index["the"]) not in got
    assert main(["build", "--text", str(text), "--bigrams", "--out", str(tmp_path / "pairs2.tsv")]) == 0
    assert Lexicon.read(tmp_path / "pairs2.tsv").bigrams == ((-1, index["the"], 2.0),)  # seen twice or more
    phonemes = tmp_path / "phonemes.json"
    phonemes.write_text('{"characters": " ka", "phonemes": ["k", "a"], "voice": "en-gb", "pronunciations": {}}')
    assert main(["build", "--text", str(text), "--alphabet-from", str(phonemes), "--out", str(tmp_path / "p.tsv")]) == 1
    assert "phoneme model" in capsys.readouterr().err


def best_words(log_probs: np.ndarray, spellings, word_scores, max_words: int = 3, pair_scores=None) -> list[int]:
    """The best word sequence (indices) by enumeration; `word_scores[k]` per use of word k, and
    `pair_scores(previous, k)` (previous -1 at the start) when given."""
    best, best_score = [], -np.inf
    for n in range(1, max_words + 1):
        for chosen in itertools.product(range(len(spellings)), repeat=n):
            labels = list(spellings[chosen[0]])
            for k in chosen[1:]:
                labels += [SEP, *spellings[k]]
            score = best_alignment_score(log_probs, labels) + sum(word_scores[k] for k in chosen)
            if pair_scores is not None:
                score += sum(pair_scores(h, k) for h, k in zip((-1, *chosen[:-1]), chosen, strict=True))
            if score > best_score + 1e-6:
                best, best_score = list(chosen), score
    return best


@pytest.mark.parametrize("seed", range(4))
def test_words_spelt_by_pronunciation_come_back_as_words(seed):
    # A lexicon spelt in other classes (phonemes): homophones share a spelling and each is scored by its own
    # count, so the text is the exhaustive reference's best word sequence (the graph and the runner twin).
    from seqtasks.portable.standalone import CTCLexiconDecoder

    spellings = [[1, 2], [1, 2], [1, 2, 4], [2, 3, 3], [4], [4]]
    words = ["to", "two", "tooth", "cheese", "eye", "i"]
    rng = np.random.default_rng(200 + seed)
    counts = rng.permutation(np.arange(1, 7) * 7.0)
    lm_weight, word_bonus = 0.7, 0.3
    word_scores = lm_weight * np.log(counts / counts.sum()) + word_bonus
    frames = 6
    logits = rng.normal(0, 2.0, (2, frames, K)).astype(np.float32)
    lengths = np.array([frames, 4], np.int32)
    decoder = LexiconCTCDecoder(spellings, SEP, BLANK, counts=counts, lm_weight=lm_weight, word_bonus=word_bonus,
                                outputs=words)
    texts = decoder.decode_text(tf.constant(logits), tf.constant(lengths)).numpy()
    twin = CTCLexiconDecoder(spellings, SEP, BLANK, counts=list(counts), lm_weight=lm_weight, word_bonus=word_bonus,
                             homophones=True)
    log_probs = tf.nn.log_softmax(logits).numpy()
    for b in range(2):
        expected = " ".join(words[k] for k in best_words(log_probs[b, : lengths[b]], spellings, word_scores))
        assert texts[b].decode() == expected
        assert " ".join(words[k] for k in twin.words(logits[b, : lengths[b]])) == expected


def test_bigram_tables_are_normalised_interpolated_absolute_discounting():
    from seqtasks.decoding.lexicon import BIGRAM_DISCOUNT, bigram_tables

    counts = [50.0, 30.0, 20.0]
    pairs = [(-1, 0, 6.0), (-1, 2, 3.0), (0, 1, 20.0), (0, 0, 1.0), (2, 2, 4.0)]
    tables = bigram_tables(counts, pairs, sentences=10.0)
    unigram = np.array(counts) / 100.0
    history = {-1: 10.0, 0: 50.0, 1: 30.0, 2: 20.0}
    for h in (-1, 0, 1, 2):
        listed = {w: c for hh, w, c in pairs if hh == h}
        alpha = 1.0 - sum((c - BIGRAM_DISCOUNT) / history[h] for c in listed.values())
        total = 0.0
        for w in range(3):
            key = (h + 1) * 3 + w
            where = np.flatnonzero(tables.keys == key)
            if w in listed:
                p = (listed[w] - BIGRAM_DISCOUNT) / history[h] + alpha * unigram[w]
                assert where.size == 1 and tables.corrections[where[0]] == pytest.approx(np.log(p / unigram[w]), abs=1e-5)
            else:
                p = alpha * unigram[w]
                assert where.size == 0 and tables.backoff[h + 1] == pytest.approx(np.log(alpha), abs=1e-6)
            total += p
        assert total == pytest.approx(1.0)


def test_a_bigram_chooses_between_words_that_sound_alike_by_the_word_before():
    # "i went two" / "to": the same audio, the previous word decides (a unigram would always take "to").
    from seqtasks.portable.standalone import CTCLexiconDecoder

    spellings = [[1], [2], [3, 4], [3, 4]]
    words = ["i", "we", "to", "two"]
    counts = [10.0, 10.0, 50.0, 5.0]
    pairs = [(-1, 0, 5.0), (-1, 1, 5.0), (0, 3, 9.0), (1, 2, 9.0)]
    decoder = LexiconCTCDecoder(spellings, SEP, BLANK, counts=counts, lm_weight=1.0, outputs=words,
                                bigrams=pairs, sentences=10.0)
    twin = CTCLexiconDecoder(spellings, SEP, BLANK, counts=counts, lm_weight=1.0, homophones=True,
                             bigrams=pairs, sentences=10.0)
    for first, want in ((1, "i two"), (2, "we to")):
        frames = [first, BLANK, SEP, 3, 4, BLANK]
        logits = np.eye(K, dtype=np.float32)[frames] * 8.0
        assert decoder.decode_text(tf.constant(logits[None]), tf.constant([6])).numpy()[0].decode() == want
        assert " ".join(words[k] for k in twin.words(logits)) == want
    unigram = LexiconCTCDecoder(spellings, SEP, BLANK, counts=counts, lm_weight=1.0, outputs=words)
    logits = np.eye(K, dtype=np.float32)[[1, BLANK, SEP, 3, 4, BLANK]] * 8.0
    assert unigram.decode_text(tf.constant(logits[None]), tf.constant([6])).numpy()[0].decode() == "i to"


@pytest.mark.parametrize("seed", range(3))
def test_bigram_decoding_matches_the_runner_twin_and_finds_good_paths(seed):
    # The shared-tree search is an approximation (each state keeps the best path's previous word), so its words
    # are compared with the runner's numpy twin exactly, and with the exhaustive optimum: never better (a check
    # of the scores), and equal on most rows.
    from seqtasks.decoding.lexicon import bigram_tables
    from seqtasks.portable.standalone import CTCLexiconDecoder

    rng = np.random.default_rng(300 + seed)
    spellings = [[1, 2], [2, 3, 3], [4], [1, 1], [3]]
    words = ["ab", "bcc", "d", "aa", "c"]
    counts = rng.integers(1, 40, len(words)).astype(float)
    pairs = [(h, w, float(rng.integers(1, 9))) for h in range(-1, 5) for w in range(5) if rng.random() < 0.4]
    tables = bigram_tables(counts, pairs, 30.0)
    lm_weight, word_bonus = 0.8, 0.4
    word_scores = lm_weight * np.log(counts / counts.sum()) + word_bonus

    def pair_scores(h, w):
        where = np.flatnonzero(tables.keys == (h + 1) * len(words) + w)
        return lm_weight * float(tables.corrections[where[0]] if where.size else tables.backoff[h + 1])

    decoder = LexiconCTCDecoder(spellings, SEP, BLANK, counts=counts, lm_weight=lm_weight, word_bonus=word_bonus,
                                outputs=words, bigrams=pairs, sentences=30.0)
    twin = CTCLexiconDecoder(spellings, SEP, BLANK, counts=list(counts), lm_weight=lm_weight, word_bonus=word_bonus,
                             homophones=True, bigrams=pairs, sentences=30.0)
    logits = rng.normal(0, 2.0, (3, 7, K)).astype(np.float32)
    lengths = np.array([7, 6, 4], np.int32)
    texts = decoder.decode_text(tf.constant(logits), tf.constant(lengths)).numpy()
    log_probs = tf.nn.log_softmax(logits).numpy()
    index = {w: k for k, w in enumerate(words)}

    def total(b, chosen):
        labels = list(spellings[chosen[0]])
        for k in chosen[1:]:
            labels += [SEP, *spellings[k]]
        return (best_alignment_score(log_probs[b, : lengths[b]], labels) + sum(word_scores[k] for k in chosen)
                + sum(pair_scores(h, k) for h, k in zip((-1, *chosen[:-1]), chosen, strict=True)))

    optimal = 0
    for b in range(3):
        got = texts[b].decode()
        assert got == " ".join(words[k] for k in twin.words(logits[b, : lengths[b]]))
        optimum = best_words(log_probs[b, : lengths[b]], spellings, word_scores, 4, pair_scores)
        assert total(b, [index[w] for w in got.split()]) <= total(b, optimum) + 1e-4
        optimal += got == " ".join(words[k] for k in optimum)
    assert optimal >= 2  # an approximation, but one that mostly finds the optimum


def test_word_output_needs_outputs_and_spellings_are_checked():
    decoder = LexiconCTCDecoder([[1, 2]], SEP, BLANK)
    with pytest.raises(ValueError, match="outputs"):
        decoder.decode_text(tf.zeros([1, 3, K]), tf.constant([3]))
    with pytest.raises(ValueError, match="outputs"):
        LexiconCTCDecoder([[1, 2], [4]], SEP, BLANK, outputs=["one"])
    with pytest.raises(ValueError, match="spellings"):
        Lexicon(("a", "b"), spellings=("x",))
    with pytest.raises(ValueError, match="spellings"):
        Lexicon(("a", "b"), spellings=("x", "y z"))
    assert Lexicon(("a", "b"), spellings=("x", "x")).spelled == ("x", "x")
    assert Lexicon(("a", "b")).spelled == ("a", "b")


def test_equally_counted_homophones_go_to_the_first_listed_in_graph_and_twin():
    from seqtasks.portable.standalone import CTCLexiconDecoder

    spellings, words = [[1, 2], [1, 2], [4]], ["to", "two", "eye"]
    logits = np.eye(K, dtype=np.float32)[[1, 2, BLANK, SEP, 4]] * 8.0
    for counts in (None, [5.0, 5.0, 1.0]):
        decoder = LexiconCTCDecoder(spellings, SEP, BLANK, counts=counts, outputs=words)
        twin = CTCLexiconDecoder(spellings, SEP, BLANK, counts=counts, homophones=True)
        assert decoder.decode_text(tf.constant(logits[None]), tf.constant([5])).numpy()[0].decode() == "to eye"
        assert [words[k] for k in twin.words(logits)] == ["to", "eye"]


def test_word_pairs_need_sentences_and_no_pairs_is_a_unigram():
    from seqtasks.portable.standalone import CTCLexiconDecoder

    with pytest.raises(ValueError, match="sentences"):
        LexiconCTCDecoder([[1], [2]], SEP, BLANK, counts=[1.0, 2.0], outputs=["a", "b"], bigrams=[(-1, 0, 1.0)])
    with pytest.raises(ValueError, match="lexicon_sentences"):
        CTCLexiconDecoder([[1], [2]], SEP, BLANK, counts=[1.0, 2.0], homophones=True, bigrams=[(-1, 0, 1.0)])
    assert Lexicon(("a", "b"), (1.0, 2.0), bigrams=(), sentences=3.0).bigrams is None
    with pytest.raises(ValueError, match="bigrams"):
        Lexicon(("a", "b"), (1.0, 2.0), bigrams=((-1, 0, 1.0),))  # no sentence count
