"""Sentiment classification, end to end: config -> data -> model -> train -> evaluate -> export.

The same library calls as `seqtasks train --task sentiment`, written out in order, plus the test-split score
and a few predictions. Run it from the project root (re-running it resumes the run from its last checkpoint):

    python recipes/sentiment.py --data-dir ../shared/data                   # IMDB, offline local copy
    python recipes/sentiment.py --data reviews.tsv --workdir runs/mine      # your own text<TAB>label file
    python recipes/sentiment.py --data aclImdb/train --set data.classes=neg,pos --test aclImdb/test
"""

from __future__ import annotations

import sys
from pathlib import Path

from seqtasks.errors import report_errors
from seqtasks.runtime import (
    build_for_training,
    evaluate_best,
    export_atomically,
    fit,
    precision_policy,
    recipe_parser,
    start_recipe,
)

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "sentiment.yaml"
EXAMPLES = [
    "One of the best films I have seen in years: moving, funny and beautifully acted.",
    "A dull, predictable mess.<br /><br />I want those two hours back.",
]


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(
        __doc__.splitlines()[0],
        "sentiment",
        data_help="your own labelled TSV/CSV files or class folders",
        data_dir_help="local folder with sentiment/imdb/{train,test}.tsv (offline IMDB)",
    )
    parser.add_argument("--test", nargs="+", help="labelled files to score at the end (default: IMDB test split)")
    args = parser.parse_args(argv)

    # 1. Config: default YAML <- --config files <- --set <- --data / --data-dir.
    config, run, strategy, task = start_recipe("sentiment", [DEFAULT_CONFIG, *args.config], args)

    # 2. Data: read the labelled texts (bad rows fail or are skipped and counted), carve the seeded validation
    #    split, train (or reload) the sentencepiece model and tokenize into length-bucketed batches.
    task.prepare_data()
    print(f"classes: {task.class_names}; vocabulary {task.vocab_size}; train {len(task.train_data):,}, "
          f"validation {len(task.val_data):,} texts")

    # 3. Model (Embedding -> bidirectional RecurrentStack -> MaskedPooling -> Dense) and 4. training with
    #    checkpoints, early stopping and best-model selection on val_accuracy.
    with precision_policy(config):
        model = build_for_training(task, strategy)
        model.summary()
        result = fit(task, model, run, strategy)
    print(f"stopped after step {result.step} ({result.stopped}); best {result.monitor} = {result.best}")

    # 5. Evaluate the best model: accuracy, macro-F1, per-class precision/recall, confusion matrix (printed and
    #    RUN/confusion_matrix_*.png), on the validation split and on the test data.
    best_model, metrics = evaluate_best(task)
    evaluation = {"validation": metrics}
    if args.test:
        evaluation["test"] = task.evaluate(best_model, args.test)
    elif not config.data.path:  # the named dataset brings its own test split
        task.config.eval.split = "test"
        evaluation["test"] = task.evaluate(best_model)
    result.history.evaluation = evaluation
    result.history.save()

    # 6. Export a SavedModel whose signature takes raw strings (tokenization inside the graph), and predict.
    export_dir = export_atomically(task, best_model, run.export_dir(config.export.dir))
    print(f"exported: {export_dir}")
    task.predict(best_model, EXAMPLES, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(report_errors(main))  # user errors: one `error:` line and exit status 2, as from `seqtasks`
