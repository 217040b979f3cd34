"""Training and loading sentencepiece models, the subword tokenizer of the sentiment and translation recipes.

The model file written here is the one that the exported SavedModels embed through tensorflow-text's
`SentencepieceTokenizer`, so in-process and exported tokenization are the same model.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable
from pathlib import Path

import sentencepiece as spm

from seqtasks.errors import DataError

PAD_ID = 0
UNK_ID = 1
BOS_ID = 2
EOS_ID = 3


def train_sentencepiece_model(
    texts: Iterable[str],
    vocab_size: int = 8000,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    max_sentences: int = 2_000_000,
    seed_sentencepiece_size: int = 1_000_000,
    normalization_rule_name: str = "nmt_nfkc",
) -> bytes:
    """Trains a sentencepiece model on `texts` and returns the serialized model (what a `.model` file holds).

    Nothing is written to disk, so a preprocessor can be built without touching the run directory.

    Ids are fixed across seqtasks: 0 = padding (also the Keras mask value), 1 = unknown, 2 = begin, 3 = end of
    sequence. If the corpus is too small for `vocab_size`, the vocabulary is shrunk to what the corpus
    supports (sentencepiece's `hard_vocab_limit=False`) rather than failing.

    Args:
        texts: training sentences (one string each; newlines inside a string are replaced by spaces).
        vocab_size: target vocabulary size, including the four special ids.
        model_type: `"unigram"` or `"bpe"`.
        character_coverage: fraction of characters covered by the vocabulary (1.0 for small alphabets).
        max_sentences: upper bound on sentences fed to the trainer (it samples above this).
        seed_sentencepiece_size: unigram seed vocabulary size.
        normalization_rule_name: sentencepiece's normalisation (`"nmt_nfkc"` default; `"identity"` keeps text
            such as U+202F or "…" exactly, which detokenized translation output needs).

    Returns:
        The serialized model (`SentencePieceTokenizer.from_bytes` loads it).
    """
    if model_type not in ("unigram", "bpe"):
        raise ValueError(
            "Received an invalid value for argument `model_type`, expected one of "
            f"'unigram', 'bpe', got {model_type!r}."
        )
    if not isinstance(vocab_size, int) or vocab_size < 8:
        raise ValueError(
            "Received an invalid value for argument `vocab_size`, expected an integer >= 8, "
            f"got {vocab_size!r}."
        )
    sentences = [t.replace("\n", " ").strip() for t in texts]
    sentences = [s for s in sentences if s]
    if not sentences:
        raise DataError("Cannot train a sentencepiece model on an empty corpus: no non-empty text was given.")
    proto = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences),
        model_writer=proto,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        input_sentence_size=max_sentences,
        shuffle_input_sentence=True,
        seed_sentencepiece_size=seed_sentencepiece_size,
        hard_vocab_limit=False,
        normalization_rule_name=normalization_rule_name,
        pad_id=PAD_ID,
        unk_id=UNK_ID,
        bos_id=BOS_ID,
        eos_id=EOS_ID,
        minloglevel=2,
        num_threads=2,
    )
    return proto.getvalue()


def train_sentencepiece(
    texts: Iterable[str],
    model_path: str | os.PathLike,
    vocab_size: int = 8000,
    model_type: str = "unigram",
    character_coverage: float = 1.0,
    max_sentences: int = 2_000_000,
    seed_sentencepiece_size: int = 1_000_000,
    normalization_rule_name: str = "nmt_nfkc",
) -> Path:
    """`train_sentencepiece_model` written to `model_path` (a `.model` file; its parent folder is created).

    Returns:
        The path of the written model.
    """
    model = train_sentencepiece_model(
        texts,
        vocab_size=vocab_size,
        model_type=model_type,
        character_coverage=character_coverage,
        max_sentences=max_sentences,
        seed_sentencepiece_size=seed_sentencepiece_size,
        normalization_rule_name=normalization_rule_name,
    )
    model_path = Path(model_path)
    model_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = model_path.with_suffix(model_path.suffix + ".tmp")
    tmp.write_bytes(model)
    os.replace(tmp, model_path)
    return model_path


class SentencePieceTokenizer:
    """A loaded sentencepiece model with the seqtasks id conventions.

    Args:
        model_path: a `.model` file written by `train_sentencepiece` or by the user's own sentencepiece training
            (it must define a padding id; seqtasks uses 0). `from_bytes` loads a serialized model instead.

    Example:

    >>> tok = SentencePieceTokenizer("run/spm.model")  # doctest: +SKIP
    >>> tok.decode(tok.encode("hello world"))  # doctest: +SKIP
    'hello world'
    """

    def __init__(self, model_path: str | os.PathLike) -> None:
        path = Path(model_path)
        if not path.is_file():
            raise DataError(
                f"Sentencepiece model {str(path)!r} does not exist: train one with "
                "seqtasks.tokenizers.train_sentencepiece or point the config at an existing .model file."
            )
        self.model_path: Path | None = path
        self._load(path.read_bytes(), repr(str(path)))

    @classmethod
    def from_bytes(cls, model_proto: bytes, name: str = "in memory") -> SentencePieceTokenizer:
        """The tokenizer of a serialized model (`train_sentencepiece_model`'s result, a `.model` file's bytes);
        `name` says where it came from in error messages."""
        tokenizer = cls.__new__(cls)
        tokenizer.model_path = None
        tokenizer._load(bytes(model_proto), name)
        return tokenizer

    def _load(self, model_proto: bytes, name: str) -> None:
        self.model_proto = model_proto
        try:
            self._sp = spm.SentencePieceProcessor(model_proto=self.model_proto)
        except (RuntimeError, OSError) as error:
            raise DataError(f"Sentencepiece model {name} cannot be read ({error}); give a sentencepiece .model file") from None
        if self._sp.pad_id() < 0:
            raise DataError(
                f"Sentencepiece model {name} has no padding id: retrain it with --pad_id=0 "
                "(seqtasks.tokenizers.train_sentencepiece does this)."
            )

    @property
    def vocab_size(self) -> int:
        return self._sp.get_piece_size()

    @property
    def pad_id(self) -> int:
        return self._sp.pad_id()

    @property
    def bos_id(self) -> int:
        return self._sp.bos_id()

    @property
    def eos_id(self) -> int:
        return self._sp.eos_id()

    @property
    def unk_id(self) -> int:
        return self._sp.unk_id()

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text, out_type=int)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self._sp.encode(texts, out_type=int)

    def decode(self, ids: list[int]) -> str:
        return self._sp.decode([i for i in ids if i not in (self.pad_id, self.bos_id, self.eos_id)])

    def id_to_piece(self, i: int) -> str:
        return self._sp.id_to_piece(i)
