"""Tests of seqtasks.tasks.translation.model: teacher forcing vs stepping, searches, learning, saving."""

import json
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from seqtasks.decoding.search import beam_search, max_target_lengths
from seqtasks.losses.sequence import MaskedSequenceLoss
from seqtasks.metrics.sequence import MaskedTokenAccuracy
from seqtasks.tasks.translation.model import TranslationModel

CONFIGS = [
    {},
    {"input_feeding": True},
    {"attention": "bahdanau", "cell_type": "lstm"},
    {
        "attention": "luong_dot",
        "decoder_units": 16,
        "encoder_layers": 2,
        "decoder_layers": 2,
        "cell_type": "lstm",
        "input_feeding": True,
    },
]
SOURCE = np.array([[5, 6, 7, 0], [8, 9, 0, 0]])
TARGET_IN = np.array([[2, 10, 11, 12, 13], [2, 14, 15, 0, 0]])


def tiny(**kwargs):
    kwargs = {"embedding_dim": 8, "encoder_units": 8, "decoder_units": 12, **kwargs}
    return TranslationModel(30, 40, **kwargs)


@pytest.mark.parametrize("config", CONFIGS)
def test_step_function_reproduces_teacher_forced_logits(config):
    model = tiny(**config)
    expected = tf.nn.log_softmax(model((SOURCE, TARGET_IN))).numpy()
    memory, mask, states = model.encode(SOURCE)
    step, state = model.step_fn(memory, mask), model.initial_step_state(memory, states)
    for t in range(TARGET_IN.shape[1]):
        log_probs, state = step(tf.constant(TARGET_IN[:, t], tf.int32), state)
        np.testing.assert_allclose(log_probs[0], expected[0, t], atol=1e-5)
        if TARGET_IN[1, t]:
            np.testing.assert_allclose(log_probs[1], expected[1, t], atol=1e-5)


@pytest.mark.parametrize("config", CONFIGS[:3])
def test_source_padding_does_not_change_the_output(config):
    model = tiny(**config)
    short = model((SOURCE[:, :3], TARGET_IN)).numpy()
    padded = model((np.pad(SOURCE, ((0, 0), (0, 4))), TARGET_IN)).numpy()
    np.testing.assert_allclose(short, padded, atol=1e-5)
    weights = model.attention_weights(np.pad(SOURCE, ((0, 0), (0, 4))), TARGET_IN).numpy()
    assert np.all(weights[0, :, 3:] == 0) and np.all(weights[1, :, 2:] == 0)


@pytest.mark.parametrize("config", CONFIGS[:3])
def test_beam_size_one_equals_greedy(config):
    model = tiny(**config)
    greedy = model.translate_ids(SOURCE, beam_size=1)
    memory, mask, states = model.encode(SOURCE)
    lengths = max_target_lengths(tf.reduce_sum(tf.cast(mask, tf.int32), 1), 1.5, 10, 200)
    beam = beam_search(
        model.step_fn(memory, mask),
        model.initial_step_state(memory, states),
        2,
        2,
        3,
        lengths,
        beam_size=1,
    )
    np.testing.assert_array_equal(greedy.sequences.numpy(), beam.sequences.numpy())
    np.testing.assert_allclose(greedy.log_probs.numpy(), beam.log_probs.numpy(), rtol=1e-5)
    wide = model.translate_ids(SOURCE, beam_size=4, length_penalty=0.6)
    assert wide.sequences.shape[0] == 2 and np.all(wide.lengths.numpy() <= 16)


def test_learns_to_translate_a_toy_language():
    # Target = source words mapped to other ids, in reverse order: needs attention to the right position.
    rng = np.random.default_rng(0)
    n, vocab = 256, 14
    sources, targets_in, targets_out = [], [], []
    for _ in range(n):
        length = rng.integers(2, 6)
        words = rng.integers(4, vocab, size=length)
        mapped = list((words[::-1] - 4 + 3) % 10 + 4)
        sources.append(list(words) + [0] * (5 - length))
        targets_in.append([2, *mapped] + [0] * (5 - length))
        targets_out.append([*mapped, 3] + [0] * (5 - length))
    sources, targets_in, targets_out = map(np.array, (sources, targets_in, targets_out))
    keras.utils.set_random_seed(0)
    model = TranslationModel(
        vocab, vocab, embedding_dim=16, encoder_units=32, decoder_units=48, dropout=0.0
    )
    model.compile(keras.optimizers.Adam(0.01), MaskedSequenceLoss())
    model.fit((sources, targets_in), targets_out, batch_size=32, epochs=25, verbose=0)
    result = model.translate_ids(sources[:64], beam_size=3)
    got = result.sequences.numpy()
    expected = np.where(targets_out[:64] == 3, 0, targets_out[:64])
    width = min(got.shape[1], expected.shape[1])
    exact = np.mean(
        np.all(got[:, :width] == expected[:, :width], axis=1) & np.all(got[:, width:] == 0, axis=1)
    )
    assert exact > 0.9


def test_config_round_trip_and_weights(tmp_path):
    model = tiny(attention="bahdanau", attention_units=6, input_feeding=True, cell_type="lstm")
    before = model((SOURCE, TARGET_IN)).numpy()
    path = tmp_path / "model.weights.h5"
    model.save_weights(path)
    clone = TranslationModel.from_config(model.get_config())
    clone.build()
    clone.load_weights(path)
    np.testing.assert_allclose(clone((SOURCE, TARGET_IN)).numpy(), before, atol=1e-6)
    saved = tmp_path / "model.keras"
    model.save(saved)
    restored = keras.models.load_model(saved)
    np.testing.assert_allclose(restored((SOURCE, TARGET_IN)).numpy(), before, atol=1e-6)


def test_compiled_model_saved_before_the_loss_moved_still_loads(tmp_path):
    # Until the loss and metric moved to seqtasks.losses / seqtasks.metrics, a saved compiled model recorded
    # them with module "seqtasks.tasks.translation.model"; Keras finds them by their registered names.
    model = tiny()
    model.compile(keras.optimizers.Adam(0.01), MaskedSequenceLoss(0.1), metrics=[MaskedTokenAccuracy()])
    model.fit((SOURCE, TARGET_IN), TARGET_IN, epochs=1, verbose=0)
    expected = model.evaluate((SOURCE, TARGET_IN), TARGET_IN, verbose=0, return_dict=True)
    new, old = tmp_path / "new.keras", tmp_path / "old.keras"
    model.save(new)
    with zipfile.ZipFile(new) as src, zipfile.ZipFile(old, "w") as dst:
        for item in src.infolist():
            data = src.read(item)
            if item.filename == "config.json":
                config = json.loads(data)
                for entry in [config["compile_config"]["loss"], *config["compile_config"]["metrics"]]:
                    assert entry["registered_name"] in ("seqtasks>MaskedSequenceLoss", "seqtasks>MaskedTokenAccuracy")
                    entry["module"] = "seqtasks.tasks.translation.model"
                data = json.dumps(config).encode()
            dst.writestr(item, data)
    restored = keras.models.load_model(old)
    assert isinstance(restored.loss, MaskedSequenceLoss) and restored.loss.label_smoothing == 0.1
    got = restored.evaluate((SOURCE, TARGET_IN), TARGET_IN, verbose=0, return_dict=True)
    assert set(got) == {"loss", "token_accuracy"}
    np.testing.assert_allclose([got["loss"], got["token_accuracy"]],
                               [expected["loss"], expected["token_accuracy"]], rtol=1e-5)


def test_invalid_arguments():
    with pytest.raises(ValueError, match="`cell_type`"):
        tiny(cell_type="simple_rnn")
    with pytest.raises(ValueError, match="`attention`"):
        tiny(attention="concat")
    with pytest.raises(ValueError, match="luong_dot"):
        tiny(attention="luong_dot")
    with pytest.raises(ValueError, match="`encoder_units`"):
        tiny(encoder_units=0)
    with pytest.raises(ValueError, match="tie_embeddings"):
        tiny(tie_embeddings=True)


@pytest.mark.parametrize("config", [{}, {"attention": "bahdanau", "input_feeding": True, "cell_type": "lstm"}])
def test_mixed_precision_trains_and_decodes(config):
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        model = tiny(**config)
        logits = model((SOURCE, TARGET_IN))
        assert logits.dtype == "float32"
        model.compile(keras.optimizers.Adam(0.01), MaskedSequenceLoss(0.1))
        history = model.fit((SOURCE, TARGET_IN), TARGET_IN, epochs=2, verbose=0)
        assert np.all(np.isfinite(history.history["loss"]))
        result = model.translate_ids(SOURCE, beam_size=2)
        assert result.sequences.shape[0] == 2 and np.all(np.isfinite(result.scores.numpy()))
    finally:
        keras.mixed_precision.set_global_policy("float32")
