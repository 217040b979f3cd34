"""Raw strings -> token ids, as TensorFlow ops: the same graph for training, `predict` and the export.

Cleaning (`clean_text_tf`), tensorflow-text's `SentencepieceTokenizer` on the run's sentencepiece model and
truncation (`truncate_ids`) all run in TensorFlow, so the exported SavedModel tokenizes exactly as the run
did. (The Python `sentencepiece` package is not used here on purpose: it may break ties between equally
scored segmentations differently from the copy bundled in tensorflow-text, which changed the ids of about 1%
of IMDB reviews when measured.)
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from seqtasks.tasks.sentiment.data import TRUNCATE_MODES, clean_text_tf, truncate_ids


class SentimentPreprocessor(tf.Module):
    """Cleans, tokenizes and truncates raw review text.

    Args:
        model_proto: the serialized sentencepiece model (`SentencePieceTokenizer.model_proto`).
        max_length: the most token ids kept per text.
        truncate: `"head"`, `"tail"` or `"head_tail"` (see `truncate_ids`).
        clean: whether to apply `clean_text_tf` first (HTML line breaks, whitespace).

    Call arguments:
        texts: a 1-D string tensor.

    Returns:
        A `(batch, None)` int32 ragged tensor of token ids (never containing the padding id 0 unless the
        sentencepiece model maps a piece to it).

    Example:

    >>> pre = SentimentPreprocessor(tok.model_proto, max_length=512)  # doctest: +SKIP
    >>> pre(tf.constant(["A fine film.<br />Go."])).to_tensor()  # doctest: +SKIP
    """

    def __init__(self, model_proto: bytes, max_length: int, truncate: str = "head", clean: bool = True) -> None:
        super().__init__(name="sentiment_preprocessor")
        import tensorflow_text as tf_text

        if truncate not in TRUNCATE_MODES:
            raise ValueError(
                f"Received an invalid value for argument `truncate`, expected one of {TRUNCATE_MODES}, "
                f"got {truncate!r}."
            )
        if not isinstance(max_length, int) or max_length < 1:
            raise ValueError(
                f"Received an invalid value for argument `max_length`, expected a positive integer, got {max_length!r}."
            )
        self.max_length = max_length
        self.truncate = truncate
        self.clean = clean
        self.tokenizer = tf_text.SentencepieceTokenizer(model=model_proto, out_type=tf.int32)

    def __call__(self, texts: tf.Tensor) -> tf.RaggedTensor:
        texts = tf.convert_to_tensor(texts, tf.string)
        if self.clean:
            texts = clean_text_tf(texts)
        ids = self.tokenizer.tokenize(texts)
        return truncate_ids(ids, self.max_length, self.truncate)

    def encode(self, texts: Sequence[str], chunk_size: int = 2048) -> tf.RaggedTensor:
        """Eagerly encodes a list of Python strings, in chunks to bound memory."""
        if not texts:
            return tf.RaggedTensor.from_row_lengths(tf.zeros([0], tf.int32), tf.zeros([0], tf.int64))
        parts = [self(tf.constant(list(texts[i : i + chunk_size]))) for i in range(0, len(texts), chunk_size)]
        return tf.concat(parts, axis=0) if len(parts) > 1 else parts[0]
