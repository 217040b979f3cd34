"""What a sentiment run learns besides its weights, and raw strings -> token ids as TensorFlow ops.

`SentimentPreprocessor` (the task's `Preprocessor`) holds the sentencepiece model (trained on the training split,
or the user's `data.tokenizer` file) and the class names, saved as `RUN/assets/spm.model` and
`RUN/assets/classes.json`. Fine-tuning keeps the source run's sentencepiece model and reads the class set from
the new data (a different set gets a new classifier head).

`SentimentTokenizer` is the in-graph text path: cleaning (`clean_text_tf`), tensorflow-text's
`SentencepieceTokenizer` on the run's sentencepiece model and truncation (`truncate_ids`), so the exported
SavedModel tokenizes exactly as the run did. (The Python `sentencepiece` package is not used for the ids on
purpose: it may break ties between equally scored segmentations differently from the copy bundled in
tensorflow-text, which changed the ids of about 1% of IMDB reviews when measured.)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import tensorflow as tf

from seqtasks.errors import DataError
from seqtasks.runtime.preprocessor import Preprocessor, write_bytes_atomic, write_text_atomic
from seqtasks.tasks.sentiment.config import SentimentConfig
from seqtasks.tasks.sentiment.data import (
    TRUNCATE_MODES,
    LabelledTexts,
    clean_text_tf,
    sorted_classes,
    truncate_ids,
)
from seqtasks.tokenizers import SentencePieceTokenizer, train_sentencepiece_model

SPM_ASSET = "spm.model"
CLASSES_ASSET = "classes.json"


class TrainingTexts(NamedTuple):
    """What `SentimentPreprocessor.build` learns from: the training data as read (its labels give the classes)
    and the part of it left for training after the validation split (the sentencepiece model's corpus)."""

    data: LabelledTexts
    train: LabelledTexts


class SentimentTokenizer(tf.Module):
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

    >>> tokenizer = SentimentTokenizer(tok.model_proto, max_length=512)  # doctest: +SKIP
    >>> tokenizer(tf.constant(["A fine film.<br />Go."])).to_tensor()  # doctest: +SKIP
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


class SentimentPreprocessor(Preprocessor):
    """The sentencepiece model and the class names of a sentiment run, and its text-to-ids path.

    Args:
        spm_model: The serialized sentencepiece model (`spm.model`'s bytes).
        class_names: The class names in class-id order.
        max_length, truncate, clean: The run's `data.max_length`, `data.truncate` and `data.clean_html`
            (settings of `tokenizer`, not learnt).

    Attributes:
        tokenizer: The `SentimentTokenizer` of this model and these settings (training, predict and export).
        vocab_size: The number of token ids.
    """

    files = (SPM_ASSET, CLASSES_ASSET)

    def __init__(
        self,
        spm_model: bytes,
        class_names: Sequence[str],
        max_length: int = 512,
        truncate: str = "head_tail",
        clean: bool = True,
        source: str = "in memory",
    ) -> None:
        self.spm_model = bytes(spm_model)
        self.class_names = [str(c) for c in class_names]
        # The Python model checks the file (a padding id) and gives the vocabulary size.
        self.vocab_size = SentencePieceTokenizer.from_bytes(self.spm_model, source).vocab_size
        self.tokenizer = SentimentTokenizer(self.spm_model, max_length=max_length, truncate=truncate, clean=clean)

    @classmethod
    def _with_settings(
        cls, config: SentimentConfig, spm_model: bytes, class_names: Sequence[str], source: str = "in memory"
    ) -> SentimentPreprocessor:
        d = config.data
        return cls(spm_model, class_names, d.max_length, d.truncate, d.clean_html, source)

    @staticmethod
    def class_names_of(config: SentimentConfig, data: LabelledTexts) -> list[str]:
        """`data.classes` when configured, else every label of `data` (sorted); at least two."""
        names = [str(c) for c in config.data.classes] or sorted_classes(data.labels)
        if len(names) < 2:
            raise DataError(
                f"{data.source}: only one class ({names[0]!r}) in the training data; a classifier needs at least two"
            )
        return names

    @classmethod
    def build(cls, config: SentimentConfig, data: TrainingTexts) -> SentimentPreprocessor:
        """The classes of `data.data`, and a sentencepiece model trained on `data.train` (or `data.tokenizer`)."""
        class_names = cls.class_names_of(config, data.data)
        d = config.data
        if d.tokenizer:
            path = Path(d.tokenizer).expanduser()
            if not path.is_file():
                raise DataError(f"data.tokenizer {str(path)!r} does not exist; give a sentencepiece .model file or ''")
            return cls._with_settings(config, path.read_bytes(), class_names, repr(str(path)))
        print(f"Training a {d.vocab_size}-piece {d.tokenizer_type} sentencepiece model ...", flush=True)
        model = train_sentencepiece_model(data.train.texts, vocab_size=d.vocab_size, model_type=d.tokenizer_type)
        return cls._with_settings(config, model, class_names)

    @classmethod
    def adapt_from(
        cls, source: SentimentPreprocessor, config: SentimentConfig, data: TrainingTexts
    ) -> SentimentPreprocessor:
        """Fine-tuning: the source run's sentencepiece model (the embedding keeps its meaning), the new data's
        classes."""
        return cls._with_settings(config, source.spm_model, cls.class_names_of(config, data.data))

    def save(self, directory: Path) -> None:
        write_bytes_atomic(directory / SPM_ASSET, self.spm_model)
        write_text_atomic(directory / CLASSES_ASSET, json.dumps({"classes": self.class_names}, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path, config: SentimentConfig) -> SentimentPreprocessor:
        classes = json.loads((directory / CLASSES_ASSET).read_text(encoding="utf-8"))["classes"]
        spm = directory / SPM_ASSET
        return cls._with_settings(config, spm.read_bytes(), [str(c) for c in classes], repr(str(spm)))

    def encode(self, texts: Sequence[str]) -> tf.RaggedTensor:
        """Token ids `(len(texts), None)` of raw texts (cleaned and truncated as configured)."""
        return self.tokenizer.encode(texts)


__all__ = ["CLASSES_ASSET", "SPM_ASSET", "SentimentPreprocessor", "SentimentTokenizer", "TrainingTexts"]
