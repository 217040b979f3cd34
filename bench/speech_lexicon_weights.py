"""Choose a speech run's lexicon LM weight and word bonus on its validation split (never on the test split).

The run's network turns each validation utterance into logits once; then every (`eval.lexicon_lm_weight`,
`eval.lexicon_word_bonus`) pair of the grid decodes them with the same in-graph lexicon decoder the SavedModel
uses (`seqtasks.decoding.ctc.ctc_decode(method="lexicon")`: the word list of `eval.lexicon`, with its unigram and
word-pair counts), and CER / WER (jiwer) against the validation transcripts are printed, best WER last. Pass the
chosen pair to `seqtasks export` / `evaluate` with `--set`. The validation split also chose the run's best epoch,
so its scores are a little optimistic; the test split stays unseen.

    python bench/speech_lexicon_weights.py --run runs/vctk
    python bench/speech_lexicon_weights.py --run runs/vctk --set eval.lexicon=words.tsv --weights 0.5 1 1.5 2 --bonus 0 1
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import sys
import time

import seqtasks  # noqa: F401 - before TensorFlow: keeps its start-up notices quiet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import jiwer  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from seqtasks.decoding.ctc import ctc_decode  # noqa: E402
from seqtasks.errors import SeqtasksError  # noqa: E402
from seqtasks.runtime.commands import load_trained  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", required=True, help="a trained speech_recognition run directory")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="config overrides (e.g. eval.lexicon=words.tsv)")
    parser.add_argument("--weights", type=float, nargs="+", default=[0.5, 1.0, 1.5, 2.0])
    parser.add_argument("--bonus", type=float, nargs="+", default=[0.0, 1.0, 2.0])
    args = parser.parse_args(argv)
    try:
        task, model = load_trained(args.run, "speech_recognition", args.overrides)
        task.prepare_evaluation_data()
        source = task._validation
        if source is None or not len(source):
            raise SeqtasksError(f"run {args.run} has no validation split to choose weights on")
        lexicon = task.lexicon()
        if lexicon is None or lexicon.counts is None:
            raise SeqtasksError("the run's eval.lexicon has no word counts (no LM weight to choose); set one with "
                                "--set eval.lexicon=FILE")
    except SeqtasksError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    network = tf.function(lambda w, n: model({"waveform": w, "waveform_length": n}, training=False),
                          reduce_retracing=True)
    logits, references = [], []
    for i in range(len(source)):
        waveform = source.waveform(i)
        if waveform is None:
            continue
        out = network(tf.constant(waveform[None]), tf.constant([waveform.size]))
        logits.append(out["logits"][0, : int(out["logit_lengths"][0])].numpy())
        references.append(source.transcript(i))
    if not logits:
        print(f"error: no validation utterance of {args.run} could be read", file=sys.stderr)
        return 1
    lengths = np.array([x.shape[0] for x in logits], np.int32)
    batch = np.zeros((len(logits), int(lengths.max()), logits[0].shape[1]), np.float32)
    for row, x in enumerate(logits):
        batch[row, : x.shape[0]] = x
    characters = list(task.alphabet.characters)
    kind = ("word pairs" if lexicon.bigrams else "unigram") + (", phonemes" if lexicon.spellings else "")
    print(f"{args.run}: {len(references)} validation utterances, {len(lexicon.words)} words ({kind})", flush=True)
    results = []
    for weight in args.weights:
        for bonus in args.bonus:
            candidate = dataclasses.replace(lexicon, lm_weight=weight, word_bonus=bonus)
            decode = tf.function(lambda x, n, lex=candidate: ctc_decode(x, n, characters, "lexicon", lexicon=lex))
            start = time.perf_counter()
            hypotheses = [t.decode("utf-8") for t in decode(tf.constant(batch), tf.constant(lengths)).numpy()]
            cer, wer = jiwer.cer(references, hypotheses), jiwer.wer(references, hypotheses)
            results.append((wer, cer, weight, bonus))
            print(f"  lexicon_lm_weight {weight:<4g} lexicon_word_bonus {bonus:<4g} CER {cer:6.1%}  WER {wer:6.1%}"
                  f"  ({time.perf_counter() - start:.0f} s)", flush=True)
    wer, cer, weight, bonus = min(results)
    print(f"best on validation: WER {wer:.1%}, CER {cer:.1%} with "
          f"--set eval.lexicon_lm_weight={weight:g} --set eval.lexicon_word_bonus={bonus:g}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
