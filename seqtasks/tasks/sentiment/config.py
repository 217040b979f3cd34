"""Config schema of the `sentiment` task (sections data / model / train / eval / export).

`recipes/configs/sentiment.yaml` lists every key with its default and comment (a test checks they agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqtasks.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig


@dataclass
class SentimentDataConfig(DataConfig):
    """Data and tokenization of the sentiment task (`dataset`, `path`, `data_dir`, `tfds_data_dir` inherited)."""

    # Named dataset used when `path` is empty: "imdb" (IMDB reviews: local copy, else tfds `imdb_reviews`).
    dataset: str = "imdb"
    # Format of the files in `path`: auto (folder -> one subfolder per class, *.csv -> CSV, else TSV), tsv
    # (tab-separated, no quote processing), csv (RFC 4180 quoting) or folders.
    format: Literal["auto", "tsv", "csv", "folders"] = "auto"
    # The text column, by header name or 0-based index.
    text_column: int | str = "text"
    # The label column, by header name or 0-based index.
    label_column: int | str = "label"
    # Whether files start with a header line.
    header: bool = True
    # The classes in class-id order; empty = every label of the training data, sorted (numerically when all
    # labels are integers). With a list, other labels are bad rows (and for folders, other subfolders are left
    # out, e.g. aclImdb's unsup/).
    classes: list[str] = field(default_factory=list)
    # Renames labels as they are read, "from=to" items, e.g. ["0=negative", "1=positive"].
    label_map: list[str] = field(default_factory=list)
    # Bad rows (wrong column count, empty text, empty/unknown label): fail (stop at the first, naming file and
    # line) or skip (skip, count, list them in RUN/bad_rows.txt).
    on_bad_row: Literal["fail", "skip"] = "fail"
    # Share of the training data held out for validation (seeded by train.seed, stratified by class).
    validation_split: float = 0.1
    # Files evaluated by `evaluate --set eval.split=test` for your own data (the named dataset has its own).
    test_path: list[str] = field(default_factory=list)
    # Replace HTML line breaks (<br />) by spaces and collapse whitespace, in training and in the export.
    clean_html: bool = True
    # Sentencepiece model: "" = train one on the training split; or the path of your own .model file.
    tokenizer: str = ""
    # Vocabulary size of a trained sentencepiece model (ids 0-3: pad, unk, bos, eos).
    vocab_size: int = 8000
    # Sentencepiece algorithm: unigram or bpe.
    tokenizer_type: Literal["unigram", "bpe"] = "unigram"
    # Longest token sequence read per text.
    max_length: int = 512
    # Which part of a longer text is kept: head, tail, or head_tail (first quarter + last three quarters;
    # reviews tend to conclude with their verdict).
    truncate: Literal["head", "tail", "head_tail"] = "head_tail"
    # Length buckets (quantiles of the training lengths); batches are padded only within a bucket.
    num_buckets: int = 10


@dataclass
class SentimentModelConfig(ModelConfig):
    """Embedding (mask) -> stacked bidirectional LSTM/GRU -> pooling over valid steps -> dropout -> Dense."""

    # Embedding width.
    embedding_dim: int = 128
    # Recurrent cell: lstm or gru.
    cell_type: Literal["lstm", "gru"] = "gru"
    # Units per direction.
    units: int = 64
    # Number of stacked recurrent layers.
    num_layers: int = 1
    # Wrap each recurrent layer in Bidirectional (concatenated directions).
    bidirectional: bool = True
    # Dropout between recurrent layers.
    dropout: float = 0.0
    # Recurrent dropout inside the cells (slower: no fused/cuDNN path).
    recurrent_dropout: float = 0.0
    # Spatial dropout on the embeddings (whole channels).
    embedding_dropout: float = 0.1
    # Pooling over the valid steps: last, mean, max or mean_max (both, concatenated).
    pooling: Literal["last", "mean", "max", "mean_max"] = "mean_max"
    # Dropout before the classifier.
    head_dropout: float = 0.3


@dataclass
class SentimentTrainConfig(TrainConfig):
    """Shared training settings with sentiment defaults."""

    # Global batch size.
    batch_size: int = 64
    # Epochs (IMDB: validation accuracy peaks after 2-3; three fit the 20-minute CPU budget with room).
    epochs: int = 3
    # Peak learning rate.
    learning_rate: float = 2e-3
    # Cosine decay over the run ...
    lr_schedule: Literal["constant", "cosine", "exponential"] = "cosine"
    # ... down to this fraction of the peak.
    min_lr_ratio: float = 0.05
    # Global-norm gradient clipping.
    clip_global_norm: float = 1.0
    # Epochs without a better val_accuracy before stopping.
    early_stopping_patience: int = 2
    # Weight the loss per class by n / (num_classes * count): none or balanced (for imbalanced data).
    class_weights: Literal["none", "balanced"] = "none"


@dataclass
class SentimentEvalConfig(EvalConfig):
    """Evaluation settings."""

    # Batch size of evaluation.
    batch_size: int = 128
    # What `evaluate` scores when no file is given: validation (carved from train) or test (the named
    # dataset's test split, or data.test_path).
    split: Literal["validation", "test"] = "validation"
    # Predictions per `predict` batch.
    predict_batch_size: int = 64


@dataclass
class SentimentConfig(RunConfig):
    """The whole sentiment run config."""

    # Where the labelled texts come from, how they are read and tokenized.
    data: SentimentDataConfig = field(default_factory=SentimentDataConfig)
    # The classifier.
    model: SentimentModelConfig = field(default_factory=SentimentModelConfig)
    # Training (shared keys with sentiment defaults).
    train: SentimentTrainConfig = field(default_factory=SentimentTrainConfig)
    # Evaluation and prediction.
    eval: SentimentEvalConfig = field(default_factory=SentimentEvalConfig)


__all__ = [
    "SentimentConfig",
    "SentimentDataConfig",
    "SentimentEvalConfig",
    "SentimentModelConfig",
    "SentimentTrainConfig",
]
