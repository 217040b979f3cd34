"""Subword tokenization of sentence pairs (the task's `Preprocessor`) and the batches the translation model
trains on.

Sentencepiece models are trained on the training pairs, either one joint model for both languages or one per
language, in memory, and saved in the run's assets (`source.model`, `target.model`; a joint model is written
under both names; `tokenizer.json` records the mode and the punctuation-space policy). They are trained without
sentencepiece's default NFKC normalisation (`identity` rule; the text is already NFC from `data.read_pairs`),
because NFKC would turn the narrow no-break space of French typography into a plain space and `…` into `...`,
and detokenized translations would no longer match their references. Fine-tuning keeps the source run's
tokenizers (words outside them are split into known pieces, down to characters).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf

from seqtasks.config import RunConfig
from seqtasks.data.bucketing import plan_batches
from seqtasks.errors import DataError
from seqtasks.runtime.preprocessor import Preprocessor, write_bytes_atomic, write_text_atomic
from seqtasks.tasks.translation.data import Pair, normalize_text
from seqtasks.tokenizers import SentencePieceTokenizer, train_sentencepiece_model
from seqtasks.tokenizers.sentencepiece import BOS_ID, EOS_ID, PAD_ID

TOKENIZER_MODES = ("joint", "separate")
SOURCE_MODEL = "source.model"
TARGET_MODEL = "target.model"
META_FILE = "tokenizer.json"


def train_tokenizer(texts: Sequence[str], vocab_size: int, model_type: str = "unigram") -> SentencePieceTokenizer:
    """Trains (in memory) a sentencepiece model that keeps text as written (no NFKC), with seqtasks' special
    ids."""
    model = train_sentencepiece_model(
        texts, vocab_size=vocab_size, model_type=model_type, normalization_rule_name="identity"
    )
    return SentencePieceTokenizer.from_bytes(model)


class TranslationPreprocessor(Preprocessor):
    """Source and target sentencepiece tokenizers plus the batching of pairs.

    Args:
        source_tokenizer: tokenizer of source sentences.
        target_tokenizer: tokenizer of target sentences (may be the same object).
        mode: `"joint"` or `"separate"`, recorded for `save`.
        punctuation_spaces: the `data.normalize_text` policy applied to inputs of `encode_sources`.
    """

    files = (SOURCE_MODEL, TARGET_MODEL, META_FILE)

    def __init__(
        self,
        source_tokenizer: SentencePieceTokenizer,
        target_tokenizer: SentencePieceTokenizer,
        mode: str = "joint",
        punctuation_spaces: str = "keep",
    ) -> None:
        self.source_tokenizer = source_tokenizer
        self.target_tokenizer = target_tokenizer
        self.mode = mode
        self.punctuation_spaces = punctuation_spaces

    # -- construction (the Preprocessor protocol) ----------------------------------------------------------

    @classmethod
    def from_pairs(
        cls,
        pairs: Sequence[Pair],
        mode: str = "joint",
        source_vocab_size: int = 8000,
        target_vocab_size: int = 8000,
        model_type: str = "unigram",
        punctuation_spaces: str = "keep",
    ) -> TranslationPreprocessor:
        """Trains the tokenizers on `pairs` (in memory; `save` writes them).

        With `mode="joint"` one model of `source_vocab_size` pieces is trained on both sides.
        """
        if mode not in TOKENIZER_MODES:
            raise ValueError(
                f"Received an invalid value for argument `mode`, expected one of {TOKENIZER_MODES}, got {mode!r}."
            )
        sources = [p.source for p in pairs]
        targets = [p.target for p in pairs]
        if mode == "joint":
            source = target = train_tokenizer(sources + targets, source_vocab_size, model_type)
        else:
            source = train_tokenizer(sources, source_vocab_size, model_type)
            target = train_tokenizer(targets, target_vocab_size, model_type)
        return cls(source, target, mode, punctuation_spaces)

    @classmethod
    def build(cls, config: RunConfig, data: Sequence[Pair]) -> TranslationPreprocessor:
        """Tokenizers trained on the training pairs `data` as `config.data` says (mode, sizes, algorithm)."""
        cfg = config.data
        print(f"Training {cfg.tokenizer} sentencepiece model(s) ({cfg.tokenizer_type}) ...", flush=True)
        return cls.from_pairs(
            data,
            mode=cfg.tokenizer,
            source_vocab_size=cfg.source_vocab_size,
            target_vocab_size=cfg.target_vocab_size,
            model_type=cfg.tokenizer_type,
            punctuation_spaces=cfg.punctuation_spaces,
        )

    # adapt_from: the default, the source run's tokenizers unchanged (their ids are what the weights know).

    def save(self, directory: Path) -> None:
        """Writes `source.model`, `target.model` (the same bytes for a joint model) and `tokenizer.json`."""
        directory = Path(directory)
        write_bytes_atomic(directory / SOURCE_MODEL, self.source_tokenizer.model_proto)
        write_bytes_atomic(directory / TARGET_MODEL, self.target_tokenizer.model_proto)
        meta = {"mode": self.mode, "punctuation_spaces": self.punctuation_spaces}
        write_text_atomic(directory / META_FILE, json.dumps(meta, indent=2) + "\n")

    @classmethod
    def load(cls, directory: Path, config: RunConfig | None = None) -> TranslationPreprocessor:
        """Loads tokenizers written by `save` (`config` is not needed: everything is in the files)."""
        directory = Path(directory)
        meta_path = directory / META_FILE
        if not meta_path.is_file():
            raise DataError(
                f"No translation tokenizers in {str(directory)!r} ({META_FILE} is missing): train the run first "
                "or point --workdir at a trained translation run."
            )
        meta = json.loads(meta_path.read_text())
        source = SentencePieceTokenizer(directory / SOURCE_MODEL)
        target = (
            source if meta["mode"] == "joint" else SentencePieceTokenizer(directory / TARGET_MODEL)
        )
        return cls(source, target, meta["mode"], meta.get("punctuation_spaces", "keep"))

    # -- tokenization --------------------------------------------------------------------------------------

    @property
    def source_vocab_size(self) -> int:
        return self.source_tokenizer.vocab_size

    @property
    def target_vocab_size(self) -> int:
        return self.target_tokenizer.vocab_size

    def encode_sources(self, texts: Sequence[str], max_length: int | None = None) -> np.ndarray:
        """Normalises and tokenizes source sentences into a zero-padded int32 array `(len(texts), S)`."""
        texts = [normalize_text(t, self.punctuation_spaces) for t in texts]
        ids = self.source_tokenizer.encode_batch(texts)
        if max_length is not None:
            ids = [seq[:max_length] for seq in ids]
        return _pad(ids)

    def decode_targets(self, ids: np.ndarray | tf.Tensor) -> list[str]:
        """Detokenizes target id rows (padding, start and end ids are dropped)."""
        ids = ids.numpy() if isinstance(ids, tf.Tensor) else np.asarray(ids)
        return [self.target_tokenizer.decode([int(i) for i in row if i != PAD_ID]) for row in ids]

    def encode_pairs(self, pairs: Sequence[Pair]) -> tuple[list[list[int]], list[list[int]]]:
        sources = self.source_tokenizer.encode_batch([p.source for p in pairs])
        targets = self.target_tokenizer.encode_batch([p.target for p in pairs])
        return sources, targets

    # -- batches -------------------------------------------------------------------------------------------

    def dataset(
        self,
        pairs: Sequence[Pair],
        batch_size: int,
        shuffle: bool = False,
        seed: int | tuple[int, ...] = 0,
        max_source_length: int | None = None,
        max_target_length: int | None = None,
        bucket_batches: int = 50,
    ) -> tf.data.Dataset:
        """Batches `((source_ids, target_input_ids), target_output_ids)` for teacher-forced training.

        `target_input_ids` is `[bos] + target` and `target_output_ids` is `target + [eos]`. Pairs longer than the
        maximum lengths are dropped (training only makes sense on whole sentences). With `shuffle`, pairs are
        shuffled with `seed`, sorted by length inside windows of `bucket_batches` batches (less padding), and
        the batches shuffled again, all from `seed`, so the same seed gives the same batches.
        """
        sources, targets = self.encode_pairs(pairs)
        return self.dataset_from_ids(
            sources,
            targets,
            batch_size,
            shuffle,
            seed,
            max_source_length,
            max_target_length,
            bucket_batches,
        )

    def dataset_from_ids(
        self,
        sources: Sequence[Sequence[int]],
        targets: Sequence[Sequence[int]],
        batch_size: int,
        shuffle: bool = False,
        seed: int | tuple[int, ...] = 0,
        max_source_length: int | None = None,
        max_target_length: int | None = None,
        bucket_batches: int = 50,
    ) -> tf.data.Dataset:
        """`dataset` for pairs already encoded with `encode_pairs`."""
        keep = [
            i
            for i in range(len(sources))
            if (max_source_length is None or len(sources[i]) <= max_source_length)
            and (max_target_length is None or len(targets[i]) + 1 <= max_target_length)
        ]
        order = np.array(keep, dtype=np.int64)
        if shuffle:
            # Shuffled, sorted by length inside windows of `bucket_batches` batches, batches shuffled (all from
            # `seed`); the planned batches are laid end to end and cut by `ragged_batch` below, as they always were.
            lengths = np.array([len(sources[i]) + len(targets[i]) for i in order], dtype=np.int64)
            batches = plan_batches(lengths, batch_size, seed, window_batches=bucket_batches)
            if batches:
                order = order[np.concatenate(batches)]
        src = [list(sources[i]) for i in order]
        tgt_in = [[BOS_ID, *targets[i]] for i in order]
        tgt_out = [[*targets[i], EOS_ID] for i in order]
        if not src:
            raise DataError(
                f"No sentence pair fits the maximum lengths ({max_source_length} source / {max_target_length} "
                "target tokens): raise data.max_source_length / data.max_target_length or check the data."
            )
        ds = tf.data.Dataset.from_tensor_slices(tuple(_ragged(x) for x in (src, tgt_in, tgt_out)))
        ds = ds.ragged_batch(batch_size)
        return ds.map(lambda s, ti, to: ((s.to_tensor(), ti.to_tensor()), to.to_tensor())).prefetch(
            tf.data.AUTOTUNE
        )

    def dropped_pairs(
        self, pairs: Sequence[Pair], max_source_length: int | None, max_target_length: int | None
    ) -> int:
        """How many pairs `dataset` would drop as too long."""
        sources, targets = self.encode_pairs(pairs)
        return sum(
            1
            for s, t in zip(sources, targets, strict=True)
            if (max_source_length is not None and len(s) > max_source_length)
            or (max_target_length is not None and len(t) + 1 > max_target_length)
        )


def _ragged(rows: Sequence[Sequence[int]]) -> tf.RaggedTensor:
    """A ragged int32 tensor from Python rows (much faster than `tf.ragged.constant` on many rows)."""
    lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
    values = np.fromiter((i for r in rows for i in r), dtype=np.int32, count=int(lengths.sum()))
    return tf.RaggedTensor.from_row_lengths(values, lengths)


def _pad(ids: Sequence[Sequence[int]]) -> np.ndarray:
    width = max((len(x) for x in ids), default=0)
    out = np.zeros((len(ids), max(width, 1)), dtype=np.int32)
    for i, seq in enumerate(ids):
        out[i, : len(seq)] = seq
    return out
