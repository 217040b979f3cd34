"""Seq2seq translation with attention and beam search, end to end: config -> data -> model -> train -> evaluate
-> export.

The same library calls as `seqtasks train --task translation`, written out in order. Run it from the project
root (re-running it resumes the run from its last checkpoint):

    python recipes/translation.py --data-dir ../shared/data                 # Tatoeba English->French, offline
    python recipes/translation.py --data my_pairs.tsv --workdir runs/mine    # your own source<TAB>target file
    python recipes/translation.py --set model.attention=bahdanau --set model.cell_type=lstm
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

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "translation.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(
        __doc__.splitlines()[0],
        "translation",
        data_help="your own TSV files of source<TAB>target pairs",
        data_dir_help="local folder with translation/eng-fra.tsv (offline)",
    )
    args = parser.parse_args(argv)

    # 1. Config: default YAML <- --config files <- --set <- --data / --data-dir.
    config, run, strategy, task = start_recipe("translation", [DEFAULT_CONFIG, *args.config], args)

    # 2. Data: read the pairs, carve validation and test splits that share no source sentence with training,
    #    train (or reload) the sentencepiece tokenizers.
    task.prepare_data()

    # 3. Model and 4. training (resumes from run/checkpoints if a previous run was interrupted).
    with precision_policy(config):
        model = build_for_training(task, strategy)
        model.summary()
        result = fit(task, model, run, strategy)
    print(
        f"stopped after step {result.step} ({result.stopped}); best {result.monitor} = {result.best}"
    )

    # 5. Evaluate the best model on the test split: sacreBLEU and chrF, beam and greedy, attention heat map.
    best_model, metrics = evaluate_best(task)
    result.history.evaluation = {config.eval.split: metrics}
    result.history.save()
    print({k: round(v, 2) if isinstance(v, float) else v for k, v in metrics.items()})

    # 6. Export a SavedModel whose `translate` signature maps source strings to translated strings, and show it.
    export_dir = export_atomically(task, best_model, run.export_dir(config.export.dir))
    print(f"exported: {export_dir}")
    task.predict(best_model, ["How are you?", "I don't know what to say."], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(report_errors(main))  # user errors: one `error:` line and exit status 2, as from `seqtasks`
