"""Config of the language identification task (every key: recipes/configs/language_identification.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqtasks.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig


@dataclass
class LanguageIdentificationDataConfig(DataConfig):
    """Labelled sentences: the user's TSV files (`text<TAB>language`) or `eng_fra` (English side "en", French "fr")."""

    dataset: str = "eng_fra"
    # Examples read at most (0 = all), taken in file order before the split.
    max_examples: int = 20000
    # Seeded fraction of the examples held out for validation.
    validation_fraction: float = 0.1
    # Characters seen fewer times than this in the training texts map to the unknown id.
    min_char_count: int = 2


@dataclass
class LanguageIdentificationModelConfig(ModelConfig):
    # Recurrent cell: lstm, gru or simple_rnn.
    cell_type: Literal["lstm", "gru", "simple_rnn"] = "gru"
    # Character embedding width.
    embedding_dim: int = 32
    # Units per direction and layer, and stacked layers.
    units: int = 64
    num_layers: int = 1
    # Dropout between recurrent layers.
    dropout: float = 0.0


@dataclass
class LanguageIdentificationTrainConfig(TrainConfig):
    epochs: int = 3  # the shared training keys, with fewer epochs by default


@dataclass
class LanguageIdentificationConfig(RunConfig):
    data: LanguageIdentificationDataConfig = field(default_factory=LanguageIdentificationDataConfig)
    model: LanguageIdentificationModelConfig = field(default_factory=LanguageIdentificationModelConfig)
    train: LanguageIdentificationTrainConfig = field(default_factory=LanguageIdentificationTrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)
