"""Unseen speakers of spoken digits: leave-one-speaker-out over the FSDD speakers.

For each speaker in turn, the default digits recipe (`recipes/configs/speech_recognition.yaml`) trains on the
other speakers (`data.test_speakers=[SPEAKER]`) and is scored on connected digits made only of the held-out
speaker's recordings, with the lexicon-constrained decoder (`eval.lexicon=auto`: the ten digit words, as the
exported model decodes) and, on the same model and utterances, with free beam-search spelling (`eval.lexicon=`)
as the baseline. Prints a Markdown table (CER / WER per speaker, and the mean).

    python bench/speech_loso.py --data-dir ../shared/data                      # every speaker, recipe budget
    python bench/speech_loso.py --data-dir ../shared/data --speakers theo --minutes 8
"""

from __future__ import annotations

import argparse
import io
import json
import os
from pathlib import Path

import seqtasks  # noqa: F401 - before TensorFlow: keeps its start-up notices quiet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

from seqtasks.data.fsdd import find_fsdd, read_fsdd  # noqa: E402
from seqtasks.runtime import commands  # noqa: E402
from seqtasks.tasks.speech_recognition.config import SpeechRecognitionDataConfig  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "speech_recognition.yaml"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("SEQTASKS_DATA_DIR", ""))
    parser.add_argument("--speakers", nargs="*", help="held-out speakers (default: every FSDD speaker)")
    parser.add_argument("--minutes", type=float, default=0.0, help="training budget per speaker (0 = the recipe's)")
    parser.add_argument("--workdir", default="runs/speech_loso")
    parser.add_argument("--set", action="append", default=[], help="more section.key=value overrides")
    args = parser.parse_args()
    data_dir = str(Path(args.data_dir).expanduser().absolute()) if args.data_dir else None
    speakers = args.speakers or sorted({r.speaker for r in read_fsdd(find_fsdd(SpeechRecognitionDataConfig(
        data_dir=data_dir or "")))})
    rows = []
    for speaker in speakers:
        overrides = [f"data.test_speakers=[{speaker}]", *args.set]
        if args.minutes:
            overrides.append(f"train.max_minutes={args.minutes}")
        run = Path(args.workdir) / speaker
        outcome = commands.train("speech_recognition", run, [CONFIG], overrides, data_dir=data_dir)
        free = commands.evaluate(run, overrides=["eval.lexicon="], out=io.StringIO())
        rows.append((speaker, outcome.evaluation, free, outcome.fit.step))
        print(json.dumps({"speaker": speaker, "lexicon": outcome.evaluation, "free": free}), flush=True)
    print("\n| held-out speaker | CER (lexicon) | WER (lexicon) | CER (free beam) | WER (free beam) | steps |")
    print("| --- | --- | --- | --- | --- | --- |")
    for speaker, lex, free, steps in rows:
        print(f"| {speaker} | {lex['cer']:.2%} | {lex['wer']:.2%} | {free['cer']:.2%} | {free['wer']:.2%} | {steps} |")
    n = len(rows)
    mean = {k: sum(r[i][k] for r in rows) / n for i, k in ((1, "cer"), (1, "wer"))}
    free_mean = {k: sum(r[2][k] for r in rows) / n for k in ("cer", "wer")}
    print(f"| mean | {mean['cer']:.2%} | {mean['wer']:.2%} | {free_mean['cer']:.2%} | {free_mean['wer']:.2%} | |")


if __name__ == "__main__":
    main()
