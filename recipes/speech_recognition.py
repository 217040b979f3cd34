"""CTC speech recognition, end to end: config -> data -> model -> train -> evaluate -> export -> transcribe.

A deep bidirectional recurrent network maps log-mel frames straight to characters, trained with CTC (Graves et
al. 2013). Exactly what `seqtasks train --task speech_recognition` runs (the same `seqtasks.runtime.train`),
with this recipe's `Report` showing each step. Run it from the project root; re-running it resumes the run:

    python recipes/speech_recognition.py --data-dir ../shared/data                 # FSDD connected digits
    python recipes/speech_recognition.py --data my_manifest.csv --workdir runs/mine  # your own path,transcript
"""

from __future__ import annotations

import sys
from pathlib import Path

from seqtasks.errors import report_errors
from seqtasks.runtime import Reporter, recipe_parser, train

TASK = "speech_recognition"
# 1. Config: this file (every key, commented) <- --config files <- --set <- --data / --data-dir.
DEFAULT_CONFIG = Path(__file__).parent / "configs" / "speech_recognition.yaml"


class Report(Reporter):
    def data_ready(self, task):
        # 2. Data: FSDD (or your manifests) read, the alphabet built (or reloaded), every utterance's audio checked.
        print(f"alphabet: {''.join(task.alphabet.characters)!r} + blank; {task.report.summary()}")

    def model_built(self, task, model):
        # 3. Model: features -> SpecAugment -> conv front end -> bidirectional GRU/LSTM stack -> Dense over the
        #    alphabet + blank, trained with the CTC loss.
        model.summary()

    def trained(self, task, result):
        # 4. Training: checkpoints, early stopping and best model on val_cer; resumes an interrupted run.
        print(f"stopped after step {result.step} ({result.stopped}); best {result.monitor} = {result.best}")

    def evaluated(self, task, model, evaluation):
        # 5. Evaluation of the best model: CER and WER (jiwer) with the configured decoder on the test split.
        for split, metrics in evaluation.items():
            print(split, {k: round(v, 4) if isinstance(v, float) else v for k, v in metrics.items()})

    def exported(self, task, model, export_dir):
        # 6. Export: the `transcribe` SavedModel (waveform + sample rate -> transcript, all in the graph).
        print(f"exported: {export_dir}")


def main(argv: list[str] | None = None) -> int:
    args = recipe_parser(
        __doc__.splitlines()[0], TASK,
        data_help="your own manifests (.csv/.jsonl) or folders of audio + .txt",
        data_dir_help="local folder holding fsdd/recordings/*.wav (offline FSDD)",
    ).parse_args(argv)
    train(TASK, args.workdir, [DEFAULT_CONFIG, *args.config], args.set, args.data, args.data_dir, reporter=Report())
    return 0


if __name__ == "__main__":
    sys.exit(report_errors(main))  # user errors: one `error:` line and exit status 2, as from `seqtasks`
