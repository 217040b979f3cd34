"""Seq2seq translation with attention and beam search, end to end: config -> data -> model -> train -> evaluate
-> export.

Exactly what `seqtasks train --task translation` runs (the same `seqtasks.runtime.train`), with this recipe's
`Report` showing each step. Run it from the project root; re-running it resumes the run from its last checkpoint:

    python recipes/translation.py --data-dir ../shared/data                 # Tatoeba English->French, offline
    python recipes/translation.py --data my_pairs.tsv --workdir runs/mine    # your own source<TAB>target file
    python recipes/translation.py --set model.attention=bahdanau --set model.cell_type=lstm
"""

from __future__ import annotations

import sys
from pathlib import Path

from seqtasks.errors import report_errors
from seqtasks.runtime import Reporter, recipe_parser, train

TASK = "translation"
# 1. Config: this file (every key, commented) <- --config files <- --set <- --data / --data-dir.
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "translation.yaml"
EXAMPLES = ["How are you?", "I don't know what to say."]


class Report(Reporter):
    def data_ready(self, task):
        # 2. Data: pairs read, validation and test splits that share no source sentence with training carved,
        #    the sentencepiece tokenizers trained (or reloaded).
        print(f"train {len(task.splits.train):,}, validation {len(task.splits.valid):,}, "
              f"test {len(task.splits.test):,} pairs")

    def model_built(self, task, model):
        # 3. Model: bidirectional recurrent encoder, attention, recurrent decoder (Cho et al. 2014).
        model.summary()

    def trained(self, task, result):
        # 4. Training: teacher forcing, checkpoints, best model on val_loss; resumes an interrupted run.
        print(f"stopped after step {result.step} ({result.stopped}); best {result.monitor} = {result.best}")

    def evaluated(self, task, model, evaluation):
        # 5. Evaluation of the best model on the test split: sacreBLEU and chrF, beam and greedy, attention map.
        for split, metrics in evaluation.items():
            print(split, {k: round(v, 2) if isinstance(v, float) else v for k, v in metrics.items()})

    def exported(self, task, model, export_dir):
        # 6. Export: a SavedModel whose `translate` signature maps source strings to translations; and a sample.
        print(f"exported: {export_dir}")
        task.predict(model, EXAMPLES, sys.stdout)


def main(argv: list[str] | None = None) -> int:
    args = recipe_parser(
        __doc__.splitlines()[0], TASK,
        data_help="your own TSV files of source<TAB>target pairs",
        data_dir_help="local folder with translation/eng-fra.tsv (offline)",
    ).parse_args(argv)
    train(TASK, args.workdir, [DEFAULT_CONFIG, *args.config], args.set, args.data, args.data_dir, reporter=Report())
    return 0


if __name__ == "__main__":
    sys.exit(report_errors(main))  # user errors: one `error:` line and exit status 2, as from `seqtasks`
