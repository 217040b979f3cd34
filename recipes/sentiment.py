"""Sentiment classification, end to end: config -> data -> model -> train -> evaluate -> export.

Exactly what `seqtasks train --task sentiment` runs (the same `seqtasks.runtime.train`), with this recipe's
`Report` showing each step, plus a score on your own `--test` files and a few predictions. Run it from the
project root; re-running it resumes the run from its last checkpoint:

    python recipes/sentiment.py --data-dir ../shared/data                   # IMDB, offline local copy
    python recipes/sentiment.py --data reviews.tsv --workdir runs/mine      # your own text<TAB>label file
    python recipes/sentiment.py --data aclImdb/train --set data.classes=neg,pos --test aclImdb/test
"""

from __future__ import annotations

import sys
from pathlib import Path

from seqtasks.errors import report_errors
from seqtasks.runtime import Reporter, recipe_parser, train

TASK = "sentiment"
# 1. Config: this file (every key, commented) <- --config files <- --set <- --data / --data-dir.
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "sentiment.yaml"
EXAMPLES = [
    "One of the best films I have seen in years: moving, funny and beautifully acted.",
    "A dull, predictable mess.<br /><br />I want those two hours back.",
]


class Report(Reporter):
    def __init__(self, test_paths: list[str] | None = None):
        self.test_paths = test_paths

    def data_ready(self, task):
        # 2. Data: labelled texts read (bad rows fail or are skipped and counted), the seeded validation split
        #    carved, the sentencepiece model trained (or reloaded), texts tokenized into length buckets.
        print(f"classes: {task.class_names}; vocabulary {task.vocab_size}; train {len(task.train_data):,}, "
              f"validation {len(task.val_data):,} texts")

    def model_built(self, task, model):
        # 3. Model: Embedding -> bidirectional RecurrentStack -> MaskedPooling -> Dense.
        model.summary()

    def trained(self, task, result):
        # 4. Training: checkpoints, early stopping and best model on val_accuracy; resumes an interrupted run.
        print(f"stopped after step {result.step} ({result.stopped}); best {result.monitor} = {result.best}")

    def evaluated(self, task, model, evaluation):
        # 5. Evaluation of the best model: accuracy, macro-F1, per-class precision/recall and confusion matrix
        #    (printed, and RUN/confusion_matrix_*.png) on validation and the test split; then on --test files.
        if self.test_paths:
            evaluation[", ".join(self.test_paths)] = task.evaluate(model, self.test_paths)

    def exported(self, task, model, export_dir):
        # 6. Export: a SavedModel whose signature takes raw strings (tokenization in the graph); predictions.
        print(f"exported: {export_dir}")
        task.predict(model, EXAMPLES, sys.stdout)


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(
        __doc__.splitlines()[0], TASK,
        data_help="your own labelled TSV/CSV files or class folders",
        data_dir_help="local folder with sentiment/imdb/{train,test}.tsv (offline IMDB)",
    )
    parser.add_argument("--test", nargs="+", help="your own labelled files to score at the end")
    args = parser.parse_args(argv)
    train(TASK, args.workdir, [DEFAULT_CONFIG, *args.config], args.set, args.data, args.data_dir,
          reporter=Report(args.test))
    return 0


if __name__ == "__main__":
    sys.exit(report_errors(main))  # user errors: one `error:` line and exit status 2, as from `seqtasks`
