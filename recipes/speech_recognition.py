"""CTC speech recognition, end to end: config -> data -> model -> train -> evaluate -> export -> transcribe.

A deep bidirectional recurrent network maps log-mel frames straight to characters, trained with CTC (Graves et
al. 2013). The same library calls as `seqtasks train --task speech_recognition`, written out in order. Run it
from the project root (re-running it resumes the run from its last checkpoint):

    python recipes/speech_recognition.py --data-dir ../shared/data                 # FSDD connected digits
    python recipes/speech_recognition.py --data my_manifest.csv --workdir runs/mine  # your own path,transcript
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

DEFAULT_CONFIG = Path(__file__).parent / "configs" / "speech_recognition.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = recipe_parser(
        __doc__.splitlines()[0],
        "speech_recognition",
        data_help="your own manifests (.csv/.jsonl) or folders of audio + .txt",
        data_dir_help="local folder holding fsdd/recordings/*.wav (offline FSDD)",
    )
    args = parser.parse_args(argv)

    # 1. Config: default YAML <- --config files <- --set <- --data / --data-dir.
    config, run, strategy, task = start_recipe("speech_recognition", [DEFAULT_CONFIG, *args.config], args)

    # 2. Data: read FSDD (or your manifests), build (or reload) the alphabet, check every utterance's audio.
    task.prepare_data()
    print(f"alphabet: {''.join(task.alphabet.characters)!r} + blank; {task.report.summary()}")

    # 3. Model (features -> SpecAugment -> conv front end -> bidirectional GRU/LSTM stack -> Dense over
    #    alphabet + blank) and 4. training with the CTC loss (resumes from run/checkpoints if interrupted).
    with precision_policy(config):
        model = build_for_training(task, strategy)
        model.summary()
        result = fit(task, model, run, strategy)
    print(f"stopped after step {result.step} ({result.stopped}); best {result.monitor} = {result.best}")

    # 5. Evaluate the best model: CER and WER (jiwer) with the configured decoder on the test split.
    best_model, metrics = evaluate_best(task)
    result.history.evaluation = {"test": metrics}
    result.history.save()
    print({k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})

    # 6. Export the `transcribe` SavedModel (waveform + sample rate -> transcript, all in the graph).
    export_dir = export_atomically(task, best_model, run.export_dir(config.export.dir))
    print(f"exported: {export_dir}")
    return 0


if __name__ == "__main__":
    sys.exit(report_errors(main))  # user errors: one `error:` line and exit status 2, as from `seqtasks`
