"""Sentiment data: format readers, bad rows, splits, truncation and the bucketed pipeline."""

from collections import Counter
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.data.bucketing import count_bucketed_batches, quantile_boundaries
from seqtasks.data.imdb import ImdbSplit, load_imdb
from seqtasks.errors import ConfigError, DataError
from seqtasks.tasks.sentiment import data as sd

IMDB_TRAIN = Path(__file__).resolve().parents[3].parent / "shared/data/sentiment/imdb/train.tsv"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_tsv_reads_quotes_literally_and_cleans_html(tmp_path):
    f = write(tmp_path / "d.tsv", 'text\tlabel\n"Great" movie,<br /><br />really\tpos\nbad "film\tneg\n')
    d = sd.read_labelled(f)
    assert d.texts == ['"Great" movie, really', 'bad "film']
    assert d.labels == ["pos", "neg"]
    assert d.bad_rows == [] and d.blank_lines == 0


def test_tsv_columns_by_name_index_and_without_header(tmp_path):
    f = write(tmp_path / "d.tsv", "id\tlabel\treview\n1\tpositive\tnice\n2\tneutral\tok\n")
    d = sd.read_labelled(f, text_column="review", label_column="label")
    assert (d.texts, d.labels) == (["nice", "ok"], ["positive", "neutral"])
    d = sd.read_labelled(f, text_column=2, label_column=1)
    assert d.texts == ["nice", "ok"]
    g = write(tmp_path / "e.tsv", "negative\tawful\npositive\tlovely\n")
    d = sd.read_labelled(g, header=False, text_column=1, label_column=0)
    assert (d.texts, d.labels) == (["awful", "lovely"], ["negative", "positive"])
    with pytest.raises(DataError, match=r"e\.tsv:1: .*column named 'text'"):
        sd.read_labelled(g)
    with pytest.raises(ConfigError, match="header"):
        sd.read_labelled(g, header=False)


def test_csv_rfc4180_quoting_and_line_numbers(tmp_path):
    text = (
        "label,text\n"
        'pos,"Loved it, truly"\n'
        'neg,"He said ""no""\nand left"\n'
        "neg,too,many\n"
        "pos,plain\n"
    )
    f = write(tmp_path / "d.csv", text)
    d = sd.read_labelled(f, on_bad_row="skip")
    assert d.texts == ["Loved it, truly", 'He said "no" and left', "plain"]
    assert d.labels == ["pos", "neg", "pos"]
    # The quoted field spans lines 3-4, so the bad row is on line 5.
    assert [(b.line, b.reason) for b in d.bad_rows] == [(5, "expected 2 columns, found 3")]
    with pytest.raises(DataError, match=r"d\.csv:5: expected 2 columns, found 3; .*on_bad_row=skip"):
        sd.read_labelled(f)


def test_csv_broken_quoting_is_reported(tmp_path):
    f = write(tmp_path / "d.csv", 'text,label\n"ok",pos\n"unterminated,neg\n')
    with pytest.raises(DataError, match=r"d\.csv:3: malformed CSV"):
        sd.read_labelled(f, on_bad_row="skip")


def test_malformed_rows_fail_and_skip(tmp_path):
    f = write(
        tmp_path / "bad.tsv",
        "text\tlabel\n"
        "fine\tpos\n"  # 2
        "no label column\n"  # 3: one column
        "\n"  # 4: blank
        "  <br />  \tneg\n"  # 5: empty after cleaning
        "text\t\n"  # 6: empty label
        "meh\tneutral\n"  # 7: unknown label when classes are given
        "a\tb\tc\n"  # 8: three columns
        "good\tneg\n",  # 9
    )
    with pytest.raises(DataError, match=r"bad\.tsv:3: expected 2 columns, found 1"):
        sd.read_labelled(f)
    d = sd.read_labelled(f, on_bad_row="skip", classes=["neg", "pos"])
    assert d.texts == ["fine", "good"]
    assert [(b.line, b.reason.split(" (")[0]) for b in d.bad_rows] == [
        (3, "expected 2 columns, found 1"),
        (5, "empty text"),
        (6, "empty label"),
        (7, "unknown label 'neutral'"),
        (8, "expected 2 columns, found 3"),
    ]
    assert all(b.path == str(f) for b in d.bad_rows)
    assert d.blank_lines == 1
    assert "5 bad rows skipped" in d.summary() and f"{f}:3" in d.summary()
    # Every line is accounted for: header + examples + bad rows + blank lines.
    assert 1 + len(d) + len(d.bad_rows) + d.blank_lines == 9
    g = write(tmp_path / "unknown.tsv", "text\tlabel\n" + "x\tpos\n" * 5 + "meh\tneutral\n")
    with pytest.raises(DataError, match=r"unknown\.tsv:7: unknown label 'neutral'"):
        sd.read_labelled(g, classes=["neg", "pos"])


def test_non_utf8_and_missing_and_empty(tmp_path):
    f = tmp_path / "latin.tsv"
    f.write_bytes(b"text\tlabel\nok\tpos\ncaf\xe9\tneg\n")
    with pytest.raises(DataError, match=r"latin\.tsv:3: not valid UTF-8"):
        sd.read_labelled(f)
    with pytest.raises(DataError, match="does not exist"):
        sd.read_labelled(tmp_path / "nope.tsv")
    with pytest.raises(DataError, match="no usable example"):
        sd.read_labelled(write(tmp_path / "h.tsv", "text\tlabel\n"))
    with pytest.raises(ConfigError, match="on_bad_row"):
        sd.read_labelled(f, on_bad_row="ignore")


def test_class_folders(tmp_path):
    write(tmp_path / "train/pos/0_9.txt", "A fine film.<br />Go.")
    write(tmp_path / "train/pos/1_8.txt", "Loved it")
    write(tmp_path / "train/neg/2_1.txt", "Dull")
    write(tmp_path / "train/neg/3_2.txt", "   ")
    write(tmp_path / "train/unsup/4_0.txt", "unlabelled")
    write(tmp_path / "train/urls_pos.txt", "not an example")
    root = tmp_path / "train"
    d = sd.read_labelled(root, classes=["neg", "pos"], on_bad_row="skip")
    assert sorted(zip(d.labels, d.texts, strict=True)) == [
        ("neg", "Dull"), ("pos", "A fine film. Go."), ("pos", "Loved it")
    ]
    assert [(Path(b.path).name, b.line, b.reason) for b in d.bad_rows] == [("3_2.txt", 1, "empty text")]
    everything = sd.read_labelled(root, on_bad_row="skip")
    assert sorted(set(everything.labels)) == ["neg", "pos", "unsup"]
    with pytest.raises(DataError, match=r"3_2\.txt:1: empty text"):
        sd.read_labelled(root, classes=["neg", "pos"])
    with pytest.raises(DataError, match="needs a folder"):
        sd.read_labelled(root / "urls_pos.txt", format="folders")


def test_label_map_and_class_order():
    assert sd.sorted_classes(["10", "2", "1", "2"]) == ["1", "2", "10"]
    assert sd.sorted_classes(["positive", "negative", "neutral"]) == ["negative", "neutral", "positive"]
    np.testing.assert_array_equal(sd.encode_labels(["b", "a", "b"], ["b", "a"]), [0, 1, 0])
    with pytest.raises(DataError, match="not among the model's classes"):
        sd.encode_labels(["a", "z"], ["a", "b"], "f.tsv")


def test_label_map_applies_before_classes(tmp_path):
    f = write(tmp_path / "d.tsv", "text\tlabel\nx\t0\ny\t1\n")
    d = sd.read_labelled(f, label_map={"0": "negative", "1": "positive"}, classes=["negative", "positive"])
    assert d.labels == ["negative", "positive"]


def test_validation_split_is_seeded_stratified_and_disjoint():
    data = sd.LabelledTexts(texts=[f"t{i}" for i in range(50)], labels=["a"] * 40 + ["b"] * 8 + ["c"] * 2,
                            source="mem")
    train, val = sd.split_validation(data, 0.2, seed=3)
    again_train, again_val = sd.split_validation(data, 0.2, seed=3)
    assert val.texts == again_val.texts and train.texts == again_train.texts
    assert sorted(train.texts + val.texts) == sorted(data.texts)
    assert Counter(val.labels) == {"a": 8, "b": 2, "c": 1}
    _, other = sd.split_validation(data, 0.2, seed=4)
    assert other.texts != val.texts
    with pytest.raises(ConfigError, match="validation_split"):
        sd.split_validation(data, 1.0, seed=0)


def test_class_weights():
    w = sd.class_weights(np.array([0, 0, 0, 1]), 3)
    np.testing.assert_allclose(w, [4 / 9, 4 / 3, 1.0])


def test_clean_text_python_and_graph_agree():
    samples = ["a<br />b", "  x <BR> y\t\tz\n", "<br/><br />", "keep <b>bold</b> & \u00a0nbsp", "plain"]
    graph = [s.decode("utf-8") for s in sd.clean_text_tf(tf.constant(samples)).numpy()]
    assert graph == [sd.clean_text(s) for s in samples]
    assert graph[:3] == ["a b", "x y z", ""]


@pytest.mark.parametrize("mode", ["head", "tail", "head_tail"])
def test_truncation_matches_python_reference(mode):
    rows = [list(range(1, n + 1)) for n in (0, 3, 8, 9, 20)]
    got = sd.truncate_ids(tf.ragged.constant(rows, dtype=tf.int32), 8, mode).to_list()
    head = {"head": 8, "tail": 0, "head_tail": 2}[mode]
    tail = 8 - head
    want = [r if len(r) <= 8 else r[:head] + (r[-tail:] if tail else []) for r in rows]
    assert got == want
    with pytest.raises(ConfigError, match="truncate"):
        sd.truncate_ids(tf.ragged.constant(rows), 8, "middle")


def test_bucketing_keeps_every_example_exactly_once():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, size=103)
    rows = [[int(i) + 1] + [5] * (int(n) - 1) for i, n in enumerate(lengths)]  # first id = example number
    ids = tf.ragged.constant(rows, dtype=tf.int32)
    labels = np.arange(103) % 3
    bounds = quantile_boundaries(lengths, 4)
    assert bounds == sorted(set(bounds)) and len(bounds) <= 3
    seen = []
    for epoch in range(2):
        ds = sd.make_dataset(ids, labels, batch_size=8, boundaries=bounds, shuffle_seed=(1, epoch),
                             weights=labels + 0.5)
        epoch_seen = []
        batches = list(ds)
        assert len(batches) == int(ds.cardinality()) == count_bucketed_batches(lengths, 8, bounds)
        again = list(sd.make_dataset(ids, labels, batch_size=8, boundaries=bounds, shuffle_seed=(1, epoch)))
        assert all((a[0].numpy() == b[0].numpy()).all() for a, b in zip(batches, again, strict=True))
        for x, y, w in batches:
            x = x.numpy()
            assert x.dtype == np.int32 and len(x) <= 8
            np.testing.assert_array_equal(w.numpy(), y.numpy() + 0.5)
            for row, label in zip(x, y.numpy(), strict=True):
                n = int((row != 0).sum())
                assert (row[n:] == 0).all()  # right-padded with 0
                example = row[0] - 1
                assert n == lengths[example] and label == labels[example]
                epoch_seen.append(example)
        assert sorted(epoch_seen) == list(range(103))
        seen.append(epoch_seen)
    assert seen[0] != seen[1]  # another order in another epoch


def test_bucketing_unlabelled_and_sorted_inference_batches():
    ids = tf.ragged.constant([[1, 2, 3], [4], [5, 6]], dtype=tf.int32)
    batches = [b.numpy() for b in sd.make_dataset(ids, None, batch_size=2, boundaries=[2])]
    rows = sorted(tuple(int(v) for v in r if v) for b in batches for r in b)
    assert rows == [(1, 2, 3), (4,), (5, 6)]
    order = []
    for idx, padded in sd.length_sorted_batches(ids, 2):
        assert padded.shape[0] == len(idx)
        order.extend(idx.tolist())
    assert sorted(order) == [0, 1, 2] and order[0] == 1


def test_imdb_local_copy_is_read_with_the_tsv_reader(tmp_path):
    write(tmp_path / "sentiment/imdb/test.tsv", "text\tlabel\n\"Quoted\" start<br />x\t1\nbad\t0\n")
    cfg = SimpleNamespace(data_dir=str(tmp_path), tfds_data_dir=str(tmp_path / "tfds"))
    d = sd.imdb_texts(load_imdb("test", cfg), label_map={"0": "neg", "1": "pos"})
    assert d.texts == ['"Quoted" start x', "bad"] and d.labels == ["pos", "neg"]
    assert d.source == str(tmp_path / "sentiment/imdb/test.tsv")


def test_imdb_from_tfds_is_cleaned_and_relabelled():
    found = ImdbSplit("test", "tfds:imdb_reviews/test", examples=[("Fine.<br /><br />Really  fine.", "1"), ("Bad.", "0")])
    d = sd.imdb_texts(found, label_map={"0": "neg"})
    assert d.texts == ["Fine. Really fine.", "Bad."] and d.labels == ["1", "neg"]
    assert d.source == "tfds:imdb_reviews/test" and not d.bad_rows


@pytest.mark.skipif(not IMDB_TRAIN.is_file(), reason="local IMDB copy (../shared/data/sentiment/imdb) absent")
def test_real_imdb_train_copy_reads_cleanly():
    d = sd.read_labelled(IMDB_TRAIN)
    assert len(d) == 25000 and d.label_counts() == {"0": 12500, "1": 12500}
    assert not d.bad_rows and not any("<br" in t.lower() for t in d.texts[:2000])
