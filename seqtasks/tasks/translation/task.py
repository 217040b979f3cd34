"""The `translation` task: sentence pairs -> sentencepiece -> attentional encoder-decoder -> beam search.

Run assets (`RUN/assets/`): `source.model`, `target.model` (sentencepiece; identical for a joint model) and
`tokenizer.json`. The held-out splits carved from the data are written to `RUN/splits/{valid,test}.tsv` so they
can be inspected or scored again with `seqtasks evaluate --data`. Fine-tuning keeps the source run's tokenizers
(words outside them are split into known pieces, down to characters) and all of its weights.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TextIO

import keras
import numpy as np
import sacrebleu
import tensorflow as tf

from seqtasks.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig
from seqtasks.errors import CheckpointError, ConfigError, DataError
from seqtasks.losses.sequence import MaskedSequenceLoss
from seqtasks.metrics.sequence import MaskedTokenAccuracy
from seqtasks.tasks import Task, register_task
from seqtasks.tasks.translation import data as td
from seqtasks.tasks.translation.datasets import eng_fra_file, is_tfds_name, load_tfds_pairs
from seqtasks.tasks.translation.model import TranslationModel
from seqtasks.tasks.translation.plots import plot_attention
from seqtasks.tasks.translation.preprocessor import (
    META_FILE,
    SOURCE_MODEL,
    TARGET_MODEL,
    TranslationPreprocessor,
)
from seqtasks.tasks.translation.serving import TranslationServing, export_translator


@dataclass
class TranslationData(DataConfig):
    """Sentence pairs and tokenization (`dataset`, `path`, `data_dir`, `tfds_data_dir` inherited)."""

    # Named dataset used when `path` is empty: "eng_fra" (Tatoeba English->French pairs; local copy via
    # --data-dir, else downloaded), or a tensorflow-datasets translation set "name/config" such as
    # "ted_hrlr_translate/pt_to_en" (its own validation and test splits are used).
    dataset: str = "eng_fra"
    # 0-based columns of the source and target sentences in TSV files; other columns are ignored.
    source_column: int = 0
    target_column: int = 1
    # Malformed rows (too few columns, empty sentence, not UTF-8): fail (stop, naming file and line) or skip
    # (drop them, with a warning listing their line numbers).
    on_error: Literal["fail", "skip"] = "fail"
    # Spaces before French ! ? : ; » and after «: keep (as written; translations are scored against the text
    # as written), narrow_nbsp (U+202F everywhere) or space (a plain space everywhere).
    punctuation_spaces: Literal["keep", "narrow_nbsp", "space"] = "keep"
    # Held-out shares carved from the pairs (fractions); pairs sharing a source sentence (and, with
    # group_by=source_and_target, a target) always go to the same split.
    valid_size: float = 0.05
    test_size: float = 0.05
    group_by: Literal["source", "source_and_target"] = "source_and_target"
    # Seed of the split (kept apart from train.seed so that the test set does not move between runs).
    split_seed: int = 0
    # Your own validation / test files; when given, nothing is carved out for that split.
    valid_path: list[str] = field(default_factory=list)
    test_path: list[str] = field(default_factory=list)
    # Sentencepiece: one joint model for both sides, or one per side.
    tokenizer: Literal["joint", "separate"] = "joint"
    # Vocabulary sizes (joint: source_vocab_size is used) and algorithm.
    source_vocab_size: int = 4000
    target_vocab_size: int = 4000
    tokenizer_type: Literal["unigram", "bpe"] = "unigram"
    # Longest pairs used for training, in tokens (longer pairs are dropped and counted); at inference longer
    # sources are truncated to max_source_length.
    max_source_length: int = 64
    max_target_length: int = 64


@dataclass
class TranslationModelConfig(ModelConfig):
    """Bidirectional recurrent encoder, attentional recurrent decoder (see seqtasks.tasks.translation.model)."""

    # Recurrent cell of encoder and decoder: gru or lstm.
    cell_type: Literal["gru", "lstm"] = "gru"
    # Width of the source and target embeddings.
    embedding_dim: int = 256
    # Units per direction and number of bidirectional encoder layers.
    encoder_units: int = 256
    encoder_layers: int = 1
    # Units and number of decoder layers (a Dense bridge maps encoder states when 2 * encoder_units differs).
    decoder_units: int = 512
    decoder_layers: int = 1
    # Attention: luong (multiplicative, general), luong_dot (needs decoder_units == 2 * encoder_units) or
    # bahdanau (additive).
    attention: Literal["luong", "luong_dot", "bahdanau"] = "luong"
    # Hidden size of the additive score (bahdanau only); 0 = decoder_units.
    attention_units: int = 0
    # Feed the previous attentional state to the decoder (Luong et al.); slower to train.
    input_feeding: bool = False
    # Dropout on embeddings, between recurrent layers and before the output layer.
    dropout: float = 0.2
    # Reuse the target embedding as the output layer (needs embedding_dim == decoder_units).
    tie_embeddings: bool = False


@dataclass
class TranslationTrain(TrainConfig):
    """Shared training settings with translation defaults."""

    batch_size: int = 64
    epochs: int = 12
    learning_rate: float = 2e-3
    # Exponential decay needs no total step count, which a time budget does not give.
    lr_schedule: Literal["constant", "cosine", "exponential"] = "exponential"
    warmup_steps: int = 200
    decay_steps: int = 2000
    decay_rate: float = 0.5
    clip_global_norm: float = 1.0
    checkpoint_every_steps: int = 500
    early_stopping_patience: int = 3
    # Budget for the whole run (the default config's target: 30 minutes on a 2-core CPU); 0 = none.
    max_minutes: float = 30.0
    # Label smoothing of the token cross-entropy (0 = off).
    label_smoothing: float = 0.1


@dataclass
class TranslationEval(EvalConfig):
    """Decoding settings (used by evaluate, predict and export) and what evaluate scores."""

    # Sentences per translation batch.
    batch_size: int = 64
    # What `evaluate` scores when no file is given: the test or validation split.
    split: Literal["test", "validation"] = "test"
    # Beam size (1 = greedy search) and GNMT length penalty alpha (0 = none, larger favours longer outputs).
    beam_size: int = 5
    length_penalty: float = 0.6
    # Output length limit per sentence: ceil(max_length_a * source_tokens + max_length_b).
    max_length_a: float = 1.5
    max_length_b: int = 10
    # Also score greedy decoding in `evaluate` (reported as *_greedy).
    score_greedy: bool = True
    # Score at most this many pairs (0 = all).
    max_sentences: int = 0
    # `predict`: write an attention heat-map PNG of the first input to this path ("" = none). `evaluate`
    # always writes one for the first sentence it scores (RUN/attention_<split>.png).
    attention_plot: str = ""


@dataclass
class TranslationConfig(RunConfig):
    data: TranslationData = field(default_factory=TranslationData)
    model: TranslationModelConfig = field(default_factory=TranslationModelConfig)
    train: TranslationTrain = field(default_factory=TranslationTrain)
    eval: TranslationEval = field(default_factory=TranslationEval)


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

    def __init__(self, config: TranslationConfig, run) -> None:
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
        have_assets = (self.run.assets / META_FILE).is_file()
        if have_assets:
            self.load_preprocessor()
        elif self.is_writer:
            self.run.assets.mkdir(parents=True, exist_ok=True)
            if source is not None:
                for name in (SOURCE_MODEL, TARGET_MODEL, META_FILE):
                    shutil.copyfile(Path(source.run.assets) / name, self.run.assets / name)
                print(f"Fine-tuning: keeping the tokenizers of {source.run.root}", flush=True)
                self.load_preprocessor()
            else:
                print(
                    f"Training {cfg.tokenizer} sentencepiece model(s) ({cfg.tokenizer_type}) ...",
                    flush=True,
                )
                self.preprocessor = TranslationPreprocessor.fit(
                    s.train,
                    self.run.assets,
                    mode=cfg.tokenizer,
                    source_vocab_size=cfg.source_vocab_size,
                    target_vocab_size=cfg.target_vocab_size,
                    model_type=cfg.tokenizer_type,
                    punctuation_spaces=cfg.punctuation_spaces,
                )
        else:
            raise ConfigError(
                "multi-worker translation training needs the tokenizers first: copy RUN/assets of a single-machine "
                "run on the same data (e.g. trained with train.epochs=1 train.steps_per_epoch=1) into the run"
            )
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

    def load_preprocessor(self) -> None:
        if not (self.run.assets / META_FILE).is_file():
            raise CheckpointError(
                f"run {self.run.root} has no translation tokenizers ({self.run.assets / META_FILE}); train it first"
            )
        self.preprocessor = TranslationPreprocessor.load(self.run.assets)

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
            assert self.preprocessor is not None
            e = self.config.eval
            serving = TranslationServing(
                model,
                self.preprocessor.source_tokenizer.model_proto,
                self.preprocessor.target_tokenizer.model_proto,
                beam_size=e.beam_size,
                length_penalty=e.length_penalty,
                max_length_a=e.max_length_a,
                max_length_b=e.max_length_b,
                max_source_length=self.config.data.max_source_length,
                punctuation_spaces=self.preprocessor.punctuation_spaces,
            )
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

    def export(self, model: keras.Model, export_dir: Path) -> Path:
        return export_translator(self.serving(model), export_dir)


__all__ = ["TranslationConfig", "TranslationTask"]
