"""The `translation` task: sentence pairs -> sentencepiece -> attentional encoder-decoder -> beam search.

Run assets (`RUN/assets/`, see `TranslationPreprocessor`): `source.model`, `target.model` (sentencepiece;
identical for a joint model) and `tokenizer.json`. The held-out splits carved from the data are written to
`RUN/splits/{valid,test}.tsv` so they can be inspected or scored again with `seqtasks evaluate --data`.
Fine-tuning keeps the source run's tokenizers (words outside them are split into known pieces, down to
characters) and all of its weights.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from seqtasks.data.eng_fra import eng_fra_file
from seqtasks.data.tfds_translation import is_tfds_name, load_tfds_pairs
from seqtasks.diagnostics.attention import plot_attention
from seqtasks.errors import ConfigError, DataError
from seqtasks.losses.sequence import MaskedSequenceLoss
from seqtasks.metrics.sequence import MaskedTokenAccuracy
from seqtasks.tasks import Task, register_task
from seqtasks.tasks.translation import data as td
from seqtasks.tasks.translation.config import TranslationConfig
from seqtasks.tasks.translation.export import TranslationServing, translation_portable
from seqtasks.tasks.translation.model import TranslationModel
from seqtasks.tasks.translation.preprocessor import TranslationPreprocessor

if TYPE_CHECKING:
    from seqtasks.portable import PortableExport
    from seqtasks.runtime.run_dir import RunDir


def write_pairs(pairs: Sequence[td.Pair], path: Path) -> None:
    """Writes pairs as `source<TAB>target` lines."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text("".join(f"{p.source}\t{p.target}\n" for p in pairs), encoding="utf-8")
    tmp.replace(path)


@register_task
class TranslationTask(Task):
    """Sentence-pair translation on the Tatoeba English-French pairs, a tfds set, or the user's TSV files."""

    name = "translation"
    config_class = TranslationConfig
    monitor = "val_loss"
    monitor_mode = "min"
    preprocessor_class = TranslationPreprocessor

    def __init__(self, config: TranslationConfig, run: RunDir) -> None:
        super().__init__(config, run)
        self.preprocessor: TranslationPreprocessor | None = None
        self.splits: td.Splits | None = None
        self._train_ids: tuple[list[list[int]], list[list[int]]] | None = None
        self._serving: tuple[keras.Model, TranslationServing] | None = None

    # ------------------------------------------------------------------------------------------ data

    def read(self, paths: Sequence[str]) -> list[td.Pair]:
        """Reads TSV pair files with the configured columns, bad-row policy and punctuation spaces."""
        cfg = self.config.data
        pairs: list[td.Pair] = []
        for path in paths:
            pairs += td.read_pairs(
                path,
                on_error=cfg.on_error,
                punctuation_spaces=cfg.punctuation_spaces,
                source_column=cfg.source_column,
                target_column=cfg.target_column,
            )
        return pairs

    def _tfds_split(self, split: str) -> list[td.Pair]:
        cfg = self.config.data
        return [
            td.Pair(
                td.normalize_text(s, cfg.punctuation_spaces),
                td.normalize_text(t, cfg.punctuation_spaces),
                i + 1,
            )
            for i, (s, t) in enumerate(load_tfds_pairs(cfg.dataset, split, cfg))
            if s.strip() and t.strip()
        ]

    def load_splits(self) -> td.Splits:
        """Reads the configured data and returns its train / validation / test splits."""
        cfg = self.config.data
        if not cfg.path and is_tfds_name(cfg.dataset):
            return td.Splits(
                self._tfds_split("train"), self._tfds_split("validation"), self._tfds_split("test")
            )
        if cfg.path:
            pairs = self.read(cfg.path)
        elif cfg.dataset == "eng_fra":
            pairs = self.read([str(eng_fra_file(cfg))])
        else:
            from seqtasks.data import get_dataset

            get_dataset(cfg.dataset)  # one-line error naming the known datasets
            raise ConfigError(
                f"dataset {cfg.dataset!r} is not a translation dataset; use data.dataset=eng_fra, a tfds "
                "translation set such as ted_hrlr_translate/pt_to_en, or --data PAIRS.tsv"
            )
        valid = self.read(cfg.valid_path) if cfg.valid_path else None
        test = self.read(cfg.test_path) if cfg.test_path else None
        splits = td.split_pairs(
            pairs,
            valid_size=0.0 if valid is not None else cfg.valid_size,
            test_size=0.0 if test is not None else cfg.test_size,
            seed=cfg.split_seed,
            group_by=cfg.group_by,
        )
        return td.Splits(
            splits.train,
            valid if valid is not None else splits.valid,
            test if test is not None else splits.test,
        )

    def prepare_data(self, source: Task | None = None) -> None:
        cfg = self.config.data
        self.splits = self.load_splits()
        s = self.splits
        print(
            f"pairs: {len(s.train)} train, {len(s.valid)} validation, {len(s.test)} test",
            flush=True,
        )
        if not s.train:
            raise DataError(
                "no training pairs left after the split: give more pairs or lower data.valid_size/test_size"
            )
        self.ready_preprocessor(s.train, source)
        if source is not None and self.preprocessor is source.preprocessor:
            print(f"Fine-tuning: keeping the tokenizers of {source.run.root}", flush=True)
        if self.is_writer:
            for name, pairs in (("valid", s.valid), ("test", s.test)):
                if pairs:
                    write_pairs(pairs, self.run.root / "splits" / f"{name}.tsv")
        assert self.preprocessor is not None
        self._train_ids = self.preprocessor.encode_pairs(s.train)
        dropped = sum(
            1
            for a, b in zip(*self._train_ids, strict=True)
            if len(a) > cfg.max_source_length or len(b) + 1 > cfg.max_target_length
        )
        if dropped:
            print(
                f"{dropped} training pairs longer than data.max_source/target_length are left out",
                flush=True,
            )

    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        assert self.preprocessor is not None and self._train_ids is not None
        cfg = self.config
        return self.preprocessor.dataset_from_ids(
            *self._train_ids,
            batch_size=cfg.train.batch_size,
            shuffle=True,
            seed=(cfg.train.seed, epoch),
            max_source_length=cfg.data.max_source_length,
            max_target_length=cfg.data.max_target_length,
        )

    def validation_dataset(self) -> tf.data.Dataset | None:
        assert self.preprocessor is not None and self.splits is not None
        if not self.splits.valid:
            return None
        return self.preprocessor.dataset(self.splits.valid, batch_size=self.config.eval.batch_size)

    # ----------------------------------------------------------------------------------------- model

    def build_model(self) -> keras.Model:
        if self.preprocessor is None:
            raise RuntimeError(
                "prepare_data() or load_preprocessor() must run before build_model()"
            )
        m = self.config.model
        model = TranslationModel(
            self.preprocessor.source_vocab_size,
            self.preprocessor.target_vocab_size,
            cell_type=m.cell_type,
            embedding_dim=m.embedding_dim,
            encoder_units=m.encoder_units,
            encoder_layers=m.encoder_layers,
            decoder_units=m.decoder_units,
            decoder_layers=m.decoder_layers,
            attention=m.attention,
            attention_units=m.attention_units or None,
            input_feeding=m.input_feeding,
            dropout=m.dropout,
            tie_embeddings=m.tie_embeddings,
            pad_id=self.preprocessor.target_tokenizer.pad_id,
            bos_id=self.preprocessor.target_tokenizer.bos_id,
            eos_id=self.preprocessor.target_tokenizer.eos_id,
        )
        model.build()
        return model

    def loss(self) -> Any:
        return MaskedSequenceLoss(self.config.train.label_smoothing)

    def metrics(self) -> list[Any]:
        return [MaskedTokenAccuracy(name="token_accuracy")]

    # --------------------------------------------------------------------------------- inference

    def serving(self, model: keras.Model) -> TranslationServing:
        """The string-to-string translator of `model` (the object that `export` saves)."""
        if self._serving is None or self._serving[0] is not model:
            serving = TranslationServing(model, **self._export_settings())
            self._serving = (model, serving)
        return self._serving[1]

    def translate(
        self, model: keras.Model, sources: Sequence[str], greedy: bool = False
    ) -> list[str]:
        """Translates raw source strings in length-sorted batches; returns translations in input order."""
        serving = self.serving(model)
        fn = (
            serving.translate_greedy
            if greedy or self.config.eval.beam_size == 1
            else serving.translate
        )
        order = np.argsort([len(s) for s in sources], kind="stable")
        out: list[str] = [""] * len(sources)
        size = max(self.config.eval.batch_size, 1)
        for start in range(0, len(order), size):
            idx = order[start : start + size]
            result = fn(tf.constant([sources[i] for i in idx]))
            for i, text in zip(idx, result["translation"].numpy(), strict=True):
                out[i] = text.decode("utf-8")
        return out

    def attention_plot(self, model: keras.Model, source: str, path: Path) -> Path:
        """Writes the attention heat map of the greedy translation of `source` to `path`."""
        assert self.preprocessor is not None
        serving = self.serving(model)
        result = serving.translate_greedy(tf.constant([source]))
        ids = result["token_ids"].numpy()[0, : int(result["length"].numpy()[0])]
        src_ids = serving.source_ids(tf.constant([source]))
        target_in = np.array([[model.bos_id, *ids]], np.int32)
        weights = model.attention_weights(src_ids, target_in).numpy()[0]
        src_pieces = [
            self.preprocessor.source_tokenizer.id_to_piece(int(i)) for i in src_ids.numpy()[0] if i
        ]
        if not src_pieces:
            raise DataError(f"cannot plot attention for {source!r}: the sentence has no tokens")
        tgt_pieces = [self.preprocessor.target_tokenizer.id_to_piece(int(i)) for i in ids] + [
            "</s>"
        ]
        translation = result["translation"].numpy()[0].decode("utf-8")
        return plot_attention(
            weights[:, : len(src_pieces)], src_pieces, tgt_pieces, path, f"{source}\n{translation}"
        )

    def evaluate(self, model: keras.Model, paths: Sequence[str] | None = None) -> dict[str, Any]:
        e = self.config.eval
        if paths:
            pairs = self.read(paths)
            name = Path(paths[0]).stem if len(paths) == 1 else "files"
        else:
            if self.splits is None:
                raise RuntimeError("prepare_data() must run before evaluating a split")
            pairs = self.splits.test if e.split == "test" else self.splits.valid
            name = e.split
            if not pairs:
                raise DataError(
                    f"the {name} split is empty: set data.{'test' if name == 'test' else 'valid'}_size > 0"
                )
        if e.max_sentences > 0:
            pairs = pairs[: e.max_sentences]
        sources = [p.source for p in pairs]
        references = [p.target for p in pairs]
        metrics: dict[str, Any] = {"num_sentences": len(pairs)}
        started = time.monotonic()
        hypotheses = self.translate(model, sources)
        seconds = time.monotonic() - started
        label = "greedy" if e.beam_size == 1 else f"beam {e.beam_size}"
        metrics.update(self._scores(sources, hypotheses, references, ""))
        metrics["sentences_per_second"] = len(pairs) / max(seconds, 1e-9)
        print(
            f"{name} ({len(pairs)} pairs), {label}: BLEU {metrics['bleu']:.2f}, chrF {metrics['chrf']:.2f}, "
            f"multi-reference BLEU {metrics['bleu_multi_ref']:.2f}",
            flush=True,
        )
        if e.score_greedy and e.beam_size > 1:
            greedy = self.translate(model, sources, greedy=True)
            metrics.update(self._scores(sources, greedy, references, "_greedy"))
            print(
                f"{name}, greedy: BLEU {metrics['bleu_greedy']:.2f}, chrF {metrics['chrf_greedy']:.2f}",
                flush=True,
            )
        if self.is_writer:
            self.run.root.mkdir(parents=True, exist_ok=True)
            out = self.run.root / f"translations_{name}.tsv"
            out.write_text(
                "".join(
                    f"{s}\t{r}\t{h}\n"
                    for s, r, h in zip(sources, references, hypotheses, strict=True)
                ),
                encoding="utf-8",
            )
            png = self.attention_plot(model, sources[0], self.run.root / f"attention_{name}.png")
            print(f"translations: {out}\nattention heat map: {png}", flush=True)
        return metrics

    @staticmethod
    def _scores(
        sources: list[str], hypotheses: list[str], references: list[str], suffix: str
    ) -> dict[str, float]:
        bleu = sacrebleu.corpus_bleu(hypotheses, [references])
        chrf = sacrebleu.corpus_chrf(hypotheses, [references])
        # Several pairs share a source: score each distinct source once against all of its references.
        grouped: dict[str, tuple[str, list[str]]] = {}
        for s, h, r in zip(sources, hypotheses, references, strict=True):
            grouped.setdefault(td.grouping_key(s), (h, []))[1].append(r)
        hyps = [h for h, _ in grouped.values()]
        width = max(len(refs) for _, refs in grouped.values())
        streams = [
            [refs[i] if i < len(refs) else None for _, refs in grouped.values()]
            for i in range(width)
        ]
        multi = sacrebleu.corpus_bleu(hyps, streams)
        return {
            f"bleu{suffix}": bleu.score,
            f"chrf{suffix}": chrf.score,
            f"bleu_multi_ref{suffix}": multi.score,
        }

    def predict(self, model: keras.Model, inputs: Sequence[str], out: TextIO) -> list[str]:
        sources = [str(t) for t in inputs]
        if not sources:
            raise DataError(
                "no input to translate: pass sentences as arguments, --input-file FILE, or lines on stdin"
            )
        size = max(self.config.eval.batch_size, 1)
        results = []
        for start in range(0, len(sources), size):
            for translation in self.translate(model, sources[start : start + size]):
                print(translation, file=out, flush=True)
                results.append(translation)
        if self.config.eval.attention_plot:
            png = self.attention_plot(
                model, sources[0], Path(self.config.eval.attention_plot).expanduser()
            )
            print(f"attention heat map: {png}", file=out, flush=True)
        return results

    def serving_module(self, model: keras.Model) -> TranslationServing:
        return self.serving(model)

    def _export_settings(self) -> dict[str, Any]:
        """What the SavedModel and the LiteRT/ONNX exports share: tokenizers, search and length settings."""
        assert self.preprocessor is not None
        e = self.config.eval
        return {
            "source_model_proto": self.preprocessor.source_tokenizer.model_proto,
            "target_model_proto": self.preprocessor.target_tokenizer.model_proto,
            "beam_size": e.beam_size,
            "length_penalty": e.length_penalty,
            "max_length_a": e.max_length_a,
            "max_length_b": e.max_length_b,
            "max_source_length": self.config.data.max_source_length,
            "punctuation_spaces": self.preprocessor.punctuation_spaces,
        }

    def portable_export(self, model: keras.Model) -> PortableExport:
        batch_size = max(self.config.eval.batch_size, 1)
        return translation_portable(model, **self._export_settings(), batch_size=batch_size)


__all__ = ["TranslationTask"]
