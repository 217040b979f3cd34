"""Character-level text generation (char-RNN), end to end: config -> data -> model -> train -> evaluate -> export.

Exactly what `seqtasks train --task text_generation` runs (the same `seqtasks.runtime.train`), with this recipe's
`Report` showing each step. Run it from the project root; re-running it resumes the run from its last checkpoint:

    python recipes/text_generation.py
    python recipes/text_generation.py --data-dir ../shared/data            # offline tinyshakespeare
    python recipes/text_generation.py --data my_novel.txt --set model.units=256 --workdir runs/novel
"""

from __future__ import annotations

import sys
from pathlib import Path

from seqtasks.errors import report_errors
from seqtasks.runtime import Reporter, recipe_parser, train

TASK = "text_generation"
# 1. Config: this file (every key, commented) <- --config files <- --set <- --data / --data-dir.
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "text_generation.yaml"


class Report(Reporter):
    def data_ready(self, task):
        # 2. Data: the text is read, the character vocabulary built (or reloaded), the last 10% held out.
        print(f"vocabulary: {task.vocab.size} ids; train {len(task.train_ids):,} chars, "
              f"validation {len(task.val_ids):,} chars")

    def model_built(self, task, model):
        # 3. Model: embedding -> recurrent stack (seqtasks cells) -> logits over the vocabulary.
        model.summary()

    def trained(self, task, result):
        # 4. Training: checkpoints, early stopping and best model on val_loss; resumes an interrupted run.
        print(f"stopped after step {result.step} ({result.stopped}); best {result.monitor} = {result.best}")

    def evaluated(self, task, model, evaluation):
        # 5. Evaluation of the best model: nats and bits per character, state carried through the text.
        for split, metrics in evaluation.items():
            print(split, {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})

    def exported(self, task, model, export_dir):
        # 6. Export: a SavedModel with `generate` and `score` signatures; and a sample.
        print(f"exported: {export_dir}")
        task.predict(model, ["ROMEO:"], sys.stdout)


def main(argv: list[str] | None = None) -> int:
    args = recipe_parser(
        __doc__.splitlines()[0], TASK,
        data_help="your own text files or folders",
        data_dir_help="local folder with tinyshakespeare/input.txt (offline)",
    ).parse_args(argv)
    train(TASK, args.workdir, [DEFAULT_CONFIG, *args.config], args.set, args.data, args.data_dir, reporter=Report())
    return 0


if __name__ == "__main__":
    sys.exit(report_errors(main))  # user errors: one `error:` line and exit status 2, as from `seqtasks`
