"""The `sentiment` task: text classification with a bidirectional recurrent encoder over sentencepiece tokens.

Run assets (`RUN/assets/`, see `SentimentPreprocessor`): `spm.model` (the sentencepiece model, trained on the
training split or given by the user) and `classes.json` (the class names in class-id order). Fine-tuning keeps
the source run's `spm.model`, reads its class set from the new data (a different set gets a new classifier head;
the embedding and the encoder are always kept).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import keras
import numpy as np
import tensorflow as tf

from seqtasks.data.bucketing import quantile_boundaries
from seqtasks.errors import ConfigError, DataError
from seqtasks.metrics.classification import (
    classification_report,
    format_report,
    plot_confusion_matrix,
)
from seqtasks.portable import PortableExport
from seqtasks.tasks import Task, register_task
from seqtasks.tasks.sentiment import data as sd
from seqtasks.tasks.sentiment.config import SentimentConfig
from seqtasks.tasks.sentiment.export import SentimentServing, sentiment_portable
from seqtasks.tasks.sentiment.model import build_classifier, transfer_encoder
from seqtasks.tasks.sentiment.preprocessor import SentimentPreprocessor, TrainingTexts

if TYPE_CHECKING:
    from seqtasks.runtime.run_dir import RunDir


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

    preprocessor_class = SentimentPreprocessor

    def __init__(self, config: SentimentConfig, run: RunDir) -> None:
        super().__init__(config, run)
        self.preprocessor: SentimentPreprocessor | None = None
        self.train_data: sd.LabelledTexts | None = None
        self.val_data: sd.LabelledTexts | None = None
        self._train_ids: tf.RaggedTensor | None = None
        self._train_y: np.ndarray | None = None
        self._train_w: np.ndarray | None = None
        self._val_ids: tf.RaggedTensor | None = None
        self._val_y: np.ndarray | None = None
        self._boundaries: list[int] = []
        self._logits_fn = None

    @property
    def class_names(self) -> list[str]:
        """The class names in class-id order (empty before the preprocessor is ready)."""
        return self.preprocessor.class_names if self.preprocessor is not None else []

    @property
    def vocab_size(self) -> int:
        """The sentencepiece vocabulary size (0 before the preprocessor is ready)."""
        return self.preprocessor.vocab_size if self.preprocessor is not None else 0

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
        from seqtasks.data.imdb import load_imdb

        found = load_imdb(split, cfg)
        data = sd.imdb_texts(found, label_map=_label_map(cfg.label_map), on_bad_row=cfg.on_bad_row)
        if classes is not None:
            sd.encode_labels(data.labels, classes, data.source)  # one line naming labels outside the classes
        return data

    def has_test_split(self) -> bool:
        """Whether the data brings a test split: the named dataset's, or `data.test_path`."""
        cfg = self.config.data
        return bool(cfg.test_path) or not cfg.path

    def _write_bad_rows(self, data: sd.LabelledTexts, name: str) -> None:
        if data.bad_rows and self.is_writer:
            self.run.root.mkdir(parents=True, exist_ok=True)
            path = self.run.root / name
            path.write_text("".join(f"{b}\n" for b in data.bad_rows), encoding="utf-8")
            print(f"{len(data.bad_rows)} bad rows skipped in {data.source}; listed in {path}", flush=True)

    def _read_training_data(self, classes: Sequence[str] | None) -> sd.LabelledTexts:
        data = self._load_split("train", classes)
        self._write_bad_rows(data, "bad_rows_train.txt")
        print(data.summary(), flush=True)
        self.train_data, self.val_data = sd.split_validation(
            data, self.config.data.validation_split, self.config.train.seed
        )
        return data

    def prepare_data(self, source: Task | None = None) -> None:
        data = self._read_training_data([str(c) for c in self.config.data.classes] or None)
        assert self.train_data is not None
        pre = self.ready_preprocessor(TrainingTexts(data, self.train_data), source)
        if not set(data.labels) <= set(pre.class_names):
            # A trained run's classes and data with other labels: those are bad rows, read again under the
            # run's classes (as `evaluate` reads files).
            self._read_training_data(pre.class_names)
        self._encode_training_data()

    def _encode_training_data(self) -> None:
        assert self.preprocessor is not None and self.train_data is not None and self.val_data is not None
        self._train_ids = self.preprocessor.encode(self.train_data.texts)
        self._train_y = sd.encode_labels(self.train_data.labels, self.class_names, self.train_data.source)
        self._val_ids = self.preprocessor.encode(self.val_data.texts)
        self._val_y = sd.encode_labels(self.val_data.labels, self.class_names, self.val_data.source)
        self._boundaries = quantile_boundaries(self._train_ids.row_lengths().numpy(), self.config.data.num_buckets)
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
        if self.preprocessor is None:
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
            return self._score(model, data, name)
        return self._evaluate_split(model, self.config.eval.split)

    def final_evaluation(self, model: keras.Model) -> dict[str, dict[str, Any]]:
        """The validation split, and the test split when the data has one (the named dataset's, or
        `data.test_path`)."""
        evaluation = {"validation": self._evaluate_split(model, "validation")}
        if self.has_test_split():
            evaluation["test"] = self._evaluate_split(model, "test")
        return evaluation

    def _evaluate_split(self, model: keras.Model, split: str) -> dict[str, Any]:
        if split == "test":
            return self._score(model, self._load_split("test", self.class_names), "test")
        if self.val_data is None:
            raise RuntimeError("prepare_data() must run before evaluating the validation split")
        return self._score(model, self.val_data, "validation")

    def _score(self, model: keras.Model, data: sd.LabelledTexts, name: str) -> dict[str, Any]:
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

    def serving_module(self, model: keras.Model) -> SentimentServing:
        assert self.preprocessor is not None
        return SentimentServing(model, self.preprocessor.tokenizer, self.class_names)

    def portable_export(self, model: keras.Model) -> PortableExport:
        assert self.preprocessor is not None
        tokenizer = self.preprocessor.tokenizer
        return sentiment_portable(model, self.preprocessor.spm_model, self.class_names,
                                  tokenizer.max_length, tokenizer.truncate, tokenizer.clean)


__all__ = ["SentimentTask"]
