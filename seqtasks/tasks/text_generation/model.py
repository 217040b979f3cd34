"""The char-RNN model: backbone (Embedding -> seqtasks RecurrentStack) and language-model head (Dense)."""

from __future__ import annotations

import keras
import tensorflow as tf

from seqtasks.layers import RecurrentStack


@keras.saving.register_keras_serializable(package="seqtasks")
class CharRNNBackbone(keras.layers.Layer):
    """Character embedding followed by a stack of seqtasks recurrent layers.

    Args:
        vocab_size: Number of character ids (the unknown id included).
        embedding_dim: Positive integer, width of the character embedding.
        cell_type: `"lstm"`, `"gru"` or `"simple_rnn"`.
        units: Positive integer, units of every recurrent layer.
        num_layers: Positive integer, number of stacked layers.
        dropout: Float in [0, 1), between layers and on the output sequence.
        recurrent_dropout: Float in [0, 1), on the recurrent state inside each layer.
        seed: Optional seed of the dropout masks.

    Call arguments:
        token_ids: int tensor `(batch, time)`.
        initial_state: Optional states as returned by a previous call (one list of tensors per layer).
        training: Whether dropout is active.

    Returns:
        `(sequence, states)`: the top layer's outputs `(batch, time, units)` and the final states of every layer.
    """

    def __init__(self, vocab_size, embedding_dim=64, cell_type="lstm", units=512, num_layers=1, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(vocab_size, int) or vocab_size < 2:
            raise ValueError(
                f"Received an invalid value for argument `vocab_size`, expected an integer >= 2, got {vocab_size}."
            )
        self.vocab_size = vocab_size
        self.embedding_dim = embedding_dim
        self.cell_type = cell_type
        self.units = units
        self.num_layers = num_layers
        self.dropout = dropout
        self.recurrent_dropout = recurrent_dropout
        self.seed = seed
        self.embedding = keras.layers.Embedding(vocab_size, embedding_dim, name="embedding")
        self.stack = RecurrentStack(
            cell_type, units=units, num_layers=num_layers, dropout=dropout, recurrent_dropout=recurrent_dropout,
            return_sequences=True, return_state=True, seed=seed, name="recurrent_stack",
        )
        self.output_dropout = keras.layers.Dropout(dropout, seed=seed, name="output_dropout")

    def build(self, input_shape):
        self.embedding.build(input_shape)
        self.stack.build(tuple(input_shape) + (self.embedding_dim,))
        self.built = True

    def call(self, token_ids, initial_state=None, training=None):
        x = self.embedding(token_ids)
        sequence, states = self.stack(x, initial_state=initial_state, training=training)
        return self.output_dropout(sequence, training=training), states

    def initial_states(self, batch_size):
        """Zero states for `batch_size` sequences, in the structure `call` takes and returns."""
        per_layer = 2 if self.cell_type == "lstm" else 1
        zeros = tf.zeros(tf.stack([batch_size, self.units]), dtype=self.compute_dtype)
        return [[zeros] * per_layer for _ in range(self.num_layers)]

    def get_config(self):
        config = {
            "vocab_size": self.vocab_size,
            "embedding_dim": self.embedding_dim,
            "cell_type": self.cell_type,
            "units": self.units,
            "num_layers": self.num_layers,
            "dropout": self.dropout,
            "recurrent_dropout": self.recurrent_dropout,
            "seed": self.seed,
        }
        base_config = super().get_config()
        return {**base_config, **config}


@keras.saving.register_keras_serializable(package="seqtasks")
class CharLanguageModel(keras.Model):
    """Next-character model: `CharRNNBackbone` + Dense over the vocabulary (float32 logits).

    Training calls it on windows `(batch, time) -> (batch, time, vocab)` from zero states; generation calls
    `step`, which carries the recurrent state from one call to the next, so each new character costs one step.

    Args:
        vocab_size, embedding_dim, cell_type, units, num_layers, dropout, recurrent_dropout, seed: as in
            `CharRNNBackbone`.

    Example:

    >>> model = CharLanguageModel(vocab_size=40, units=32)
    >>> logits, states = model.step(tf.constant([[3, 4]]), model.initial_states(1))
    >>> logits.shape
    TensorShape([1, 2, 40])
    """

    def __init__(self, vocab_size, embedding_dim=64, cell_type="lstm", units=512, num_layers=1, dropout=0.0,
                 recurrent_dropout=0.0, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.backbone = CharRNNBackbone(
            vocab_size, embedding_dim, cell_type, units, num_layers, dropout, recurrent_dropout, seed,
            name="backbone",
        )
        # float32 logits also under a mixed-precision policy: softmax and the loss need the range.
        self.head = keras.layers.Dense(vocab_size, dtype="float32", name="head")
        self.vocab_size = vocab_size

    def build(self, input_shape):
        self.backbone.build(input_shape)
        self.head.build(tuple(input_shape) + (self.backbone.units,))
        self.built = True

    def call(self, token_ids, training=None):
        sequence, _ = self.backbone(token_ids, training=training)
        return self.head(sequence)

    def step(self, token_ids, states):
        """Logits for every position of `token_ids` given `states`, and the states after the last position."""
        sequence, states = self.backbone(token_ids, initial_state=states, training=False)
        return self.head(sequence), states

    def initial_states(self, batch_size):
        return self.backbone.initial_states(batch_size)

    def get_config(self):
        return {**self.backbone.get_config(), "name": self.name}

    @classmethod
    def from_config(cls, config):
        config = {k: v for k, v in config.items() if k not in ("trainable", "dtype")}
        return cls(**config)
