"""Character-level text generation (char-RNN), end to end: config -> data -> model -> train -> evaluate -> export.

The same library calls as `seqtasks train --task text_generation`, written out in order. Run it from the project
root (re-running it resumes the run from its last checkpoint):

    python recipes/text_generation.py
    python recipes/text_generation.py --data-dir ../shared/data            # offline tinyshakespeare
    python recipes/text_generation.py --data my_novel.txt --set model.units=256 --workdir runs/novel
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

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "text_generation.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(
        __doc__.splitlines()[0],
        "text_generation",
        data_help="your own text files or folders",
        data_dir_help="local folder with tinyshakespeare/input.txt (offline)",
    )
    args = parser.parse_args(argv)

    # 1. Config: default YAML <- --config files <- --set <- --data / --data-dir.
    config, run, strategy, task = start_recipe("text_generation", [DEFAULT_CONFIG, *args.config], args)

    # 2. Data: read the text, build (or reload) the character vocabulary, split off the last 10%.
    task.prepare_data()
    print(f"vocabulary: {task.vocab.size} ids; train {len(task.train_ids):,} chars, "
          f"validation {len(task.val_ids):,} chars")

    # 3. Model and 4. training (resumes from run/checkpoints if a previous run was interrupted).
    with precision_policy(config):
        model = build_for_training(task, strategy)
        model.summary()
        result = fit(task, model, run, strategy)
    print(f"stopped after step {result.step} ({result.stopped}); best {result.monitor} = {result.best}")

    # 5. Evaluate the best model: nats and bits per character on the validation text, state carried through it.
    best_model, metrics = evaluate_best(task)
    result.history.evaluation = {"validation": metrics}
    result.history.save()
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})

    # 6. Export a SavedModel with `generate` and `score` signatures, and show a sample.
    export_dir = export_atomically(task, best_model, run.export_dir(config.export.dir))
    print(f"exported: {export_dir}")
    task.predict(best_model, ["ROMEO:"], sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(report_errors(main))  # user errors: one `error:` line and exit status 2, as from `seqtasks`
