"""The classifier: characters -> embedding -> bidirectional recurrent stack -> masked pooling -> logits."""

from __future__ import annotations

import keras

from seqtasks.layers import MaskedPooling, RecurrentStack


def build_language_identification_model(vocab_size: int, num_labels: int, m, seed: int) -> keras.Model:
    """The classifier for the `model` config section `m` (id 0 is padding, masked out)."""
    ids = keras.Input((None,), dtype="int32", name="ids")
    x = keras.layers.Embedding(vocab_size, m.embedding_dim, mask_zero=True, name="embedding")(ids)
    x = RecurrentStack(m.cell_type, m.units, m.num_layers, bidirectional=True, dropout=m.dropout,
                       return_sequences=True, seed=seed, name="encoder")(x)
    x = MaskedPooling("mean_max", name="pooling")(x)
    logits = keras.layers.Dense(num_labels, name="head")(x)
    return keras.Model(ids, logits, name="language_identification")
