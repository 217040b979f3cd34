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
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf
import tensorflow_text as tf_text

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


__all__ = ["TranslationServing"]
