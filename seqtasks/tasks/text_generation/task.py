"""The text generation task: char-RNN language model on tinyshakespeare or the user's own text."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, TextIO

import keras
import numpy as np
import tensorflow as tf

from seqtasks.data import read_texts
from seqtasks.decoding.generation import Generator, StreamPrinter, score_ids
from seqtasks.decoding.samplers import get_sampler
from seqtasks.portable import PortableExport
from seqtasks.tasks import Task, register_task
from seqtasks.tasks.text_generation.config import TextGenerationConfig
from seqtasks.tasks.text_generation.data import (
    read_corpus,
    split_text,
    training_windows,
    validation_windows,
    windows_dataset,
)
from seqtasks.tasks.text_generation.export import TextGenerationServing, text_generation_portable
from seqtasks.tasks.text_generation.model import CharLanguageModel
from seqtasks.tasks.text_generation.preprocessor import CharVocabulary, TextGenerationPreprocessor


@register_task
class TextGenerationTask(Task):
    """Character-level language model and generator.

    Data: `data.path` (files/folders of UTF-8 text) or the named `data.dataset`; the last
    `data.validation_fraction` of the text is the validation split. The metric is nats per character (the
    Keras loss); `evaluate` reports nats and bits per character, scoring with the state carried through the text.

    Fine-tuning policy for characters missing from the source vocabulary (`data.new_chars`): `extend` (default)
    appends them to the vocabulary, with their embedding rows and output units initialised from the unknown
    id's; `unknown` maps them to the unknown id (which generation never emits).
    """

    name = "text_generation"
    config_class = TextGenerationConfig
    monitor = "val_loss"
    monitor_mode = "min"
    preprocessor_class = TextGenerationPreprocessor

    def __init__(self, config: TextGenerationConfig, run):
        super().__init__(config, run)
        self.preprocessor: TextGenerationPreprocessor | None = None
        self.train_ids: np.ndarray | None = None
        self.val_ids: np.ndarray | None = None

    @property
    def vocab(self) -> CharVocabulary | None:
        """The character vocabulary (the preprocessor's), or None before `prepare_data`/`load_preprocessor`."""
        return None if self.preprocessor is None else self.preprocessor.vocab

    # ------------------------------------------------------------------------------------------- data

    def prepare_data(self, source: Task | None = None) -> None:
        data = self.config.data
        train_text, val_text = split_text(read_corpus(data), data.validation_fraction)
        vocab = self.ready_preprocessor(train_text, source).vocab
        self.train_ids = vocab.encode(train_text)
        self.val_ids = vocab.encode(val_text)

    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        x, y = training_windows(self.train_ids, self.config.data.seq_len, self.config.train.seed, epoch)
        return windows_dataset(x, y, self.config.train.batch_size)

    def validation_dataset(self) -> tf.data.Dataset | None:
        windows = validation_windows(self.val_ids, self.config.data.seq_len)
        if windows is None:
            return None
        return windows_dataset(*windows, self.config.eval.batch_size)

    # ------------------------------------------------------------------------------------------ model

    def build_model(self) -> CharLanguageModel:
        m = self.config.model
        model = CharLanguageModel(
            vocab_size=self.vocab.size,
            embedding_dim=m.embedding_dim,
            cell_type=m.cell_type,
            units=m.units,
            num_layers=m.num_layers,
            dropout=m.dropout,
            recurrent_dropout=m.recurrent_dropout,
            seed=self.config.train.seed,
            name="char_language_model",
        )
        model(np.zeros((1, 2), np.int32))
        return model

    def loss(self) -> Any:
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def finetune_from(self, model: keras.Model, source: Task, source_model: keras.Model) -> None:
        """Copies every weight; with an extended vocabulary the new characters' embedding rows and output
        units (the preprocessor's `new_chars`, appended after the source's ids) start as copies of the unknown
        id's (which was never a training target, so they start unlikely)."""
        old = source_model.vocab_size
        unk = source.vocab.unknown_id
        for target, src in zip(model.weights, source_model.weights, strict=True):
            value = src.numpy()
            if tuple(target.shape) != value.shape:
                if target.path.endswith("embeddings"):
                    extra = np.repeat(value[unk : unk + 1], target.shape[0] - old, axis=0)
                    value = np.concatenate([value, extra], axis=0)
                elif value.ndim == 2:  # head kernel (units, vocab)
                    extra = np.repeat(value[:, unk : unk + 1], target.shape[1] - old, axis=1)
                    value = np.concatenate([value, extra], axis=1)
                else:  # head bias (vocab,)
                    value = np.concatenate([value, np.repeat(value[unk : unk + 1], target.shape[0] - old)])
            target.assign(value)

    # ------------------------------------------------------------------------------- after training

    def score_text(self, model: CharLanguageModel, text: str) -> dict[str, float]:
        ids = self.vocab.encode(text)
        total, n = score_ids(model, ids, self.config.eval.batch_size, self.config.eval.chunk_len)
        nats = total / max(n, 1)
        return {
            "nats_per_char": nats,
            "bits_per_char": nats / math.log(2.0),
            "perplexity": math.exp(nats) if nats < 700 else math.inf,  # exp overflows a float past ~709
            "chars": n,
            "unknown_chars": int(np.sum(ids[1:] == self.vocab.unknown_id)),
        }

    def evaluate(self, model: keras.Model, paths: Sequence[str] | None = None) -> dict[str, float]:
        if paths:
            text = "".join(t for _, t in read_texts(paths))
            return self.score_text(model, text)
        if self.val_ids is None or len(self.val_ids) < 2:
            return {}
        return self.score_text(model, self.vocab.decode(self.val_ids))

    def predict(self, model: keras.Model, inputs: Sequence[str], out: TextIO) -> list[Any]:
        p = self.config.predict
        sampler = get_sampler(p.sampler, p.temperature, p.top_k, p.top_p)
        generator = Generator(model, self.vocab, sampler)
        results = []
        for k, prompt in enumerate(inputs or [p.prompt]):
            prompt = prompt.replace("\\n", "\n")
            printer = StreamPrinter(out, p.num_samples)
            out.write(prompt if p.num_samples == 1 else f"--- prompt: {prompt!r}\n")
            seed = None if p.seed < 0 else p.seed + k
            texts = generator.generate(prompt, p.num_chars, p.num_samples, seed=seed, on_chars=printer)
            printer.close()
            results.append(texts)
        return results

    def serving_module(self, model: keras.Model) -> TextGenerationServing:
        return TextGenerationServing(model, self.vocab)

    def portable_export(self, model: keras.Model) -> PortableExport:
        return text_generation_portable(model, self.vocab)
