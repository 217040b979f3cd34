"""Tests of seqtasks.tasks.translation.preprocessor: faithful subword round trips and training batches."""

import numpy as np
import pytest
import tensorflow as tf

from seqtasks.errors import DataError
from seqtasks.tasks.translation.data import Pair
from seqtasks.tasks.translation.preprocessor import TranslationPreprocessor

FRENCH = [
    "Ça alors\u202f!",
    "Où est-il\u202f?",
    "Il a dit «\u202foui\u202f».",
    "C’est un chef-d’œuvre…",
    "Je suis très fatigué.",
    "Nous étions à la fenêtre.",
    "Il faut être honnête\u202f: c’est déjà Noël.",
    "L’été est arrivé plus tôt que prévu\u202f; quelle chaleur\u202f!",
]
ENGLISH = [
    "Wow!",
    "Where is he?",
    'He said "yes".',
    "It's a masterpiece...",
    "I'm very tired.",
    "We were at the window.",
    "Let's be honest: it's already Christmas.",
    "Summer came earlier than expected; how hot!",
]


def pairs(n_copies=4):
    return [
        Pair(e, f, i)
        for i, (e, f) in enumerate(zip(ENGLISH * n_copies, FRENCH * n_copies, strict=True))
    ]


@pytest.fixture(scope="module")
def joint():
    return TranslationPreprocessor.from_pairs(pairs(), mode="joint", source_vocab_size=120)


def test_round_trip_keeps_accents_and_narrow_no_break_space(joint):
    unseen = ["Où est l’été\u202f?", "Il était très honnête\u202f!"]
    for text in FRENCH + unseen:
        ids = joint.target_tokenizer.encode(text)
        assert joint.target_tokenizer.unk_id not in ids, text
        assert joint.target_tokenizer.decode(ids) == text
    assert "\u202f" in "".join(
        joint.decode_targets(np.array([joint.target_tokenizer.encode(FRENCH[0])]))
    )


def test_in_graph_tokenizer_matches_python(joint, tmp_path):
    import tensorflow_text as tf_text

    graph_tokenizer = tf_text.SentencepieceTokenizer(model=joint.target_tokenizer.model_proto)
    ids = graph_tokenizer.tokenize(tf.constant(FRENCH)).to_list()
    assert ids == joint.target_tokenizer.encode_batch(FRENCH)
    detok = graph_tokenizer.detokenize(tf.ragged.constant(ids)).numpy()
    assert [s.decode("utf-8") for s in detok] == FRENCH


def test_separate_tokenizers_are_saved_and_reloaded(tmp_path):
    pre = TranslationPreprocessor.from_pairs(
        pairs(), mode="separate", source_vocab_size=60, target_vocab_size=90
    )
    assert pre.source_tokenizer is not pre.target_tokenizer
    assert list(tmp_path.iterdir()) == []  # trained in memory; `save` writes the files
    pre.save(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["source.model", "target.model", "tokenizer.json"]
    assert TranslationPreprocessor.is_saved(tmp_path)
    loaded = TranslationPreprocessor.load(tmp_path)
    assert loaded.mode == "separate"
    assert loaded.source_vocab_size == pre.source_vocab_size
    assert loaded.target_tokenizer.encode(FRENCH[1]) == pre.target_tokenizer.encode(FRENCH[1])
    assert "é" not in "".join(
        loaded.source_tokenizer.id_to_piece(i) for i in range(loaded.source_vocab_size)
    )
    with pytest.raises(DataError, match="tokenizer.json"):
        TranslationPreprocessor.load(tmp_path / "missing")


def test_build_from_config_is_deterministic_and_saves_a_joint_model_twice(tmp_path):
    from seqtasks.config import load_config
    from seqtasks.tasks.translation.config import TranslationConfig

    config = load_config(TranslationConfig, overrides=["data.source_vocab_size=100", "data.punctuation_spaces=space"])
    built = TranslationPreprocessor.build(config, pairs())
    again = TranslationPreprocessor.build(config, pairs())
    assert built.source_tokenizer is built.target_tokenizer and built.punctuation_spaces == "space"
    assert built.source_tokenizer.model_proto == again.source_tokenizer.model_proto
    built.save(tmp_path)
    assert (tmp_path / "source.model").read_bytes() == (tmp_path / "target.model").read_bytes()
    loaded = TranslationPreprocessor.load(tmp_path, config)
    assert (loaded.mode, loaded.punctuation_spaces) == ("joint", "space")
    assert loaded.source_tokenizer is loaded.target_tokenizer
    # Fine-tuning keeps the source run's tokenizers.
    assert TranslationPreprocessor.adapt_from(loaded, config, pairs(1)) is loaded


def test_dataset_batches_are_shifted_padded_and_deterministic(joint):
    data = pairs(n_copies=3)
    ds = joint.dataset(data, batch_size=5, shuffle=True, seed=1)
    batches = list(ds.as_numpy_iterator())
    assert sum(len(b[1]) for b in batches) == len(data)
    (source, target_in), target_out = batches[0]
    assert np.all(target_in[:, 0] == 2)
    lengths = (target_out != 0).sum(1)
    assert np.all(target_out[np.arange(len(lengths)), lengths - 1] == 3)
    words = target_out[:, :-1]
    real = (words != 0) & (words != 3)
    np.testing.assert_array_equal(target_in[:, 1:][real], words[real])
    again = list(joint.dataset(data, batch_size=5, shuffle=True, seed=1).as_numpy_iterator())
    other = list(joint.dataset(data, batch_size=5, shuffle=True, seed=2).as_numpy_iterator())
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(batches, again, strict=True))
    assert not all(
        a[1].shape == b[1].shape and np.array_equal(a[1], b[1])
        for a, b in zip(batches, other, strict=True)
    )


def test_long_pairs_are_dropped_and_counted(joint):
    data = pairs(n_copies=1)
    lengths = [len(joint.target_tokenizer.encode(p.target)) + 1 for p in data]
    limit = sorted(lengths)[4]
    kept = sum(1 for length in lengths if length <= limit)
    ds = joint.dataset(data, batch_size=100, max_target_length=limit)
    assert len(next(iter(ds))[1]) == kept
    assert joint.dropped_pairs(data, None, limit) == len(data) - kept
    with pytest.raises(DataError, match="max_target_length"):
        joint.dataset(data, batch_size=4, max_target_length=1)


def test_encode_sources_pads_and_normalises(joint):
    ids = joint.encode_sources(["Wow!", "We were at the window."])
    assert ids.dtype == np.int32 and ids.shape[0] == 2
    assert ids[0, -1] == 0 and ids[1, -1] != 0


def test_round_trip_on_real_french_sentences(shared_data, tmp_path):
    path = shared_data / "translation" / "eng-fra.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    from seqtasks.tasks.translation.data import read_pairs

    real = read_pairs(path)[::25]  # 3,000 pairs across the length-sorted file
    pre = TranslationPreprocessor.from_pairs(real, mode="joint", source_vocab_size=1000)
    targets = [p.target for p in real]
    assert sum("\u202f" in t for t in targets) > 50
    decoded = [pre.target_tokenizer.decode(ids) for ids in pre.target_tokenizer.encode_batch(targets)]
    assert decoded == targets
