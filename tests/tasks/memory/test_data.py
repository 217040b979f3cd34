"""Memory-task generators: the adding problem's and the copy task's targets, layout, seeding and statistics."""

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.tasks.memory import data as md
from seqtasks.tasks.memory.model import recall_accuracy


def seed(i, stream=md.TRAIN, epoch=0, base=5):
    return md.batch_seed(base, stream, epoch, i)


@pytest.mark.parametrize("length", [2, 7, 50])
def test_adding_targets_are_the_sum_of_the_two_marked_values(length):
    x, y = md.adding_batch(seed(0), 256, length)
    x, y = x.numpy(), y.numpy()
    assert x.shape == (256, length, 2) and y.shape == (256, 1)
    values, markers = x[..., 0], x[..., 1]
    assert values.min() >= 0.0 and values.max() < 1.0
    assert set(np.unique(markers)) <= {0.0, 1.0}
    assert np.all(markers.sum(1) == 2)
    half = length // 2
    assert np.all(markers[:, :half].sum(1) == 1) and np.all(markers[:, half:].sum(1) == 1)
    expected = np.array([values[b, markers[b] == 1].sum() for b in range(256)])
    np.testing.assert_allclose(y[:, 0], expected, rtol=1e-6)


def test_adding_marker_positions_cover_both_halves():
    x, _ = md.adding_batch(seed(1), 4000, 10)
    first = x.numpy()[:, :5, 1].argmax(1)
    second = x.numpy()[:, 5:, 1].argmax(1)
    assert set(first) == set(range(5)) and set(second) == set(range(5))


def test_answering_one_scores_about_one_sixth():
    _, y = md.fixed_set("adding", 3, md.TEST, 20000, 20)
    assert abs(float(np.mean((1.0 - y.numpy()) ** 2)) - 2 / 12) < 0.006


def test_adding_rejects_too_short_sequences():
    with pytest.raises(ValueError, match="sequence_length >= 2"):
        md.adding_batch(seed(0), 2, 1)


@pytest.mark.parametrize("delay,length,symbols", [(1, 3, 2), (9, 10, 8), (30, 4, 5)])
def test_copy_layout_and_targets(delay, length, symbols):
    ids, targets = md.copy_ids(seed(2), 64, delay, length, symbols)
    ids, targets = ids.numpy(), targets.numpy()
    total = delay + 2 * length
    assert ids.shape == targets.shape == (64, total)
    given = ids[:, :length]
    assert given.min() >= 1 and given.max() <= symbols
    # blanks, the delimiter right before the recall steps, blanks during recall
    assert np.all(ids[:, length : length + delay - 1] == md.BLANK)
    assert np.all(ids[:, length + delay - 1] == symbols + 1)
    assert np.all(ids[:, -length:] == md.BLANK)
    assert np.all(targets[:, : delay + length] == md.BLANK)
    np.testing.assert_array_equal(targets[:, -length:], given)
    x, t = md.copy_batch(seed(2), 64, delay, length, symbols)
    np.testing.assert_array_equal(x.numpy().argmax(-1), ids)
    assert x.shape[-1] == symbols + 2 and np.all(x.numpy().sum(-1) == 1)
    np.testing.assert_array_equal(t.numpy(), targets)


def test_batches_depend_only_on_their_seed():
    a = md.adding_batch(seed(3), 8, 12)[0].numpy()
    b = md.adding_batch(seed(3), 8, 12)[0].numpy()
    c = md.adding_batch(seed(4), 8, 12)[0].numpy()
    np.testing.assert_array_equal(a, b)
    assert not np.allclose(a, c)
    streams = [md.adding_batch(seed(0, stream=s), 8, 12)[0].numpy() for s in (md.TRAIN, md.VALIDATION, md.TEST)]
    assert not np.allclose(streams[0], streams[1]) and not np.allclose(streams[1], streams[2])


def test_training_dataset_is_deterministic_per_epoch():
    def batches(epoch):
        ds = md.training_dataset("copy", 7, epoch, 3, 4, 5, copy_length=2, num_symbols=3)
        return [y.numpy() for _, y in ds]

    first, again, other = batches(0), batches(0), batches(1)
    assert len(first) == 3
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(first, other, strict=True))


def test_fixed_set_spans_chunks():
    x, y = md.fixed_set("adding", 1, md.VALIDATION, 1500, 4)
    assert x.shape == (1500, 4, 2) and y.shape == (1500, 1)
    assert len(np.unique(x.numpy()[:, :, 0], axis=0)) == 1500  # no chunk repeats another


def test_recall_accuracy_counts_only_the_recalled_symbols():
    y_true = tf.constant([[0, 0, 0, 1, 2], [0, 0, 0, 2, 2]])
    pred_ids = np.array([[3, 3, 3, 1, 2], [0, 0, 0, 2, 1]])  # blanks wrong in row 0: not counted
    logits = tf.one_hot(pred_ids, 4)
    np.testing.assert_allclose(recall_accuracy(2)(y_true, logits).numpy(), [1.0, 0.5])
