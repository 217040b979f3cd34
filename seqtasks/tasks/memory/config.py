"""Config schema of the `memory` task (sections data / model / train / eval / export);
`recipes/configs/memory.yaml` mirrors it.

Value ranges are checked by the shared schema layer (`seqtasks.config.VALUE_RANGES`: `sequence_length`,
`copy_length`, `num_symbols`, `validation_samples`, `test_samples` at least 1, `units`/`num_layers` at least 1) and
`model.activation` is one of the listed names; the task itself checks only what depends on two keys (the adding
problem needs `sequence_length >= 2`) and that no data files are given.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqtasks.config import DataConfig, EvalConfig, ModelConfig, RunConfig, TrainConfig

# The activations a cell takes by name ("" = the cell's default).
Activation = Literal[
    "", "tanh", "relu", "sigmoid", "linear", "elu", "selu", "gelu", "softsign", "swish", "hard_sigmoid"
]


@dataclass
class MemoryDataConfig(DataConfig):
    """Which synthetic problem and its size (the data is generated; `dataset`/`path` are not used)."""

    # adding (sum of the two marked values) or copy (repeat K-ary symbols after a delay).
    problem: Literal["adding", "copy"] = "adding"
    # T: adding -> length of every sequence; copy -> delay between the last symbol and the delimiter
    # (sequences are T + 2 * copy_length long).
    sequence_length: int = 100
    # Copy task: number of symbols to remember.
    copy_length: int = 10
    # Copy task: the alphabet size K (symbols 1..K).
    num_symbols: int = 8
    # Size of the fixed validation set (best model, early stopping) drawn from its own random stream.
    validation_samples: int = 1000


@dataclass
class MemoryModelConfig(ModelConfig):
    """seqtasks `RecurrentStack` -> Dense head."""

    # simple_rnn | lstm | gru.
    cell_type: Literal["simple_rnn", "lstm", "gru"] = "lstm"
    # Units per recurrent layer.
    units: int = 64
    # Number of stacked recurrent layers.
    num_layers: int = 1
    # Cell activation; "" = the cell's default (tanh). For simple_rnn, relu is the other common choice.
    activation: Activation = ""


@dataclass
class MemoryTrainConfig(TrainConfig):
    """Shared training settings with memory-task defaults."""

    # Global batch size.
    batch_size: int = 64
    # 10 x 100 = 1000 optimizer steps, the budget of the published sweep.
    epochs: int = 10
    # Batches per epoch (the data is generated, so an epoch is just a reporting/checkpoint unit; 0 reads as 100).
    steps_per_epoch: int = 100
    # Adam's learning rate.
    learning_rate: float = 3e-3
    # Gradient clipping by global norm: simple RNNs explode without it.
    clip_global_norm: float = 1.0
    # The data never repeats, so there is nothing to overfit: no early stopping by default.
    early_stopping_patience: int = 0
    # Save a checkpoint every this many optimizer steps (and at every epoch end).
    checkpoint_every_steps: int = 500


@dataclass
class MemoryEvalConfig(EvalConfig):
    """Test set and the thresholds that count a problem as solved."""

    # Batch size of validation, evaluation and predict.
    batch_size: int = 256
    # Size of the test set (its own random stream, never seen in training).
    test_samples: int = 2000
    # Adding problem: solved when the test MSE is below this (always answering 1 scores ~0.167).
    solved_mse: float = 0.01
    # Copy task: solved when at least this share of the recalled symbols is right (no memory: 1/K).
    solved_accuracy: float = 0.99


@dataclass
class MemoryConfig(RunConfig):
    data: MemoryDataConfig = field(default_factory=MemoryDataConfig)
    model: MemoryModelConfig = field(default_factory=MemoryModelConfig)
    train: MemoryTrainConfig = field(default_factory=MemoryTrainConfig)
    eval: MemoryEvalConfig = field(default_factory=MemoryEvalConfig)
