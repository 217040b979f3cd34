"""The language identification task: `seqtasks train --task language_identification --data-dir ../shared/data`
(English/French from Tatoeba) or `--data my_sentences.tsv` (text<TAB>language rows)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, TextIO

import keras
import numpy as np
import tensorflow as tf

from seqtasks.data import load_dataset
from seqtasks.errors import DataError
from seqtasks.metrics.classification import classification_report
from seqtasks.tasks import Task, register_task
from seqtasks.tasks.language_identification import data as ld
from seqtasks.tasks.language_identification.config import LanguageIdentificationConfig
from seqtasks.tasks.language_identification.export import LanguageIdentificationServing
from seqtasks.tasks.language_identification.model import build_language_identification_model
from seqtasks.tasks.language_identification.preprocessor import LanguageIdentificationPreprocessor


@register_task
class LanguageIdentificationTask(Task):
    """Sentence -> language, scored by accuracy and macro-F1 on the validation split or on labelled files."""

    name = "language_identification"
    config_class = LanguageIdentificationConfig
    preprocessor_class = LanguageIdentificationPreprocessor
    monitor, monitor_mode = "val_accuracy", "max"

    def read(self) -> list[tuple[str, str]]:
        d = self.config.data
        if d.path:
            return ld.read_labelled(d.path)[: d.max_examples or None]
        if d.dataset != "eng_fra":
            raise DataError(f"data.dataset {d.dataset!r}: this task reads eng_fra or your files (--data FILE.tsv)")
        return ld.read_pairs_as_labelled(load_dataset("eng_fra", d), d.max_examples)

    def prepare_data(self, source: Task | None = None) -> None:
        train, self.val_rows = ld.split(self.read(), self.config.data.validation_fraction, self.config.train.seed)
        self.ready_preprocessor(train, source)
        self.train_ids, self.train_labels = self.encode(train)

    def encode(self, rows: Sequence[tuple[str, str]]) -> tuple[list[np.ndarray], np.ndarray]:
        unknown = sorted({label for _, label in rows} - set(self.preprocessor.labels))
        if unknown:
            raise DataError(f"languages {unknown} are not among the trained ones {self.preprocessor.labels}")
        labels = np.array([self.preprocessor.labels.index(label) for _, label in rows], np.int32)
        return [self.preprocessor.encode(text) for text, _ in rows], labels

    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        seed = (self.config.train.seed, epoch)
        return ld.batches(self.train_ids, self.train_labels, self.config.train.batch_size, seed)

    def validation_dataset(self) -> tf.data.Dataset | None:
        return ld.batches(*self.encode(self.val_rows), self.config.eval.batch_size) if self.val_rows else None

    def build_model(self) -> keras.Model:
        p = self.preprocessor  # ids: 0 padding, 1 unknown, then the characters
        return build_language_identification_model(len(p.chars) + 2, len(p.labels), self.config.model,
                                                   self.config.train.seed)

    def loss(self) -> Any:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def metrics(self) -> list[Any]:  # `val_accuracy` is the monitored metric
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def probabilities(self, model: keras.Model, texts: Sequence[str]) -> np.ndarray:
        ids = [self.preprocessor.encode(t) for t in texts]
        out = np.zeros((len(ids), len(self.preprocessor.labels)), np.float32)
        # Length-ordered batches that carry each row's index in place of a label, to put results back in order.
        for x, index in ld.batches(ids, np.arange(len(ids)), self.config.eval.batch_size):
            out[index.numpy()] = tf.nn.softmax(model(x, training=False)).numpy()
        return out

    def evaluate(self, model: keras.Model, paths: Sequence[str] | None = None) -> dict[str, Any]:
        rows = ld.read_labelled(paths) if paths else self.val_rows
        if not rows:
            return {}
        _, labels = self.encode(rows)
        predicted = self.probabilities(model, [t for t, _ in rows]).argmax(-1)
        report = classification_report(labels, predicted, self.preprocessor.labels)
        return {key: report[key] for key in ("accuracy", "macro_f1", "num_examples")}

    def predict(self, model: keras.Model, inputs: Sequence[str], out: TextIO) -> list[dict[str, Any]]:
        results = []
        for text, p in zip(inputs, self.probabilities(model, inputs), strict=True):
            label = self.preprocessor.labels[int(p.argmax())]
            print(f"{label}\t{p.max():.3f}\t{text}", file=out, flush=True)
            results.append({"text": text, "language": label, "probability": float(p.max())})
        return results

    def serving_module(self, model: keras.Model) -> LanguageIdentificationServing:
        return LanguageIdentificationServing(model, self.preprocessor)
