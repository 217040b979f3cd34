"""Translation from raw strings to raw strings in one TensorFlow graph, used in-process and as the SavedModel.

`TranslationServing` holds the model and both sentencepiece models (as tensorflow-text
`SentencepieceTokenizer`s) and runs, inside `tf.function`s: Unicode NFC, the run's punctuation-space policy,
tokenization, truncation, the encoder, greedy or beam search, and detokenization. `evaluate` and `predict` call
the very functions that are exported, so the SavedModel reproduces in-process translations exactly. It loads
with `tf.saved_model.load` in a process that imports only `tensorflow` and `tensorflow_text`::

    import tensorflow as tf, tensorflow_text  # noqa: F401  (registers the sentencepiece ops)
    translator = tf.saved_model.load("RUN/export")
    out = translator.signatures["translate"](source=tf.constant(["How are you?"]))
    [s.decode("utf-8") for s in out["translation"].numpy()], out["score"]

`translation_portable` is the LiteRT/ONNX export (`seqtasks export --format litert|onnx`): the encoder and one
decoder step are converted; the runner `seqtasks_portable.TranslatorPipeline` does the rest with numpy and
sentencepiece and reproduces these signatures' translations::

    import seqtasks_portable
    translator = seqtasks_portable.load("RUN/export-onnx")
    translator.translate(["How are you?"])                 # greedy, as translate_greedy
    translator.translate(["How are you?"], beam_width=5)   # beam search, as translate with eval.beam_size=5
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from seqtasks.portable import PortableExport, PortableFunction, sentencepiece_settings
from seqtasks.runtime.export import ServingModule
from seqtasks.tasks.translation.model import TranslationModel

_SPACES = "[ \\x{00a0}\\x{202f}\\x{2009}]+"


class TranslationServing(ServingModule):
    """Raw source strings in, translated strings out (see the module docstring); the SavedModel's signatures are
    `translate` (beam search, also `serving_default`) and `translate_greedy`.

    Args:
        model: a built `TranslationModel`.
        source_model_proto: serialized sentencepiece model of the source side.
        target_model_proto: serialized sentencepiece model of the target side.
        beam_size: beam size of `translate` (`translate_greedy` is always greedy).
        length_penalty: GNMT length penalty alpha of the beam search.
        max_length_a: output length limit `ceil(a * source_tokens + b)`, the `a`.
        max_length_b: the `b`.
        max_source_length: source tokens kept per sentence (longer inputs are truncated).
        punctuation_spaces: `"keep"`, `"narrow_nbsp"` or `"space"`, as in `data.normalize_text`.
    """

    def __init__(
        self,
        model: TranslationModel,
        source_model_proto: bytes,
        target_model_proto: bytes,
        beam_size: int = 5,
        length_penalty: float = 0.6,
        max_length_a: float = 1.5,
        max_length_b: int = 10,
        max_source_length: int = 128,
        punctuation_spaces: str = "keep",
    ) -> None:
        super().__init__(name="translation_serving")
        if not isinstance(beam_size, int) or isinstance(beam_size, bool) or beam_size < 1:
            raise ValueError(
                "Received an invalid value for argument `beam_size`, expected a positive integer, "
                f"got {beam_size!r}."
            )
        self.model = model
        self.source_tokenizer = tf_text.SentencepieceTokenizer(model=source_model_proto)
        self.target_tokenizer = tf_text.SentencepieceTokenizer(model=target_model_proto)
        self.beam_size = beam_size
        self.length_penalty = float(length_penalty)
        self.max_length_a = float(max_length_a)
        self.max_length_b = int(max_length_b)
        self.max_source_length = int(max_source_length)
        self.punctuation_spaces = punctuation_spaces
        self.beam_size_value = tf.Variable(beam_size, trainable=False, name="beam_size")

    def normalize(self, source: tf.Tensor) -> tf.Tensor:
        """NFC, surrounding whitespace stripped, and the run's punctuation-space policy (as in training)."""
        text = tf.strings.strip(tf_text.normalize_utf8(source, "NFC"))
        if self.punctuation_spaces != "keep":
            space = "\u202f" if self.punctuation_spaces == "narrow_nbsp" else " "
            text = tf.strings.regex_replace(text, f"{_SPACES}([!?:;»])", space + "\\1")
            text = tf.strings.regex_replace(text, f"«{_SPACES}", "«" + space)
        return text

    def source_ids(self, source: tf.Tensor) -> tf.Tensor:
        """Zero-padded int32 source ids `(batch, S)`, at least one column wide."""
        ragged = self.source_tokenizer.tokenize(self.normalize(source))
        ids = tf.cast(ragged[:, : self.max_source_length].to_tensor(default_value=0), tf.int32)
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]])

    def _translate(self, source: tf.Tensor, beam_size: int) -> dict[str, tf.Tensor]:
        ids = self.source_ids(source)
        result = self.model.translate_ids(
            ids,
            beam_size=beam_size,
            length_penalty=self.length_penalty,
            max_length_a=self.max_length_a,
            max_length_b=self.max_length_b,
        )
        tokens = tf.RaggedTensor.from_tensor(result.sequences, lengths=result.lengths)
        translation = self.target_tokenizer.detokenize(tokens)
        return {
            "translation": translation,
            "score": result.scores,
            "log_prob": result.log_probs,
            "token_ids": result.sequences,
            "length": result.lengths,
        }

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="source")])
    def translate(self, source: tf.Tensor) -> dict[str, tf.Tensor]:
        """Beam-search translation of a batch of raw source strings."""
        return self._translate(source, self.beam_size)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="source")])
    def translate_greedy(self, source: tf.Tensor) -> dict[str, tf.Tensor]:
        """Greedy translation of a batch of raw source strings."""
        return self._translate(source, 1)

    def signatures(self) -> dict[str, Any]:
        return {
            "translate": self.translate,
            "translate_greedy": self.translate_greedy,
            "serving_default": self.translate,
        }


def _state_parts(model: TranslationModel) -> int:
    """How many `(batch, decoder_units)` tensors the decoding state holds (every layer's h [and c], h~)."""
    return model.decoder_layers * model.state_count + int(model.input_feeding)


def translation_portable(
    model: TranslationModel,
    source_model_proto: bytes,
    target_model_proto: bytes,
    beam_size: int = 5,
    length_penalty: float = 0.6,
    max_length_a: float = 1.5,
    max_length_b: int = 10,
    max_source_length: int = 128,
    punctuation_spaces: str = "keep",
    batch_size: int = 64,
    max_length_limit: int = 200,
) -> PortableExport:
    """The LiteRT/ONNX export: the encoder and one decoder step run inside the model; normalisation,
    sentencepiece, the greedy/beam search loop and detokenization run in the runner
    (`seqtasks_portable.TranslatorPipeline`), which reproduces `TranslationServing` step for step.

    Signatures: `serving_default` (the encoder) takes `source_ids` int32 `(batch, S)` (0 = padding) and returns
    `memory` `(batch, S, 2 * encoder_units)`, `keys` (the attention's projection of the memory, computed once)
    and `state` `(batch, D)`, the decoder's initial state; `decode_step` takes the previous target `tokens`
    `(batch,)`, `state`, `memory`, `keys` and `source_ids` (for the mask) and returns `log_probs`
    `(batch, vocab)` and `new_state`. The state packs every decoder layer's states (and Luong's input-feeding
    vector) side by side, so the runner reorders beams with one gather.

    Args:
        model: a built `TranslationModel`.
        source_model_proto: serialized sentencepiece model of the source side (`assets/source.model`).
        target_model_proto: serialized sentencepiece model of the target side (`assets/target.model`).
        beam_size: the run's beam size (the runner's `beam_width` that `translate` of the SavedModel uses).
        length_penalty: GNMT length penalty alpha of the beam search.
        max_length_a: output length limit `ceil(a * source_tokens + b)`, the `a`.
        max_length_b: the `b`.
        max_source_length: source tokens kept per sentence.
        punctuation_spaces: `"keep"`, `"narrow_nbsp"` or `"space"`, as in `TranslationServing`.
        batch_size: sentences the runner translates at once.
        max_length_limit: upper bound of every output length (as `TranslationModel.translate_ids`).

    Returns:
        The `PortableExport` (pipeline `"translator"`).
    """
    units = model.decoder_units
    width = _state_parts(model) * units
    pad_id = model.pad_id

    def pack(state: dict[str, Any]) -> tf.Tensor:
        return tf.concat([tf.cast(t, tf.float32) for t in tf.nest.flatten(state)], axis=-1)

    # The structure of `model.initial_step_state`, whose leaves `pack` lays side by side.
    template: dict[str, Any] = {"rnn": tuple((0,) * model.state_count for _ in range(model.decoder_layers))}
    if model.input_feeding:
        template["feed"] = 0

    def unpack(state: tf.Tensor) -> dict[str, Any]:
        return tf.nest.pack_sequence_as(template, tf.split(state, _state_parts(model), axis=-1))

    def encode(source_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        memory, _, decoder_states = model.encode(source_ids, training=False)
        memory = tf.cast(memory, tf.float32)
        keys = tf.cast(model.attention.project_values(memory), tf.float32)
        # luong_dot's keys are the memory itself; an identity keeps the two outputs distinct tensors.
        return {"memory": memory, "keys": tf.identity(keys),
                "state": pack(model.initial_step_state(memory, decoder_states))}

    def decode_step(tokens: tf.Tensor, state: tf.Tensor, memory: tf.Tensor, keys: tf.Tensor,
                    source_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        step = model.step_fn(memory, tf.not_equal(source_ids, pad_id), keys=keys)
        log_probs, new_state = step(tokens, unpack(state))
        return {"log_probs": tf.cast(log_probs, tf.float32), "new_state": pack(new_state)}

    memory_dim = 2 * model.encoder_units
    keys_dim = model.attention_units if model.attention_type == "bahdanau" else (
        units if model.attention_type == "luong" else memory_dim)
    rng = np.random.default_rng(0)
    # Three sentences of 5, 3 and 1 tokens: padding, and a batch and a length other than 1.
    source_ids = np.zeros((3, 5), np.int32)
    for row, length in enumerate((5, 3, 1)):
        source_ids[row, :length] = rng.integers(1, model.source_vocab_size, length)
    step_example = {
        "tokens": rng.integers(1, model.target_vocab_size, 3).astype(np.int32),
        "state": rng.normal(0.0, 0.5, (3, width)).astype(np.float32),
        "memory": rng.normal(0.0, 0.5, (3, 5, memory_dim)).astype(np.float32),
        "keys": rng.normal(0.0, 0.5, (3, 5, keys_dim)).astype(np.float32),
        "source_ids": source_ids,
    }
    return PortableExport(
        model=model,
        pipeline="translator",
        functions={
            "serving_default": PortableFunction(
                encode, [tf.TensorSpec([None, None], tf.int32, name="source_ids")], {"source_ids": source_ids}),
            "decode_step": PortableFunction(decode_step, [
                tf.TensorSpec([None], tf.int32, name="tokens"),
                tf.TensorSpec([None, width], tf.float32, name="state"),
                tf.TensorSpec([None, None, memory_dim], tf.float32, name="memory"),
                tf.TensorSpec([None, None, keys_dim], tf.float32, name="keys"),
                tf.TensorSpec([None, None], tf.int32, name="source_ids"),
            ], step_example),
        },
        settings={
            "source_model": "source.model",
            "target_model": "target.model",
            # What the runner's tokenizer needs for source ids equal to tensorflow-text's.
            "source_tokenizer": {"file": "source.model",
                                 **sentencepiece_settings(bytes(source_model_proto))},
            "pad_id": pad_id,
            "bos_id": model.bos_id,
            "eos_id": model.eos_id,
            "beam_size": beam_size,
            "length_penalty": float(length_penalty),
            "max_length_a": float(max_length_a),
            "max_length_b": int(max_length_b),
            "max_length_limit": int(max_length_limit),
            "max_source_length": int(max_source_length),
            "punctuation_spaces": punctuation_spaces,
            "batch_size": int(batch_size),
        },
        assets={"source.model": source_model_proto, "target.model": target_model_proto},
        in_model=("serving_default: source ids -> encoder memory, attention keys, initial decoder state; "
                  "decode_step: previous token, state, memory, keys, source ids -> next-token log-probs, state"),
        outside_model=[
            "text normalisation (NFC, strip, punctuation spaces) and sentencepiece tokenization and "
            "detokenization: string ops, which neither LiteRT's builtin ops nor ONNX hold",
            "greedy and beam search over decode_step: a data-dependent loop with a growing output, kept in "
            "numpy so that beam width and length limit are the caller's choice",
        ],
    )


__all__ = ["TranslationServing", "translation_portable"]
