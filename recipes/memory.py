"""The memory benchmark (adding problem / copy task), end to end: config -> data -> model -> train -> evaluate
-> export.

Exactly what `seqtasks train --task memory` runs (the same `seqtasks.runtime.train`), with this recipe's
`Report` showing each step. Run it from the project root; re-running it resumes the run from its last checkpoint:

    python recipes/memory.py --set model.cell_type=gru --set data.sequence_length=200
    python recipes/memory.py --set data.problem=copy --workdir runs/copy
"""

from __future__ import annotations

import sys
from pathlib import Path

from seqtasks.errors import report_errors
from seqtasks.runtime import Reporter, recipe_parser, train

TASK = "memory"
# 1. Config: this file (every key, commented) <- --config files <- --set.
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "memory.yaml"


class Report(Reporter):
    def data_ready(self, task):
        # 2. Data: generated from the seed (training batches per epoch, fixed validation and test sets).
        d = task.config.data
        print(f"{d.problem} problem, T={d.sequence_length}")

    def model_built(self, task, model):
        # 3. Model: a recurrent stack of the configured cell with a linear (adding) or softmax (copy) read-out.
        model.summary()

    def trained(self, task, result):
        # 4. Training: checkpoints and best model on the monitored metric; resumes an interrupted run.
        print(f"stopped after step {result.step} ({result.stopped}); best {result.monitor} = {result.best}")

    def evaluated(self, task, model, evaluation):
        # 5. Evaluation of the best model on the fixed test set, next to the trivial baseline.
        for split, metrics in evaluation.items():
            print(split, metrics)

    def exported(self, task, model, export_dir):
        # 6. Export: a SavedModel mapping sequences to the sum (adding) or the recalled symbols (copy).
        print(f"exported: {export_dir}")
        task.predict(model, ["random"], sys.stdout)


def main(argv: list[str] | None = None) -> int:
    args = recipe_parser(
        __doc__.splitlines()[0], TASK,
        data_help="(not used: the memory task generates its data)",
        data_dir_help="(not used)",
    ).parse_args(argv)
    train(TASK, args.workdir, [DEFAULT_CONFIG, *args.config], args.set, args.data, args.data_dir, reporter=Report())
    return 0


if __name__ == "__main__":
    sys.exit(report_errors(main))  # user errors: one `error:` line and exit status 2, as from `seqtasks`
