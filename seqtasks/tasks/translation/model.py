"""Recurrent encoder-decoder with attention (Cho et al., 2014; Bahdanau et al., 2015; Luong et al., 2015).

* Encoder: `Embedding(mask_zero=True)` -> `seqtasks.layers.RecurrentStack(bidirectional=True)` of GRU or LSTM.
* Bridge: the final forward and backward states of the encoder layers, concatenated, initialise the decoder
  layers; a `Dense` maps them when the sizes differ.
* Decoder: `Embedding` -> seqtasks GRU/LSTM layers; the top layer's output `h_t` queries the encoder outputs
  through `BahdanauAttention` or `LuongAttention`, the context `c_t` and `h_t` give the attentional state
  `h~_t = tanh(W_c [c_t; h_t])`, and a `Dense` over `h~_t` gives the next-token logits. With `input_feeding`,
  `h~_{t-1}` is also fed to the decoder at step `t` (Luong et al.); without it the decoder layers run over the
  whole target sequence in one call (seqtasks' fast recurrent loop) and attention is computed for all steps at
  once, which trains markedly faster.

Training is teacher-forced (`call((source_ids, target_input_ids))` returns logits); decoding runs the same
weights one step at a time through `step_fn`, which `translate_ids` hands to seqtasks' greedy or beam search.
"""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf
from keras import ops

from seqtasks.decoding.search import (
    SearchResult,
    beam_search,
    greedy_search,
    max_target_lengths,
    tile_for_beams,
)
from seqtasks.layers import RecurrentStack, get_rnn_class
from seqtasks.layers.attention import BahdanauAttention, LuongAttention

ATTENTION_CHOICES = ("luong", "luong_dot", "bahdanau")
CELL_CHOICES = ("gru", "lstm")


def _check_positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected a positive integer, got {value!r}."
        )
    return value


def _check_choice(name: str, value: Any, choices: tuple) -> Any:
    if value not in choices:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected one of {choices}, got {value!r}."
        )
    return value


@keras.saving.register_keras_serializable(package="seqtasks")
class TranslationModel(keras.Model):
    """Bidirectional recurrent encoder and attentional recurrent decoder over subword ids.

    Args:
        source_vocab_size: size of the source vocabulary (id 0 is padding).
        target_vocab_size: size of the target vocabulary (id 0 padding, `bos_id` and `eos_id` as in seqtasks'
            sentencepiece models).
        cell_type: `"gru"` or `"lstm"`, for encoder and decoder.
        embedding_dim: size of the source and target embeddings.
        encoder_units: units per direction of every encoder layer.
        encoder_layers: number of bidirectional encoder layers.
        decoder_units: units of every decoder layer.
        decoder_layers: number of decoder layers.
        attention: `"luong"` (multiplicative, general), `"luong_dot"` (needs `decoder_units == 2 *
            encoder_units`) or `"bahdanau"` (additive).
        attention_units: hidden size of the additive score (Bahdanau only; default `decoder_units`).
        input_feeding: whether the previous attentional state is fed to the decoder (slower to train).
        dropout: dropout rate on embeddings, between recurrent layers and before the output layer.
        tie_embeddings: whether the output layer reuses the target embedding matrix (needs `embedding_dim ==
            decoder_units`).
        pad_id, bos_id, eos_id: special ids of the target vocabulary.
        **kwargs: base `keras.Model` arguments.

    Call arguments:
        inputs: a tuple `(source_ids, target_input_ids)`, int `(batch, S)` and `(batch, T)`, padded with 0;
            `target_input_ids` starts with `bos_id`.
        training: whether dropout is active.

    Returns:
        float32 logits `(batch, T, target_vocab_size)`.

    Example:

    >>> model = TranslationModel(100, 120, embedding_dim=16, encoder_units=16, decoder_units=32)
    >>> logits = model((np.array([[5, 6, 0]]), np.array([[2, 7, 8, 9]])))
    >>> tuple(logits.shape)
    (1, 4, 120)
    """

    def __init__(
        self,
        source_vocab_size: int,
        target_vocab_size: int,
        cell_type: str = "gru",
        embedding_dim: int = 256,
        encoder_units: int = 256,
        encoder_layers: int = 1,
        decoder_units: int = 512,
        decoder_layers: int = 1,
        attention: str = "luong",
        attention_units: int | None = None,
        input_feeding: bool = False,
        dropout: float = 0.2,
        tie_embeddings: bool = False,
        pad_id: int = 0,
        bos_id: int = 2,
        eos_id: int = 3,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source_vocab_size = _check_positive_int("source_vocab_size", source_vocab_size)
        self.target_vocab_size = _check_positive_int("target_vocab_size", target_vocab_size)
        self.cell_type = _check_choice("cell_type", cell_type, CELL_CHOICES)
        self.embedding_dim = _check_positive_int("embedding_dim", embedding_dim)
        self.encoder_units = _check_positive_int("encoder_units", encoder_units)
        self.encoder_layers = _check_positive_int("encoder_layers", encoder_layers)
        self.decoder_units = _check_positive_int("decoder_units", decoder_units)
        self.decoder_layers = _check_positive_int("decoder_layers", decoder_layers)
        self.attention_type = _check_choice("attention", attention, ATTENTION_CHOICES)
        self.attention_units = _check_positive_int(
            "attention_units", attention_units if attention_units is not None else decoder_units
        )
        self.input_feeding = bool(input_feeding)
        if (
            isinstance(dropout, bool)
            or not isinstance(dropout, (int, float))
            or not 0 <= dropout < 1
        ):
            raise ValueError(
                f"Received an invalid value for argument `dropout`, expected a float in [0, 1), got {dropout!r}."
            )
        self.dropout = float(dropout)
        self.tie_embeddings = bool(tie_embeddings)
        self.pad_id, self.bos_id, self.eos_id = int(pad_id), int(bos_id), int(eos_id)
        memory_dim = 2 * encoder_units
        if attention == "luong_dot" and decoder_units != memory_dim:
            raise ValueError(
                f"attention='luong_dot' needs decoder_units == 2 * encoder_units ({memory_dim}), got "
                f"decoder_units={decoder_units}: use attention='luong' or change the sizes."
            )
        if self.tie_embeddings and embedding_dim != decoder_units:
            raise ValueError(
                f"tie_embeddings=True needs embedding_dim == decoder_units, got {embedding_dim} and "
                f"{decoder_units}."
            )

        self.source_embedding = keras.layers.Embedding(
            source_vocab_size, embedding_dim, mask_zero=True, name="source_embedding"
        )
        self.encoder = RecurrentStack(
            cell_type,
            encoder_units,
            num_layers=encoder_layers,
            bidirectional=True,
            dropout=self.dropout,
            return_sequences=True,
            return_state=True,
            name="encoder",
        )
        self.target_embedding = keras.layers.Embedding(
            target_vocab_size, embedding_dim, name="target_embedding"
        )
        self.embedding_dropout = keras.layers.Dropout(self.dropout, name="embedding_dropout")
        rnn_class = get_rnn_class(cell_type)
        self.decoder_rnns = [
            rnn_class(
                decoder_units,
                return_sequences=True,
                return_state=True,
                name=f"decoder_{cell_type}_{i}",
            )
            for i in range(decoder_layers)
        ]
        self.decoder_dropouts = [
            keras.layers.Dropout(self.dropout, name=f"decoder_dropout_{i}")
            for i in range(decoder_layers - 1)
        ]
        self.state_count = 2 if cell_type == "lstm" else 1
        self.bridges = []
        if memory_dim != decoder_units:
            for i in range(decoder_layers):
                self.bridges.append(
                    [
                        keras.layers.Dense(
                            decoder_units,
                            activation="tanh" if k == 0 else None,
                            name=f"bridge_{i}_{k}",
                        )
                        for k in range(self.state_count)
                    ]
                )
        if attention == "bahdanau":
            self.attention = BahdanauAttention(self.attention_units, name="attention")
        else:
            self.attention = LuongAttention(
                "general" if attention == "luong" else "dot", name="attention"
            )
        self.attentional_dense = keras.layers.Dense(
            decoder_units, activation="tanh", use_bias=False, name="attentional_dense"
        )
        self.output_dropout = keras.layers.Dropout(self.dropout, name="output_dropout")
        if not self.tie_embeddings:
            self.output_dense = keras.layers.Dense(
                target_vocab_size, dtype="float32", name="output_dense"
            )

    def build(self, inputs_shape=None):
        memory_dim = 2 * self.encoder_units
        self.source_embedding.build((None, None))
        self.encoder.build((None, None, self.embedding_dim))
        self.target_embedding.build((None, None))
        for i, rnn in enumerate(self.decoder_rnns):
            if i > 0:
                features = self.decoder_units
            elif self.input_feeding:
                features = self.embedding_dim + self.decoder_units
            else:
                features = self.embedding_dim
            rnn.build((None, None, features))
        for layer_bridges in self.bridges:
            for dense in layer_bridges:
                dense.build((None, memory_dim))
        self.attention.build((None, self.decoder_units), (None, None, memory_dim))
        self.attentional_dense.build((None, memory_dim + self.decoder_units))
        if not self.tie_embeddings:
            self.output_dense.build((None, self.decoder_units))
        self.built = True

    # -- building blocks ---------------------------------------------------------------------------------------

    def encode(self, source_ids, training=None):
        """Runs the encoder.

        Returns:
            `(memory, memory_mask, decoder_states)`: encoder outputs `(batch, S, 2 * encoder_units)`, boolean
            `(batch, S)`, and the decoder's initial states (one list per decoder layer).
        """
        if not self.built:
            self.build()
        source_ids = ops.cast(source_ids, "int32")
        mask = ops.not_equal(source_ids, self.pad_id)
        embedded = self.embedding_dropout(self.source_embedding(source_ids), training=training)
        memory, layer_states = self.encoder(embedded, mask=mask, training=training)
        return memory, mask, self._bridge(layer_states)

    def _bridge(self, encoder_states):
        n = self.state_count
        decoder_states = []
        for i in range(self.decoder_layers):
            j = max(0, self.encoder_layers - self.decoder_layers + i)
            forward, backward = encoder_states[j][:n], encoder_states[j][n:]
            states = [
                ops.concatenate([f, b], axis=-1) for f, b in zip(forward, backward, strict=True)
            ]
            if self.bridges:
                states = [dense(s) for dense, s in zip(self.bridges[i], states, strict=True)]
            decoder_states.append(states)
        return decoder_states

    def _logits(self, attentional, training=None):
        attentional = self.output_dropout(attentional, training=training)
        if self.tie_embeddings:
            return ops.cast(
                ops.matmul(
                    attentional,
                    ops.transpose(ops.cast(self.target_embedding.embeddings, attentional.dtype)),
                ),
                "float32",
            )
        return self.output_dense(attentional)

    def _attend(self, query, memory, memory_mask, keys):
        context, weights = self.attention(query, memory, values_mask=memory_mask, keys=keys)
        attentional = self.attentional_dense(
            ops.concatenate([context, ops.cast(query, context.dtype)], axis=-1)
        )
        return attentional, weights

    def initial_feed(self, memory):
        return ops.zeros((ops.shape(memory)[0], self.decoder_units), dtype=memory.dtype)

    def decode(self, target_input_ids, memory, memory_mask, decoder_states, training=None):
        """Teacher-forced decoder: returns `(logits (batch, T, V), attention weights (batch, T, S))`."""
        target_input_ids = ops.cast(target_input_ids, "int32")
        target_mask = ops.not_equal(target_input_ids, self.pad_id)
        x = self.embedding_dropout(self.target_embedding(target_input_ids), training=training)
        keys = self.attention.project_values(memory)
        if not self.input_feeding:
            for i, rnn in enumerate(self.decoder_rnns):
                x = rnn(x, initial_state=decoder_states[i], mask=target_mask, training=training)[0]
                if i < len(self.decoder_dropouts):
                    x = self.decoder_dropouts[i](x, training=training)
            attentional, weights = self._attend(x, memory, memory_mask, keys)
            return self._logits(attentional, training), weights

        # Input feeding makes every step depend on the previous attentional state, so the decoder cells and the
        # attention run together in one loop.
        steps = tf.shape(x)[1]
        inputs_ta = tf.TensorArray(x.dtype, size=steps).unstack(tf.transpose(x, [1, 0, 2]))
        attentional_ta = tf.TensorArray(x.dtype, size=steps)
        weights_ta = tf.TensorArray(memory.dtype, size=steps)

        def body(t, feed, layer_states, attentional_ta, weights_ta):
            x_t = ops.concatenate([inputs_ta.read(t), ops.cast(feed, x.dtype)], axis=-1)
            h, new_states = self._decoder_cells_step(x_t, [list(s) for s in layer_states], training)
            attentional, weights = self._attend(h, memory, memory_mask, keys)
            return (
                t + 1,
                attentional,
                tuple(tuple(s) for s in new_states),
                attentional_ta.write(t, attentional),
                weights_ta.write(t, weights),
            )

        loop_vars = (
            tf.constant(0),
            self.initial_feed(memory),
            tuple(tuple(s) for s in decoder_states),
            attentional_ta,
            weights_ta,
        )
        *_, attentional_ta, weights_ta = tf.while_loop(lambda t, *_: t < steps, body, loop_vars)
        attentional = tf.transpose(attentional_ta.stack(), [1, 0, 2])
        weights = tf.transpose(weights_ta.stack(), [1, 0, 2])
        return self._logits(attentional, training), weights

    def _decoder_cells_step(self, x, layer_states, training=None):
        new_states = []
        for i, rnn in enumerate(self.decoder_rnns):
            x, states = rnn.cell(x, layer_states[i], training=False)
            new_states.append(list(states))
            if i < len(self.decoder_dropouts):
                x = self.decoder_dropouts[i](x, training=training)
        return x, new_states

    def call(self, inputs, training=None):
        source_ids, target_input_ids = inputs
        memory, memory_mask, decoder_states = self.encode(source_ids, training=training)
        logits, _ = self.decode(
            target_input_ids, memory, memory_mask, decoder_states, training=training
        )
        return logits

    def attention_weights(self, source_ids, target_input_ids):
        """Attention weights `(batch, T, S)` of the decoder reading `target_input_ids` (teacher forcing)."""
        memory, memory_mask, decoder_states = self.encode(source_ids, training=False)
        return self.decode(target_input_ids, memory, memory_mask, decoder_states, training=False)[1]

    # -- step-by-step decoding -----------------------------------------------------------------------------

    def initial_step_state(self, memory, decoder_states):
        """The nested state that `step_fn` threads: decoder layer states and, with input feeding, `h~`."""
        state = {"rnn": tuple(tuple(s) for s in decoder_states)}
        if self.input_feeding:
            state["feed"] = self.initial_feed(memory)
        return state

    def step_fn(self, memory, memory_mask, keys=None):
        """A `(tokens, state) -> (log_probs, state)` function over `memory` for seqtasks' searches.

        `memory` and `memory_mask` must already have one row per hypothesis (`tile_for_beams` for beam search).
        `keys` is `attention.project_values(memory)` when the caller has it already (the LiteRT/ONNX export
        computes it once in its encoder signature).
        """
        if keys is None:
            keys = self.attention.project_values(memory)

        def step(tokens, state):
            x = self.target_embedding(tokens)
            if self.input_feeding:
                x = ops.concatenate([x, ops.cast(state["feed"], x.dtype)], axis=-1)
            h, new_states = self._decoder_cells_step(x, [list(s) for s in state["rnn"]])
            attentional, _ = self._attend(h, memory, memory_mask, keys)
            log_probs = tf.nn.log_softmax(tf.cast(self._logits(attentional), tf.float32))
            new_state = {"rnn": tuple(tuple(s) for s in new_states)}
            if self.input_feeding:
                new_state["feed"] = attentional
            return log_probs, new_state

        return step

    def translate_ids(
        self,
        source_ids,
        beam_size: int = 1,
        length_penalty: float = 0.0,
        max_length_a: float = 1.5,
        max_length_b: int = 10,
        max_length_limit: int | None = 200,
    ) -> SearchResult:
        """Translates padded source ids with greedy search (`beam_size=1`) or beam search, in TensorFlow ops.

        The output length of each sentence is at most `ceil(max_length_a * source_length + max_length_b)`
        tokens (capped at `max_length_limit`).
        """
        source_ids = tf.cast(source_ids, tf.int32)
        batch = tf.shape(source_ids)[0]
        memory, memory_mask, decoder_states = self.encode(source_ids, training=False)
        source_lengths = tf.reduce_sum(tf.cast(memory_mask, tf.int32), axis=1)
        max_lengths = max_target_lengths(
            source_lengths, max_length_a, max_length_b, max_length_limit
        )
        state = self.initial_step_state(memory, decoder_states)
        if beam_size == 1:
            return greedy_search(
                self.step_fn(memory, memory_mask),
                state,
                batch,
                self.bos_id,
                self.eos_id,
                max_lengths,
                self.pad_id,
            )
        tiled_memory, tiled_mask = tile_for_beams((memory, memory_mask), beam_size)
        return beam_search(
            self.step_fn(tiled_memory, tiled_mask),
            state,
            batch,
            self.bos_id,
            self.eos_id,
            max_lengths,
            beam_size=beam_size,
            length_penalty=length_penalty,
            pad_id=self.pad_id,
        )

    def get_config(self):
        base_config = super().get_config()
        config = {
            "source_vocab_size": self.source_vocab_size,
            "target_vocab_size": self.target_vocab_size,
            "cell_type": self.cell_type,
            "embedding_dim": self.embedding_dim,
            "encoder_units": self.encoder_units,
            "encoder_layers": self.encoder_layers,
            "decoder_units": self.decoder_units,
            "decoder_layers": self.decoder_layers,
            "attention": self.attention_type,
            "attention_units": self.attention_units,
            "input_feeding": self.input_feeding,
            "dropout": self.dropout,
            "tie_embeddings": self.tie_embeddings,
            "pad_id": self.pad_id,
            "bos_id": self.bos_id,
            "eos_id": self.eos_id,
        }
        return {**base_config, **config}
