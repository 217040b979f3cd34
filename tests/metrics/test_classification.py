"""Classification metrics against hand-computed cases."""

import json

import numpy as np
import pytest

from seqtasks.metrics.classification import (
    classification_report,
    confusion_matrix,
    format_report,
    plot_confusion_matrix,
)

# Hand-computed: confusion rows [1,1,0], [1,2,0], [0,1,0]; class "c" is never predicted.
Y_TRUE = [0, 0, 1, 1, 1, 2]
Y_PRED = [0, 1, 1, 1, 0, 1]
NAMES = ["a", "b", "c"]


def test_confusion_matrix_by_hand():
    cm = confusion_matrix(Y_TRUE, Y_PRED, 3)
    np.testing.assert_array_equal(cm, [[1, 1, 0], [1, 2, 0], [0, 1, 0]])


def test_report_by_hand():
    r = classification_report(Y_TRUE, Y_PRED, NAMES)
    assert r["accuracy"] == pytest.approx(0.5)
    assert r["per_class"]["a"] == pytest.approx({"precision": 0.5, "recall": 0.5, "f1": 0.5, "support": 2})
    assert r["per_class"]["b"]["precision"] == pytest.approx(0.5)
    assert r["per_class"]["b"]["recall"] == pytest.approx(2 / 3)
    assert r["per_class"]["b"]["f1"] == pytest.approx(4 / 7)
    # Never predicted: precision, recall and F1 are 0, and the class still counts in the macro average.
    assert r["per_class"]["c"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1}
    assert r["macro_f1"] == pytest.approx(5 / 14)
    assert r["macro_precision"] == pytest.approx(1 / 3)
    assert r["macro_recall"] == pytest.approx((0.5 + 2 / 3) / 3)
    assert r["num_examples"] == 6
    json.dumps(r)


def test_perfect_and_binary_cases():
    r = classification_report([1, 0, 1, 1], [1, 0, 1, 1], ["neg", "pos"])
    assert r["accuracy"] == 1.0 and r["macro_f1"] == 1.0
    r = classification_report([1, 1, 1, 0], [1, 0, 0, 0], ["neg", "pos"])
    # pos: tp 1, fp 0, fn 2 -> P 1, R 1/3, F1 0.5; neg: tp 1, fp 2, fn 0 -> P 1/3, R 1, F1 0.5
    assert r["per_class"]["pos"]["f1"] == pytest.approx(0.5)
    assert r["per_class"]["neg"]["precision"] == pytest.approx(1 / 3)
    assert r["macro_f1"] == pytest.approx(0.5)


def test_invalid_ids_and_lengths():
    with pytest.raises(ValueError, match="outside"):
        confusion_matrix([0, 3], [0, 1], 3)
    with pytest.raises(ValueError, match="differ in length"):
        confusion_matrix([0, 1], [0], 3)
    with pytest.raises(ValueError, match="num_classes"):
        confusion_matrix([], [], 0)


def test_table_and_png(tmp_path):
    r = classification_report(Y_TRUE, Y_PRED, NAMES)
    table = format_report(r)
    assert "macro avg" in table and "accuracy 0.5000 on 6 examples" in table
    assert table.splitlines()[-3].split() == ["a", "1", "1", "0"]
    png = plot_confusion_matrix(r, tmp_path / "out" / "cm.png")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
