"""Config schema of the `translation` task (sections data / model / train / eval / export).

`recipes/configs/translation.yaml` lists every key with its default and comment (a test checks they agree).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqtasks.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig


@dataclass
class TranslationDataConfig(DataConfig):
    """Sentence pairs and tokenization (`dataset`, `path`, `data_dir`, `tfds_data_dir` inherited)."""

    # Named dataset used when `path` is empty: "eng_fra" (Tatoeba English->French pairs; local copy via
    # --data-dir, else downloaded), or a tensorflow-datasets translation set "name/config" such as
    # "ted_hrlr_translate/pt_to_en" (its own validation and test splits are used).
    dataset: str = "eng_fra"
    # 0-based column of the source sentences in TSV files; other columns are ignored.
    source_column: int = 0
    # 0-based column of the target sentences in TSV files.
    target_column: int = 1
    # Malformed rows (too few columns, empty sentence, not UTF-8): fail (stop, naming file and line) or skip
    # (drop them, with a warning listing their line numbers).
    on_error: Literal["fail", "skip"] = "fail"
    # Spaces before French ! ? : ; » and after «: keep (as written; translations are scored against the text
    # as written), narrow_nbsp (U+202F everywhere) or space (a plain space everywhere).
    punctuation_spaces: Literal["keep", "narrow_nbsp", "space"] = "keep"
    # Validation share carved from the pairs (a fraction); pairs sharing a source sentence (and, with
    # group_by=source_and_target, a target) always go to the same split.
    valid_size: float = 0.05
    # Test share carved from the pairs (a fraction), grouped the same way.
    test_size: float = 0.05
    # What keeps pairs together across splits: a shared source sentence, or a shared source or target.
    group_by: Literal["source", "source_and_target"] = "source_and_target"
    # Seed of the split (kept apart from train.seed so that the test set does not move between runs).
    split_seed: int = 0
    # Your own validation files; when given, nothing is carved out for validation.
    valid_path: list[str] = field(default_factory=list)
    # Your own test files; when given, nothing is carved out for test.
    test_path: list[str] = field(default_factory=list)
    # Sentencepiece: one joint model for both sides, or one per side.
    tokenizer: Literal["joint", "separate"] = "joint"
    # Vocabulary size of the source (or joint) sentencepiece model.
    source_vocab_size: int = 4000
    # Vocabulary size of the target sentencepiece model (separate tokenizers only).
    target_vocab_size: int = 4000
    # Sentencepiece algorithm: unigram or bpe.
    tokenizer_type: Literal["unigram", "bpe"] = "unigram"
    # Longest source sentence used for training, in tokens (longer pairs are dropped and counted); at
    # inference longer sources are truncated to it.
    max_source_length: int = 64
    # Longest target sentence used for training, in tokens (its end token included).
    max_target_length: int = 64


@dataclass
class TranslationModelConfig(ModelConfig):
    """Bidirectional recurrent encoder, attentional recurrent decoder (see seqtasks.tasks.translation.model)."""

    # Recurrent cell of encoder and decoder: gru or lstm.
    cell_type: Literal["gru", "lstm"] = "gru"
    # Width of the source and target embeddings.
    embedding_dim: int = 256
    # Units per direction of the bidirectional encoder.
    encoder_units: int = 256
    # Number of bidirectional encoder layers.
    encoder_layers: int = 1
    # Units of the decoder (a Dense bridge maps encoder states when 2 * encoder_units differs).
    decoder_units: int = 512
    # Number of decoder layers.
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
class TranslationTrainConfig(TrainConfig):
    """Shared training settings with translation defaults."""

    # Global batch size.
    batch_size: int = 64
    # Upper bound on epochs (one epoch = every training pair once).
    epochs: int = 12
    # Peak learning rate.
    learning_rate: float = 2e-3
    # Exponential decay needs no total step count, which a time budget does not give.
    lr_schedule: Literal["constant", "cosine", "exponential"] = "exponential"
    # Linear warm-up steps.
    warmup_steps: int = 200
    # Steps per decay of the exponential schedule.
    decay_steps: int = 2000
    # Factor per decay_steps.
    decay_rate: float = 0.5
    # Global-norm gradient clipping.
    clip_global_norm: float = 1.0
    # Checkpoint every N optimizer steps (plus every epoch end).
    checkpoint_every_steps: int = 500
    # Epochs without a better val_loss before stopping.
    early_stopping_patience: int = 3
    # Budget for the whole run (the default config's target: 30 minutes on a 2-core CPU); 0 = none.
    max_minutes: float = 30.0
    # Label smoothing of the token cross-entropy (0 = off).
    label_smoothing: float = 0.1


@dataclass
class TranslationEvalConfig(EvalConfig):
    """Decoding settings (used by evaluate, predict and export) and what evaluate scores."""

    # Sentences per translation batch.
    batch_size: int = 64
    # What `evaluate` scores when no file is given: the test or validation split.
    split: Literal["test", "validation"] = "test"
    # Beam size (1 = greedy search).
    beam_size: int = 5
    # GNMT length penalty alpha (0 = none, larger favours longer outputs).
    length_penalty: float = 0.6
    # Output length limit per sentence: ceil(max_length_a * source_tokens + max_length_b), the a ...
    max_length_a: float = 1.5
    # ... and the b.
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
    """The whole translation run config."""

    # Sentence pairs, splits and tokenizers.
    data: TranslationDataConfig = field(default_factory=TranslationDataConfig)
    # The encoder-decoder.
    model: TranslationModelConfig = field(default_factory=TranslationModelConfig)
    # Training (shared keys with translation defaults).
    train: TranslationTrainConfig = field(default_factory=TranslationTrainConfig)
    # Decoding and scoring.
    eval: TranslationEvalConfig = field(default_factory=TranslationEvalConfig)


__all__ = [
    "TranslationConfig",
    "TranslationDataConfig",
    "TranslationEvalConfig",
    "TranslationModelConfig",
    "TranslationTrainConfig",
]
