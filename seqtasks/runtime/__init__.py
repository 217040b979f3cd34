"""The shared runtime: strategies, optimizers, the training loop with checkpoints/resume, reporting and the
five commands. Every task uses it unchanged; see `seqtasks.runtime.task.Task` for what a task provides."""

from seqtasks.runtime.commands import (
    Reporter,
    TrainOutcome,
    best_model,
    build_for_training,
    evaluate,
    export,
    finetune,
    load_trained,
    precision_policy,
    predict,
    recipe_parser,
    resolve_config,
    run_training,
    start_run,
    task_for_run,
    train,
)
from seqtasks.runtime.export import export_atomically
from seqtasks.runtime.optimizers import (
    WarmupSchedule,
    clipping_kwargs,
    make_optimizer,
    make_schedule,
)
from seqtasks.runtime.reporting import History
from seqtasks.runtime.run_dir import RunDir
from seqtasks.runtime.strategy import is_chief, make_strategy
from seqtasks.runtime.trainer import FitResult, epoch_dataset, fit, restore_model_weights

__all__ = [
    "FitResult",
    "History",
    "RunDir",
    "Reporter",
    "TrainOutcome",
    "WarmupSchedule",
    "build_for_training",
    "best_model",
    "precision_policy",
    "run_training",
    "start_run",
    "clipping_kwargs",
    "epoch_dataset",
    "evaluate",
    "export",
    "export_atomically",
    "finetune",
    "fit",
    "is_chief",
    "load_trained",
    "make_optimizer",
    "make_schedule",
    "make_strategy",
    "predict",
    "recipe_parser",
    "resolve_config",
    "restore_model_weights",
    "task_for_run",
    "train",
]
