"""CTC decoding with a character n-gram LM (shallow fusion) on a trained speech run: CER/WER and speed.

Scores the run's held-out validation utterances (the same seeded hold-out the task uses: `user_sources` with the
run's `data.validation_fraction` and `train.seed`) with

* greedy and beam decoding (TensorFlow, in-graph, as `seqtasks evaluate` does),
* `CTCLMDecoder` without an LM (numpy prefix beam search),
* `CTCLMDecoder` with the LM for the `lm_weight` / `word_bonus` pair chosen on a grid **without looking at the
  validation utterances**: the grid is scored on `--tune-utterances` utterances of the run's *training* part (the
  acoustic model has seen them, so they favour a smaller LM weight), and, as a second honest estimate, by 2-fold
  cross-validation on the validation utterances (choose on one half, score the other, and back).
  The full grid on the validation utterances is printed last, for reference only.

Also checks that no transcript of the manifest occurs in the LM's training text (the sources recorded in the LM
file, read and normalised as `build` did) and times the decoders (utterances/s, same process, same logits).

The run directory is only read: its config, alphabet and best weights are copied to a temporary folder first.

    python bench/ctc_lm.py --run /tmp/vx/run1 --lm lm.npz --data-dir ../shared/data
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

import seqtasks  # noqa: F401, E402 - before TensorFlow: keeps its start-up notices quiet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from seqtasks.decoding.char_lm import CharNGramLM, lm_sentences, read_texts  # noqa: E402
from seqtasks.decoding.ctc import ctc_beam_search_decode, ctc_greedy_decode  # noqa: E402
from seqtasks.decoding.ctc_lm import CTCLMDecoder  # noqa: E402

_VCTK_MANIFEST = Path("speech") / "vctk_p239" / "manifest.csv"


def _copy_run(run: Path, into: Path) -> Path:
    """A read-only copy of what loading the best model needs (the original is never written)."""
    target = into / "run"
    target.mkdir()
    for name in ("config.yaml", "task.txt"):
        shutil.copy2(run / name, target / name)
    for name in ("assets", "best"):
        shutil.copytree(run / name, target / name)
    return target


def _ids_to_texts(ids: np.ndarray, lengths: np.ndarray, alphabet: str) -> list[str]:
    return ["".join(alphabet[i] for i in row[:n]) for row, n in zip(ids, lengths, strict=True)]


def _scores(references: list[str], hypotheses: list[str]) -> dict[str, float]:
    import jiwer

    return {"cer": float(jiwer.cer(references, hypotheses)), "wer": float(jiwer.wer(references, hypotheses))}


def _logits(model, sample_rate: int, utterances) -> list[np.ndarray]:
    """CTC logits of each utterance (one at a time: no padding effects), trimmed to their valid frames."""
    from seqtasks.audio.io import load_audio

    out = []
    for u in utterances:
        wave = load_audio(u.path, sample_rate)
        result = model({"waveform": tf.constant(wave[None]), "waveform_length": tf.constant([wave.size])},
                       training=False)
        n = int(result["logit_lengths"][0])
        out.append(result["logits"][0, :n].numpy().astype(np.float64))
    return out


def _pad(logits: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.array([x.shape[0] for x in logits])
    batch = np.zeros((len(logits), int(lengths.max()), logits[0].shape[1]), np.float32)
    for i, x in enumerate(logits):
        batch[i, : x.shape[0]] = x
    return batch, lengths


def _decode(logits: list[np.ndarray], decoder: CTCLMDecoder) -> list[str]:
    return [decoder.decode(x)[0].text for x in logits]


def _grid(logits, references, alphabet, lm, weights, bonuses, beam_width) -> dict[tuple[float, float], dict]:
    results = {}
    for w in weights:
        for b in bonuses:
            decoder = CTCLMDecoder(alphabet, lm, beam_width=beam_width, lm_weight=w, word_bonus=b)
            results[(w, b)] = _scores(references, _decode(logits, decoder))
    return results


def _best(results: dict[tuple[float, float], dict]) -> tuple[float, float]:
    return min(results, key=lambda k: (results[k]["cer"], results[k]["wer"], k))


def _leak_check(lm: CharNGramLM, transcripts: list[str]) -> tuple[int, int, int]:
    """Re-reads the LM's training text as `build` did (sources, exclusions and options recorded in the LM file):
    (transcripts that are a whole LM sentence, transcripts found inside the LM text, LM characters scanned)."""
    info = lm.info
    files = list(info.get("sources") or []) + list(info.get("exclude") or [])
    missing = [s for s in files if not Path(s).is_file()]
    if not info.get("sources") or missing:
        raise SystemExit(f"cannot check the LM text: sources {missing or 'not recorded'} not found")
    texts = read_texts(info["sources"], info.get("tsv_column", 0), info.get("skip_header", False))
    exclude = list(read_texts(info["exclude"])) if info.get("exclude") else None
    sentences = list(lm_sentences(texts, lm.alphabet, info.get("split_sentences", True),
                                  info.get("on_unknown", "drop_sentence"), exclude=exclude))
    whole = set(sentences)
    joined = "\n".join(sentences)
    as_sentence = sum(1 for t in transcripts if t in whole)
    inside = sum(1 for t in transcripts if t in joined)
    return as_sentence, inside, len(joined)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="trained speech_recognition run directory (read only)")
    parser.add_argument("--lm", help="character LM (.npz) built with `python -m seqtasks.decoding.char_lm build`")
    parser.add_argument("--data-dir", default=None,
                        help=f"folder holding {_VCTK_MANIFEST} (default: the run's data.path)")
    parser.add_argument("--beam-width", type=int, default=16)
    parser.add_argument("--tune-utterances", type=int, default=100, help="training utterances the grid is scored on")
    parser.add_argument("--weights", default="0,0.25,0.5,0.75,1.0,1.5", help="lm_weight grid")
    parser.add_argument("--bonuses", default="0,0.5,1,2,3", help="word_bonus grid")
    parser.add_argument("--skip-leak-check", action="store_true")
    args = parser.parse_args()
    if not args.run or not args.lm:
        # `make bench` runs every script without arguments; this one needs a trained model and an LM.
        print("bench/ctc_lm.py: skipped, it needs a trained speech run and a character LM: "
              "--run RUN --lm LM.npz (how to build both: README, speech recognition)")
        return

    from seqtasks.runtime.commands import load_trained
    from seqtasks.tasks.speech_recognition.data import user_sources

    weights = [float(x) for x in args.weights.split(",")]
    bonuses = [float(x) for x in args.bonuses.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        run = _copy_run(Path(args.run), Path(tmp))
        task, model = load_trained(run)
        d = task.config.data
        manifests = [str(Path(args.data_dir) / _VCTK_MANIFEST)] if args.data_dir else list(d.path)
        d.path = manifests
        train, validation, _ = user_sources(manifests, normalize=d.normalize_transcripts,
                                            validation_fraction=d.validation_fraction, seed=task.config.train.seed)
        task.prepare_data()
        alphabet = "".join(task.alphabet.characters)
        # The task's own evaluation of these utterances (config decoder) must match ours on the same split.
        task_metrics = task.evaluate(model)

    lm = CharNGramLM.load(args.lm, alphabet=alphabet)
    print(f"run {args.run}: alphabet {alphabet!r}, {len(train)} training / {len(validation)} validation utterances; "
          f"LM {args.lm}: order {lm.order}, {lm.info.get('characters')} characters, "
          f"{sum(t.keys.size for t in lm.tables)} n-grams")
    if not args.skip_leak_check:
        whole, inside, scanned = _leak_check(lm, [u.transcript for u in train + validation])
        print(f"leak check: of {len(train) + len(validation)} manifest transcripts, {whole} are an LM training "
              f"sentence and {inside} occur inside the LM text ({scanned} characters; the build left out "
              f"{lm.info.get('excluded_sentences', 0)} sentences containing one, --exclude {lm.info.get('exclude')})")

    rng = np.random.default_rng(0)
    tune = [train[i] for i in sorted(rng.choice(len(train), min(args.tune_utterances, len(train)), replace=False))]
    sample_rate = task.config.data.sample_rate
    val_logits = _logits(model, sample_rate, validation)
    tune_logits = _logits(model, sample_rate, tune)
    val_refs = [u.transcript for u in validation]
    tune_refs = [u.transcript for u in tune]
    frames = np.array([x.shape[0] for x in val_logits])
    print(f"validation logits: {len(val_logits)} utterances, {frames.mean():.0f} frames on average "
          f"({frames.min()}-{frames.max()}), {val_logits[0].shape[1]} classes; bits/char of the LM on the "
          f"validation transcripts: {lm.bits_per_char(val_refs):.3f}")

    batch, lengths = _pad(val_logits)
    rows = []
    ids, lens = ctc_greedy_decode(tf.constant(batch), lengths)
    rows.append(("greedy (TF, in-graph)", _scores(val_refs, _ids_to_texts(ids.numpy(), lens.numpy(), alphabet))))
    tf_beam = {}
    for width in sorted({task.config.eval.beam_width, args.beam_width}):
        ids, lens, _ = ctc_beam_search_decode(tf.constant(batch), lengths, beam_width=width)
        tf_beam[width] = _ids_to_texts(ids.numpy(), lens.numpy(), alphabet)
        rows.append((f"beam {width} (TF, in-graph)", _scores(val_refs, tf_beam[width])))
    exact = CTCLMDecoder(alphabet, beam_width=args.beam_width, top_k=None, prune_log_prob=-np.inf)
    plain_exact = _decode(val_logits, exact)
    plain = _decode(val_logits, CTCLMDecoder(alphabet, beam_width=args.beam_width))
    rows.append((f"beam {args.beam_width}, no LM (numpy)", _scores(val_refs, plain)))
    same = sum(a == b for a, b in zip(plain_exact, tf_beam[args.beam_width], strict=True))
    same_pruned = sum(a == b for a, b in zip(plain_exact, plain, strict=True))
    print(f"task.evaluate on the same utterances ({task.config.eval.decoder}, beam {task.config.eval.beam_width}): "
          f"CER {task_metrics['cer']:.4f}, WER {task_metrics['wer']:.4f}")
    print(f"numpy beam without LM (no pruning) == TF beam {args.beam_width}: {same}/{len(val_logits)} transcripts; "
          f"default pruning (top_k=16, p>=1e-4) == no pruning: {same_pruned}/{len(val_logits)}")

    t0 = time.perf_counter()
    train_grid = _grid(tune_logits, tune_refs, alphabet, lm, weights, bonuses, args.beam_width)
    grid_seconds = time.perf_counter() - t0
    w, b = _best(train_grid)
    tuned = CTCLMDecoder(alphabet, lm, beam_width=args.beam_width, lm_weight=w, word_bonus=b)
    rows.append((f"beam {args.beam_width} + LM, tuned on {len(tune)} training utts (a={w:g}, b={b:g})",
                 _scores(val_refs, _decode(val_logits, tuned))))
    base = train_grid[(0.0, 0.0)] if (0.0, 0.0) in train_grid else None
    print(f"grid on {len(tune)} training utterances ({len(train_grid)} points, {grid_seconds:.0f} s): best a={w:g} "
          f"b={b:g} CER {train_grid[(w, b)]['cer']:.4f}" + (f" (no LM: {base['cer']:.4f})" if base else ""))

    val_grid = _grid(val_logits, val_refs, alphabet, lm, weights, bonuses, args.beam_width)
    half = np.arange(len(val_logits)) % 2
    cv_hyps: list[str | None] = [None] * len(val_logits)
    chosen = []
    for fold in (0, 1):
        pick = np.flatnonzero(half == fold)
        other = np.flatnonzero(half != fold)
        grid = _grid([val_logits[i] for i in pick], [val_refs[i] for i in pick], alphabet, lm, weights, bonuses,
                     args.beam_width)
        wf, bf = _best(grid)
        chosen.append((wf, bf))
        decoder = CTCLMDecoder(alphabet, lm, beam_width=args.beam_width, lm_weight=wf, word_bonus=bf)
        for i in other:
            cv_hyps[i] = decoder.decode(val_logits[i])[0].text
    rows.append((f"beam {args.beam_width} + LM, 2-fold CV on validation (a,b = {chosen[0]}, {chosen[1]})",
                 _scores(val_refs, cv_hyps)))
    wo, bo = _best(val_grid)
    rows.append((f"beam {args.beam_width} + LM, best on validation itself (oracle, a={wo:g}, b={bo:g})",
                 val_grid[(wo, bo)]))

    print(f"\nCER / WER on the {len(val_logits)} validation utterances:")
    for name, s in rows:
        print(f"  {name:<78} CER {s['cer']:.4f}  WER {s['wer']:.4f}")

    # Speed on the validation logits (same process): utterances per second.
    def rate(fn) -> float:
        start = time.perf_counter()
        fn()
        return len(val_logits) / (time.perf_counter() - start)

    start = time.perf_counter()
    fresh = CharNGramLM.load(args.lm)
    print(f"\nLM load: {time.perf_counter() - start:.2f} s")
    speeds = {
        f"TF beam {args.beam_width} (batch)": rate(
            lambda: ctc_beam_search_decode(tf.constant(batch), lengths, beam_width=args.beam_width)),
        "numpy beam, no LM": rate(lambda: _decode(val_logits, CTCLMDecoder(alphabet, beam_width=args.beam_width))),
        "numpy beam + LM (cold cache)": rate(lambda: _decode(val_logits, CTCLMDecoder(
            alphabet, fresh, beam_width=args.beam_width, lm_weight=w, word_bonus=b))),
        "numpy beam + LM (warm cache)": rate(lambda: _decode(val_logits, CTCLMDecoder(
            alphabet, fresh, beam_width=args.beam_width, lm_weight=w, word_bonus=b))),
        "numpy beam + LM, no pruning": rate(lambda: _decode(val_logits, CTCLMDecoder(
            alphabet, lm, beam_width=args.beam_width, lm_weight=w, word_bonus=b, top_k=None,
            prune_log_prob=-np.inf))),
    }
    print(f"\nspeed (utterances/s, {frames.mean():.0f} frames of {val_logits[0].shape[1]} classes on average, "
          f"beam {args.beam_width}):")
    for name, value in speeds.items():
        print(f"  {name:<32} {value:8.1f} utt/s")

    print("\nfull grid on the validation utterances (reference only, CER):")
    print("  a \\ b " + "".join(f"{x:>8g}" for x in bonuses))
    for wv in weights:
        print(f"  {wv:<6g}" + "".join(f"{val_grid[(wv, bv)]['cer']:8.4f}" for bv in bonuses))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
