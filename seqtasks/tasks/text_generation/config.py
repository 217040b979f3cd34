"""Config schema of the text generation (char-RNN) task; `recipes/configs/text_generation.yaml` mirrors it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqtasks.config import (
    DataConfig,
    EvalConfig,
    ExportConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)


@dataclass
class TextGenerationDataConfig(DataConfig):
    # Named dataset used when `path` is empty.
    dataset: str = "tiny_shakespeare"
    # Fraction of the corpus, taken from its end, held out for validation (0 = none).
    validation_fraction: float = 0.1
    # Characters per training window: the truncated-BPTT length.
    seq_len: int = 128
    # Characters seen fewer times than this in the training text map to the unknown id.
    min_char_count: int = 1
    # Fine-tuning: characters of the new text that the source vocabulary lacks are either added to the
    # vocabulary (embedding row and output unit initialised from the unknown id's) or mapped to unknown.
    new_chars: Literal["extend", "unknown"] = "extend"
    # Inside folders, read only files with these suffixes (empty = every file).
    suffixes: list[str] = field(default_factory=lambda: [".txt"])


@dataclass
class TextGenerationModelConfig(ModelConfig):
    # Recurrent cell of every layer.
    cell_type: Literal["lstm", "gru", "simple_rnn"] = "gru"
    # Units per recurrent layer.
    units: int = 512
    # Number of stacked recurrent layers.
    num_layers: int = 1
    # Width of the character embedding.
    embedding_dim: int = 64
    # Dropout between recurrent layers and before the output layer.
    dropout: float = 0.0
    # Dropout on the recurrent state inside each layer (slower: disables the cuDNN path on GPU).
    recurrent_dropout: float = 0.0


@dataclass
class TextGenerationTrainConfig(TrainConfig):
    """Defaults sized for the 15-minute CPU budget on tinyshakespeare (see recipes/configs/text_generation.yaml)."""

    # Global batch size (split across replicas).
    batch_size: int = 64
    # Upper bound on epochs (one epoch = every window of the training text once).
    epochs: int = 30
    # Wall-clock budget for the whole run, resumes included (the quality target is "within 15 minutes").
    max_minutes: float = 15.0
    # Peak learning rate.
    learning_rate: float = 3e-3
    # Cosine with decay_steps 0 and a time budget anneals over whichever ends first, epochs or max_minutes.
    lr_schedule: Literal["constant", "cosine", "exponential"] = "cosine"
    # Cosine floor as a fraction of the peak rate.
    min_lr_ratio: float = 0.05
    # auto: bfloat16 on a CPU with native bfloat16, float16 on a GPU, float32 otherwise.
    mixed_precision: Literal["off", "auto", "mixed_float16", "mixed_bfloat16"] = "auto"
    # Checkpoint every N optimizer steps (plus every epoch end).
    checkpoint_every_steps: int = 100


@dataclass
class TextGenerationEvalConfig(EvalConfig):
    # Parallel streams when scoring a text with the recurrent state carried through it.
    batch_size: int = 64
    # Characters per chunk of that scoring loop.
    chunk_len: int = 256


@dataclass
class TextGenerationPredictConfig:
    # Prompt used when `predict` gets no input.
    prompt: str = "\n"
    # Characters to generate after the prompt.
    num_chars: int = 400
    # greedy (argmax), temperature (sample from softmax(logits / T)), top_k or top_p (nucleus).
    sampler: Literal["greedy", "temperature", "top_k", "top_p"] = "temperature"
    # Softmax temperature of the sampling samplers (lower = more conservative).
    temperature: float = 0.8
    # top_k sampler: sample among the k most likely characters.
    top_k: int = 10
    # top_p sampler: sample among the most likely characters whose probabilities add up to p.
    top_p: float = 0.9
    # Samples generated side by side in one batch.
    num_samples: int = 1
    # Random seed of sampling (-1 = different every run).
    seed: int = -1


@dataclass
class TextGenerationConfig(RunConfig):
    data: TextGenerationDataConfig = field(default_factory=TextGenerationDataConfig)
    model: TextGenerationModelConfig = field(default_factory=TextGenerationModelConfig)
    train: TextGenerationTrainConfig = field(default_factory=TextGenerationTrainConfig)
    eval: TextGenerationEvalConfig = field(default_factory=TextGenerationEvalConfig)
    export: ExportConfig = field(default_factory=ExportConfig)
    predict: TextGenerationPredictConfig = field(default_factory=TextGenerationPredictConfig)
