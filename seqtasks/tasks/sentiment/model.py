"""The sentiment classifier: Embedding (mask) -> bidirectional `RecurrentStack` -> `MaskedPooling` -> Dense.

The model maps padded token ids `(batch, time)` (id 0 = padding, masked all the way through the recurrent
stack and the pooling) to class **logits** `(batch, num_classes)`; `probabilities` applies the softmax.
Layers are named (`embedding`, `encoder`, `classifier`, ...) so that fine-tuning can keep the encoder and
replace only the head.
"""

from __future__ import annotations

import keras
import numpy as np

from seqtasks.layers import RecurrentStack
from seqtasks.layers.pooling import MaskedPooling

ENCODER_LAYERS = ("embedding", "encoder")


def build_classifier(
    vocab_size: int,
    num_classes: int,
    *,
    embedding_dim: int = 128,
    cell_type: str = "gru",
    units: int = 96,
    num_layers: int = 1,
    bidirectional: bool = True,
    dropout: float = 0.0,
    recurrent_dropout: float = 0.0,
    embedding_dropout: float = 0.0,
    pooling: str = "mean_max",
    head_dropout: float = 0.3,
    seed: int | None = None,
    name: str = "sentiment_classifier",
) -> keras.Model:
    """Builds the classifier.

    Args:
        vocab_size: number of token ids (the tokenizer's vocabulary).
        num_classes: number of classes (>= 2).
        embedding_dim: embedding width.
        cell_type: `"lstm"` or `"gru"` (or `"simple_rnn"`).
        units: units per direction of every recurrent layer.
        num_layers: stacked recurrent layers.
        bidirectional: wrap each recurrent layer in `Bidirectional`.
        dropout: dropout between recurrent layers.
        recurrent_dropout: recurrent dropout inside the cells (slower: disables the fused paths).
        embedding_dropout: spatial dropout on the embeddings (drops whole embedding channels).
        pooling: `MaskedPooling` mode: `"last"`, `"mean"`, `"max"` or `"mean_max"`.
        head_dropout: dropout before the classifier.
        seed: seed of every dropout.
        name: model name.

    Returns:
        A functional `keras.Model` from int32 ids `(batch, time)` to float32 logits `(batch, num_classes)`.
    """
    for arg, value, low in (("vocab_size", vocab_size, 2), ("num_classes", num_classes, 2),
                            ("embedding_dim", embedding_dim, 1)):
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(
                f"Received an invalid value for argument `{arg}`, expected an integer >= {low}, got {value!r}."
            )
    for arg, value in (("embedding_dropout", embedding_dropout), ("head_dropout", head_dropout)):
        if not 0.0 <= value < 1.0:
            raise ValueError(f"Received an invalid value for argument `{arg}`, expected a rate in [0, 1), got {value!r}.")
    ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
    x = keras.layers.Embedding(int(vocab_size), embedding_dim, mask_zero=True, name="embedding")(ids)
    if embedding_dropout:
        x = keras.layers.SpatialDropout1D(embedding_dropout, seed=seed, name="embedding_dropout")(x)
    x = RecurrentStack(
        cell_type=cell_type,
        units=units,
        num_layers=num_layers,
        bidirectional=bidirectional,
        dropout=dropout,
        recurrent_dropout=recurrent_dropout,
        return_sequences=True,
        seed=seed,
        name="encoder",
    )(x)
    x = MaskedPooling(pooling, name="pooling")(x)
    if head_dropout:
        x = keras.layers.Dropout(head_dropout, seed=seed, name="head_dropout")(x)
    logits = keras.layers.Dense(int(num_classes), dtype="float32", name="classifier")(x)
    return keras.Model(ids, logits, name=name)


def transfer_encoder(source: keras.Model, target: keras.Model) -> list[str]:
    """Copies the embedding and encoder weights of `source` into `target` (same architecture there).

    Used by fine-tuning with a new class set: the head of `target` stays freshly initialised.

    Returns:
        The names of the copied layers.

    Raises:
        ValueError: if a layer is missing or its weight shapes differ (a different model config).
    """
    copied = []
    for name in ENCODER_LAYERS:
        try:
            src, dst = source.get_layer(name), target.get_layer(name)
        except ValueError:
            raise ValueError(f"Cannot transfer layer {name!r}: it is missing from one of the models.") from None
        src_w, dst_w = src.get_weights(), dst.get_weights()
        if [w.shape for w in src_w] != [w.shape for w in dst_w]:
            raise ValueError(
                f"Cannot transfer layer {name!r}: weight shapes {[w.shape for w in src_w]} vs "
                f"{[w.shape for w in dst_w]}; fine-tune with the run's own model config."
            )
        dst.set_weights(src_w)
        copied.append(name)
    return copied


def probabilities(logits) -> np.ndarray:
    """Softmax over the last axis, as numpy float32."""
    return keras.ops.convert_to_numpy(keras.ops.softmax(keras.ops.convert_to_tensor(logits), axis=-1))
