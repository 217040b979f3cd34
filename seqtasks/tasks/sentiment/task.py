"""The `sentiment` task: text classification with a bidirectional recurrent encoder over sentencepiece tokens.

Run assets (`RUN/assets/`): `spm.model` (the sentencepiece model, trained on the training split or given by
the user) and `classes.json` (the class names in class-id order). Fine-tuning keeps the source run's
`spm.model`, reads its class set from the new data (a different set gets a new classifier head; the
embedding and the encoder are always kept).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import keras
import numpy as np
import tensorflow as tf

from seqtasks.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from seqtasks.errors import CheckpointError, ConfigError, DataError
from seqtasks.metrics.classification import (
    classification_report,
    format_report,
    plot_confusion_matrix,
)
from seqtasks.tasks import Task, register_task
from seqtasks.tasks.sentiment import data as sd
from seqtasks.tasks.sentiment.export import export_classifier
from seqtasks.tasks.sentiment.model import ENCODER_LAYERS, build_classifier, transfer_encoder
from seqtasks.tasks.sentiment.preprocessor import SentimentPreprocessor
from seqtasks.tokenizers import SentencePieceTokenizer, train_sentencepiece

SPM_ASSET = "spm.model"
CLASSES_ASSET = "classes.json"


@dataclass
class SentimentData(DataConfig):
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
class SentimentModel(ModelConfig):
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
class SentimentTrain(TrainConfig):
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
class SentimentEval(EvalConfig):
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
    data: SentimentData = field(default_factory=SentimentData)
    model: SentimentModel = field(default_factory=SentimentModel)
    train: SentimentTrain = field(default_factory=SentimentTrain)
    eval: SentimentEval = field(default_factory=SentimentEval)


def _label_map(items: Sequence[str]) -> dict[str, str]:
    mapping = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"data.label_map item {item!r} is not of the form from=to (e.g. 0=negative)")
        src, dst = item.split("=", 1)
        mapping[src.strip()] = dst.strip()
    return mapping


@register_task
class SentimentTask(Task):
    """Sentiment (any text classification) on IMDB or the user's TSV/CSV/class-folder data."""

    name = "sentiment"
    config_class = SentimentConfig
    monitor = "val_accuracy"
    monitor_mode = "max"

    def __init__(self, config: SentimentConfig, run) -> None:
        super().__init__(config, run)
        self.preprocessor: SentimentPreprocessor | None = None
        self.vocab_size = 0
        self.class_names: list[str] = []
        self.train_data: sd.LabelledTexts | None = None
        self.val_data: sd.LabelledTexts | None = None
        self._train_ids: tf.RaggedTensor | None = None
        self._train_y: np.ndarray | None = None
        self._train_w: np.ndarray | None = None
        self._val_ids: tf.RaggedTensor | None = None
        self._val_y: np.ndarray | None = None
        self._boundaries: list[int] = []
        self._logits_fn = None

    # ------------------------------------------------------------------------------------------ data

    def read(self, paths: Sequence[str], classes: Sequence[str] | None = None) -> sd.LabelledTexts:
        """Reads labelled files/folders with the configured format, columns, label map and bad-row policy."""
        cfg = self.config.data
        parts = [
            sd.read_labelled(
                p,
                format=cfg.format,
                text_column=cfg.text_column,
                label_column=cfg.label_column,
                header=cfg.header,
                classes=classes,
                label_map=_label_map(cfg.label_map),
                on_bad_row=cfg.on_bad_row,
                clean=cfg.clean_html,
            )
            for p in paths
        ]
        if len(parts) == 1:
            return parts[0]
        merged = sd.LabelledTexts(texts=[], labels=[], source=", ".join(p.source for p in parts))
        for part in parts:
            merged.texts += part.texts
            merged.labels += part.labels
            merged.bad_rows += part.bad_rows
            merged.blank_lines += part.blank_lines
        return merged

    def _load_split(self, split: str, classes: Sequence[str] | None) -> sd.LabelledTexts:
        cfg = self.config.data
        if split == "train" and cfg.path:
            return self.read(cfg.path, classes)
        if split == "test" and cfg.test_path:
            return self.read(cfg.test_path, classes)
        if split == "test" and cfg.path:
            raise ConfigError(
                "eval.split=test needs test files for your own data: set data.test_path, or run "
                "`seqtasks evaluate --workdir RUN --data TEST_FILE`"
            )
        if cfg.dataset != "imdb":
            from seqtasks.data import get_dataset

            get_dataset(cfg.dataset)  # a one-line error naming the known datasets
            raise ConfigError(f"dataset {cfg.dataset!r} is not a text classification dataset; use data.dataset=imdb")
        data = sd.load_imdb(split, cfg, label_map=_label_map(cfg.label_map), on_bad_row=cfg.on_bad_row)
        if classes is not None:
            sd.encode_labels(data.labels, classes, data.source)  # one line naming labels outside the classes
        return data

    def _write_bad_rows(self, data: sd.LabelledTexts, name: str) -> None:
        if data.bad_rows and self.is_writer:
            self.run.root.mkdir(parents=True, exist_ok=True)
            path = self.run.root / name
            path.write_text("".join(f"{b}\n" for b in data.bad_rows), encoding="utf-8")
            print(f"{len(data.bad_rows)} bad rows skipped in {data.source}; listed in {path}", flush=True)

    def prepare_data(self, source: Task | None = None) -> None:
        cfg = self.config.data
        have_assets = (self.run.assets / SPM_ASSET).is_file() and (self.run.assets / CLASSES_ASSET).is_file()
        configured = [str(c) for c in cfg.classes] or None
        if have_assets:
            self.load_preprocessor()
            configured = self.class_names
        data = self._load_split("train", configured)
        self._write_bad_rows(data, "bad_rows_train.txt")
        print(data.summary(), flush=True)
        self.train_data, self.val_data = sd.split_validation(data, cfg.validation_split, self.config.train.seed)
        if not have_assets:
            self.class_names = configured or sd.sorted_classes(data.labels)
            if len(self.class_names) < 2:
                raise DataError(
                    f"{data.source}: only one class ({self.class_names[0]!r}) in the training data; a classifier "
                    "needs at least two"
                )
            model_file = self._tokenizer_source(source)
            if self.is_writer:
                self.run.assets.mkdir(parents=True, exist_ok=True)
                if model_file is not None:
                    shutil.copyfile(model_file, self.run.assets / SPM_ASSET)
                else:
                    print(f"Training a {cfg.vocab_size}-piece {cfg.tokenizer_type} sentencepiece model ...", flush=True)
                    train_sentencepiece(
                        self.train_data.texts, self.run.assets / SPM_ASSET, vocab_size=cfg.vocab_size,
                        model_type=cfg.tokenizer_type,
                    )
                (self.run.assets / CLASSES_ASSET).write_text(
                    json.dumps({"classes": self.class_names}, indent=2) + "\n", encoding="utf-8"
                )
            elif model_file is None:
                # Only the chief trains the sentencepiece model; other workers must not train their own.
                raise ConfigError(
                    "multi-worker training of the sentiment task needs a shared tokenizer: set data.tokenizer to a "
                    "sentencepiece .model file (e.g. RUN/assets/spm.model of a single-worker run)"
                )
            self._load_tokenizer(model_file if not self.is_writer else self.run.assets / SPM_ASSET)
        self._encode_training_data()

    def _tokenizer_source(self, source: Task | None) -> Path | None:
        if source is not None:
            return Path(source.run.assets) / SPM_ASSET
        if self.config.data.tokenizer:
            path = Path(self.config.data.tokenizer).expanduser()
            if not path.is_file():
                raise DataError(f"data.tokenizer {str(path)!r} does not exist; give a sentencepiece .model file or ''")
            return path
        return None

    def _load_tokenizer(self, path: Path) -> None:
        tokenizer = SentencePieceTokenizer(path)
        self.vocab_size = tokenizer.vocab_size
        cfg = self.config.data
        self.preprocessor = SentimentPreprocessor(
            tokenizer.model_proto, max_length=cfg.max_length, truncate=cfg.truncate, clean=cfg.clean_html
        )

    def load_preprocessor(self) -> None:
        classes_file = self.run.assets / CLASSES_ASSET
        if not classes_file.is_file() or not (self.run.assets / SPM_ASSET).is_file():
            raise CheckpointError(
                f"run {self.run.root} has no sentiment assets ({SPM_ASSET}, {CLASSES_ASSET}); train it first"
            )
        self.class_names = [str(c) for c in json.loads(classes_file.read_text(encoding="utf-8"))["classes"]]
        self._load_tokenizer(self.run.assets / SPM_ASSET)

    def _encode_training_data(self) -> None:
        assert self.preprocessor is not None and self.train_data is not None and self.val_data is not None
        self._train_ids = self.preprocessor.encode(self.train_data.texts)
        self._train_y = sd.encode_labels(self.train_data.labels, self.class_names, self.train_data.source)
        self._val_ids = self.preprocessor.encode(self.val_data.texts)
        self._val_y = sd.encode_labels(self.val_data.labels, self.class_names, self.val_data.source)
        self._boundaries = sd.bucket_boundaries(self._train_ids.row_lengths().numpy(), self.config.data.num_buckets)
        self._train_w = None
        if self.config.train.class_weights == "balanced":
            weights = sd.class_weights(self._train_y, len(self.class_names))
            self._train_w = weights[self._train_y]
            print("class weights: " + ", ".join(f"{c}={w:.3f}" for c, w in zip(self.class_names, weights, strict=True)))

    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        return sd.make_dataset(
            self._train_ids, self._train_y, self.config.train.batch_size, self._boundaries,
            shuffle_seed=(self.config.train.seed, epoch), weights=self._train_w,
        )

    def validation_dataset(self) -> tf.data.Dataset | None:
        return sd.make_dataset(self._val_ids, self._val_y, self.config.eval.batch_size, self._boundaries)

    # ----------------------------------------------------------------------------------------- model

    def build_model(self) -> keras.Model:
        if not self.class_names or not self.vocab_size:
            raise RuntimeError("prepare_data() or load_preprocessor() must run before build_model()")
        m = self.config.model
        return build_classifier(
            self.vocab_size,
            len(self.class_names),
            embedding_dim=m.embedding_dim,
            cell_type=m.cell_type,
            units=m.units,
            num_layers=m.num_layers,
            bidirectional=m.bidirectional,
            dropout=m.dropout,
            recurrent_dropout=m.recurrent_dropout,
            embedding_dropout=m.embedding_dropout,
            pooling=m.pooling,
            head_dropout=m.head_dropout,
            seed=self.config.train.seed,
        )

    def loss(self) -> Any:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self) -> list[Any]:
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def finetune_from(self, model: keras.Model, source: Task, source_model: keras.Model) -> None:
        copied = transfer_encoder(source_model, model)
        same_classes = list(getattr(source, "class_names", [])) == self.class_names
        if same_classes:
            model.get_layer("classifier").set_weights(source_model.get_layer("classifier").get_weights())
            copied.append("classifier")
        head = "kept" if same_classes else f"new ({len(self.class_names)} classes: {', '.join(self.class_names)})"
        print(f"Fine-tuning: copied {', '.join(copied)} from {source.run.root}; classifier head {head}.", flush=True)

    # --------------------------------------------------------------------------------- inference

    def _logits(self, model: keras.Model, ids: np.ndarray) -> np.ndarray:
        if self._logits_fn is None or self._logits_fn[0] is not model:
            def logits(ids):
                return model(ids, training=False)

            fn = tf.function(logits, input_signature=[tf.TensorSpec([None, None], tf.int32)], autograph=False)
            self._logits_fn = (model, fn)
        if ids.shape[1] == 0:
            ids = np.zeros((ids.shape[0], 1), np.int32)
        return self._logits_fn[1](tf.constant(ids, tf.int32)).numpy()

    def predict_proba(self, model: keras.Model, texts: Sequence[str], batch_size: int | None = None) -> np.ndarray:
        """Class probabilities `(len(texts), num_classes)` for raw texts, in input order."""
        assert self.preprocessor is not None
        batch_size = batch_size or self.config.eval.batch_size
        out = np.zeros((len(texts), len(self.class_names)), np.float32)
        if not texts:
            return out
        ids = self.preprocessor.encode(list(texts))
        for idx, batch in sd.length_sorted_batches(ids, batch_size):
            logits = self._logits(model, batch)
            out[idx] = tf.nn.softmax(logits, axis=-1).numpy()
        return out

    def evaluate(self, model: keras.Model, paths: Sequence[str] | None = None) -> dict[str, Any]:
        if paths:
            data = self.read(paths, classes=self.class_names)
            name = Path(paths[0]).stem if len(paths) == 1 else "files"
            self._write_bad_rows(data, f"bad_rows_{name}.txt")
        elif self.config.eval.split == "test":
            data, name = self._load_split("test", self.class_names), "test"
        else:
            if self.val_data is None:
                raise RuntimeError("prepare_data() must run before evaluating the validation split")
            data, name = self.val_data, "validation"
        y = sd.encode_labels(data.labels, self.class_names, data.source)
        probs = self.predict_proba(model, data.texts)
        report = classification_report(y, probs.argmax(-1), self.class_names)
        print(f"\n{data.source}\n{format_report(report)}\n", flush=True)
        if self.is_writer:
            png = plot_confusion_matrix(report, self.run.root / f"confusion_matrix_{name}.png", title=f"{name}: "
                                        f"accuracy {report['accuracy']:.4f}, macro-F1 {report['macro_f1']:.4f}")
            print(f"confusion matrix: {png}", flush=True)
        metrics: dict[str, Any] = {
            "accuracy": report["accuracy"],
            "macro_f1": report["macro_f1"],
            "num_examples": report["num_examples"],
        }
        for cls, values in report["per_class"].items():
            metrics[f"precision/{cls}"] = values["precision"]
            metrics[f"recall/{cls}"] = values["recall"]
        metrics["class_names"] = report["class_names"]
        metrics["confusion_matrix"] = report["confusion_matrix"]
        if data.bad_rows:
            metrics["bad_rows_skipped"] = len(data.bad_rows)
        return metrics

    def predict(self, model: keras.Model, inputs: Sequence[str], out: TextIO) -> list[dict[str, Any]]:
        texts = [str(t) for t in inputs]
        if not texts:
            raise DataError("no input to classify: pass texts as arguments, --input-file FILE, or lines on stdin")
        probs = self.predict_proba(model, texts, self.config.eval.predict_batch_size)
        results = []
        for text, p in zip(texts, probs, strict=True):
            k = int(p.argmax())
            result = {"text": text, "label": self.class_names[k], "probability": float(p[k]),
                      "probabilities": {c: float(v) for c, v in zip(self.class_names, p, strict=True)}}
            results.append(result)
            shown = text if len(text) <= 70 else text[:67] + "..."
            print(f"{result['label']}\t{result['probability']:.4f}\t{shown}", file=out, flush=True)
        return results

    def export(self, model: keras.Model, export_dir: Path) -> Path:
        assert self.preprocessor is not None
        return export_classifier(model, self.preprocessor, self.class_names, export_dir)


__all__ = ["ENCODER_LAYERS", "SentimentConfig", "SentimentTask"]
