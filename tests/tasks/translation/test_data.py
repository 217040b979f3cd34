"""Tests of seqtasks.tasks.translation.data: TSV reading, normalisation and leak-free splits."""

import logging
import random
import unicodedata

import pytest

from seqtasks.errors import DataError
from seqtasks.tasks.translation.data import (
    Pair,
    normalize_text,
    read_pairs,
    shared_sentences,
    split_pairs,
)


def write(tmp_path, text, name="pairs.tsv"):
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8", newline="")
    return path


def test_reads_pairs_ignoring_extra_columns_blank_lines_bom_and_crlf(tmp_path):
    path = write(
        tmp_path,
        "\ufeffGo.\tVa\u202f!\tCC-BY 2.0 (France) Attribution: tatoeba.org #2877272\r\n"
        "\n"
        "Hi.\tSalut.\r\n",
    )
    pairs = read_pairs(path)
    assert pairs == [Pair("Go.", "Va\u202f!", 1), Pair("Hi.", "Salut.", 3)]


def test_text_is_nfc_and_narrow_no_break_space_is_kept(tmp_path):
    decomposed = unicodedata.normalize("NFD", "Ça a été\u202f?")
    assert decomposed != "Ça a été\u202f?"
    pairs = read_pairs(write(tmp_path, f"Has it been?\t{decomposed}\n"))
    assert pairs[0].target == "Ça a été\u202f?"


@pytest.mark.parametrize(
    ("row", "problem"),
    [
        ("only one column", "1 tab-separated column"),
        ("\tcible", "empty source"),
        ("source\t  ", "empty target"),
    ],
)
def test_malformed_row_fails_with_file_and_line(tmp_path, row, problem):
    path = write(tmp_path, f"a\tb\nc\td\n{row}\ne\tf\n")
    with pytest.raises(DataError, match=problem) as info:
        read_pairs(path)
    message = str(info.value)
    assert f"{path}:3:" in message and "on_error='skip'" in message and "\n" not in message


def test_undecodable_row_is_reported_with_its_line(tmp_path):
    path = write(tmp_path, b"a\tb\n" + b"caf\xe9\tcaf\xc3\xa9\n" + b"c\td\n")
    with pytest.raises(DataError, match=r"pairs\.tsv:2: row is not valid UTF-8"):
        read_pairs(path)
    assert [p.line for p in read_pairs(path, on_error="skip")] == [1, 3]


def test_skip_policy_drops_and_reports_malformed_rows(tmp_path, caplog):
    rows = ["a\tb", "bad", "c\td", "\tx", "e\tf"]
    path = write(tmp_path, "\n".join(rows) + "\n")
    with caplog.at_level(logging.WARNING):
        pairs = read_pairs(path, on_error="skip")
    assert [(p.source, p.target, p.line) for p in pairs] == [
        ("a", "b", 1),
        ("c", "d", 3),
        ("e", "f", 5),
    ]
    assert "skipped 2 malformed row(s) (line 2, 4)" in caplog.text
    assert str(path) in caplog.text


def test_missing_empty_and_bad_arguments(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        read_pairs(tmp_path / "nope.tsv")
    with pytest.raises(DataError, match="no valid"):
        read_pairs(write(tmp_path, "\n\n"))
    with pytest.raises(ValueError, match="`on_error`"):
        read_pairs(write(tmp_path, "a\tb\n"), on_error="ignore")


def test_punctuation_space_policies():
    text = "Il a dit «\u00a0oui\u00a0» ! Vraiment\u2009?"
    assert normalize_text(text) == text
    assert (
        normalize_text(text, "narrow_nbsp") == "Il a dit «\u202foui\u202f»\u202f! Vraiment\u202f?"
    )
    assert normalize_text(text, "space") == "Il a dit « oui » ! Vraiment ?"
    with pytest.raises(ValueError, match="`punctuation_spaces`"):
        normalize_text(text, "french")


def tiny_pairs():
    pairs = []
    for i in range(60):
        source = f"Sentence {i % 25}."  # many sources repeat, with different translations
        pairs.append(Pair(source, f"Phrase {i} numéro {i % 7}.", i + 1))
    pairs.append(Pair("sentence 3.", "Une variante en minuscules.", 99))  # same source up to case
    return pairs


@pytest.mark.parametrize("group_by", ["source", "source_and_target"])
def test_split_shares_no_source_and_loses_nothing(group_by):
    pairs = tiny_pairs()
    splits = split_pairs(pairs, valid_size=0.15, test_size=0.15, seed=3, group_by=group_by)
    parts = (splits.train, splits.valid, splits.test)
    for a, b in ((0, 1), (0, 2), (1, 2)):
        assert not shared_sentences(parts[a], parts[b], "source")
        if group_by == "source_and_target":
            assert not shared_sentences(parts[a], parts[b], "target")
    assert sorted(p.line for part in parts for p in part) == sorted(p.line for p in pairs)
    assert len(splits.test) >= 9 and len(splits.valid) >= 9 and len(splits.train) > 20
    again = split_pairs(pairs, valid_size=0.15, test_size=0.15, seed=3, group_by=group_by)
    assert again == splits
    other = split_pairs(pairs, valid_size=0.15, test_size=0.15, seed=4, group_by=group_by)
    assert other.test != splits.test


def test_split_counts_and_errors():
    pairs = tiny_pairs()
    splits = split_pairs(pairs, valid_size=5, test_size=0)
    assert splits.test == [] and len(splits.valid) >= 5
    with pytest.raises(DataError, match="valid_size"):
        split_pairs(pairs[:4], valid_size=2, test_size=2)
    with pytest.raises(ValueError, match="`test_size`"):
        split_pairs(pairs, test_size=1.5)
    with pytest.raises(ValueError, match="`group_by`"):
        split_pairs(pairs, group_by="target")


def test_split_of_the_real_eng_fra_pairs_does_not_leak(shared_data):
    path = shared_data / "translation" / "eng-fra.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    pairs = read_pairs(path)
    assert len(pairs) == 75031
    assert sum("\u202f" in p.target for p in pairs) > 3000
    splits = split_pairs(pairs, valid_size=0.05, test_size=0.05, seed=0)
    assert len(splits.train) + len(splits.valid) + len(splits.test) == len(pairs)
    for held_out in (splits.valid, splits.test):
        assert not shared_sentences(splits.train, held_out, "source")
        assert not shared_sentences(splits.train, held_out, "target")
    assert not shared_sentences(splits.valid, splits.test, "source")
    # The file is sorted by length: the held-out sets must not be only short sentences.
    assert max(len(p.source) for p in splits.test) > 25
    # A naive pair-level split of the same file does leak, which is what the grouping prevents.
    shuffled = list(pairs)
    random.Random(0).shuffle(shuffled)
    assert shared_sentences(shuffled[: len(pairs) - 3750], shuffled[-3750:], "source")
