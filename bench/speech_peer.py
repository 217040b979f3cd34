"""A trained seqtasks speech run against PocketSphinx 5 on the same held-out utterances: CER, WER and speed.

One run scores, on the same utterances and against the same references,

* the run's exported SavedModel (`RUN/export`, created with `seqtasks.runtime.commands.export` when missing, or
  `--export-dir`): its `transcribe(waveform, sample_rate)` signature is fed each file's original audio at its
  native rate, so resampling, features, network and the configured CTC decoder (`eval.decoder`) all run in the
  graph, as a deployed model would;
* with `--lm LM.npz`, the in-process decoding with the character LM (`SpeechRecognitionTask.transcribe` under
  `--set eval.lm_path=LM.npz`, exactly what `seqtasks evaluate --set eval.lm_path=LM.npz` does: logits in the
  graph, prefix beam search with shallow fusion in numpy, `eval.lm_weight` / `eval.word_bonus` from the run);
* PocketSphinx 5 (`pip install 'seqtasks[bench]'`) with its bundled en-US acoustic model, CMU dictionary and
  3-gram LM, default config, no training or adaptation: 16 kHz mono int16 audio (resampled with soxr through
  `seqtasks.audio.io.load_audio` when the file has another rate), one utterance per `start_utt`/`end_utt`.

The utterances are the run's own held-out test split, the ones `seqtasks evaluate --workdir RUN` scores
(`load_trained` + `prepare_data` + the task's evaluation source: `data.test_path`, else the seeded
`data.test_fraction`, else the validation data; for FSDD runs the seeded connected-digit test utterances), or
the manifests/folders given with `--data`. References and every hypothesis go through the task's transcript
normaliser (`seqtasks.data.transcripts.normalize_transcript`: lower case, punctuation stripped, apostrophes kept)
before jiwer scores them. RTF = seconds spent in the recogniser / seconds of audio, one utterance per call,
after one untimed warm-up utterance per system (PocketSphinx: decoding only; the SavedModel: the signature call,
in-graph resampling included; the LM path: network + LM beam search on audio already at the model's rate).

The run directory is only read, except that a missing `RUN/export` is written (use `--export-dir` to put it
elsewhere).

    python bench/speech_peer.py --run runs/vctk                        # the run's test split
    python bench/speech_peer.py --run runs/vctk --lm lm.npz --show 5 --json /tmp/peer.json
    python bench/speech_peer.py --run runs/vctk --data ../shared/data/speech/vctk_p239/manifest.csv
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import seqtasks  # noqa: F401, E402 - before TensorFlow: keeps its start-up notices quiet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from seqtasks.audio.io import audio_info, load_audio, resample_waveform  # noqa: E402
from seqtasks.data.transcripts import normalize_transcript  # noqa: E402

_PS_RATE = 16000
_INSTALL_FIX = "pip install 'seqtasks[bench]'"


@dataclass
class Item:
    """One held-out utterance: its name, reference, and audio at its original rate and at the model's rate."""

    name: str
    reference: str
    audio: np.ndarray
    rate: int
    model_audio: np.ndarray

    @property
    def seconds(self) -> float:
        return self.audio.size / self.rate


@dataclass
class System:
    """A recogniser's results on the items: hypotheses (normalised) and seconds spent per item."""

    name: str
    decoder: str
    hypotheses: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)


def _pocketsphinx_decoder():
    try:
        from pocketsphinx import Decoder
    except ImportError:
        raise SystemExit(f"bench/speech_peer.py: PocketSphinx is not installed. Fix: {_INSTALL_FIX}") from None
    return Decoder(loglevel="FATAL")  # the bundled en-US acoustic model, dictionary and LM; 16 kHz


def _int16(waveform: np.ndarray) -> bytes:
    return np.clip(np.round(waveform * 32768.0), -32768, 32767).astype("<i2").tobytes()


def _items(task, paths: list[str] | None, limit: int) -> list[Item]:
    """The utterances `seqtasks evaluate` scores (the run's test split, or `paths`), with their original audio."""
    if not paths:
        task.prepare_evaluation_data()
    source, report = task._evaluation_source(paths)
    count = len(source) if limit <= 0 else min(limit, len(source))
    items = []
    for i in range(count):
        model_audio = source.waveform(i)
        if model_audio is None:  # undecodable under data.on_bad_audio=skip: reported below, as evaluate does
            continue
        utterance = source.entries[i].utterance if hasattr(source, "entries") else None
        if utterance is not None and utterance.path is not None:
            _, native = audio_info(utterance.path)
            audio, rate, name = load_audio(utterance.path, native), native, str(utterance.path)
        else:  # generated audio (connected digits) exists only at the model's rate
            audio, rate = np.asarray(model_audio, np.float32), task.sample_rate
            name = utterance.name if utterance is not None else f"{task.config.data.dataset} test #{i}"
        items.append(Item(name, normalize_transcript(source.transcript(i)), audio, rate, model_audio))
    if report.count:
        print(f"evaluation data: {report.summary()}", file=sys.stderr, flush=True)
    if not items:
        raise SystemExit("bench/speech_peer.py: no utterance to score")
    return items


def _timed(system: System, items: list[Item], recognise: Callable[[Item], str]) -> System:
    recognise(items[0])  # warm-up (graph tracing, caches), not timed
    for item in items:
        start = time.perf_counter()
        text = recognise(item)
        system.seconds.append(time.perf_counter() - start)
        system.hypotheses.append(normalize_transcript(text))
    return system


def _exported(run: Path, export_dir: str | None, task, items: list[Item]) -> System:
    import tensorflow as tf

    from seqtasks.runtime.commands import export

    target = Path(export_dir).expanduser() if export_dir else run / task.config.export.dir
    if not (target / "saved_model.pb").is_file():
        print(f"exporting {run} to {target}", file=sys.stderr, flush=True)
        target = export(run, "speech_recognition", export_dir=target, fmt="saved_model", quantize="none")
    model = tf.saved_model.load(str(target))
    spec_file = target / "assets" / "speech_model.json"  # what the export decodes with (not the run's --set)
    spec = json.loads(spec_file.read_text(encoding="utf-8")) if spec_file.is_file() else {}
    kind = spec.get("decoder", "?")
    words = f"{len(spec.get('lexicon') or [])} words"
    if spec.get("lexicon_spellings"):
        words += " spelt in phonemes"
    if spec.get("lexicon_counts"):
        lm = "bigram" if spec.get("lexicon_bigrams") else "unigram"
        words += f", {lm} weight {spec.get('lexicon_lm_weight'):g}, bonus {spec.get('lexicon_word_bonus'):g}"
    decoder = {"lexicon": f"lexicon ({words})",
               "beam": f"beam {spec.get('beam_width')}"}.get(kind, kind)

    def recognise(item: Item) -> str:
        out = model.transcribe(waveform=tf.constant(item.audio, tf.float32), sample_rate=tf.constant(item.rate, tf.int32))
        return out["transcript"].numpy().decode("utf-8")

    return _timed(System("seqtasks (SavedModel)", f"CTC {decoder}, in graph"), items, recognise)


def _with_lm(task, model, items: list[Item]) -> System:
    e = task.config.eval
    decoder = f"CTC beam {e.beam_width} + char {Path(e.lm_path).name} (weight {e.lm_weight:g}, bonus {e.word_bonus:g})"
    return _timed(System("seqtasks (in-process)", decoder), items,
                  lambda item: task.transcribe(model, [item.model_audio])[0])


def _pocketsphinx(items: list[Item]) -> System:
    decoder = _pocketsphinx_decoder()
    audio = [_int16(item.audio if item.rate == _PS_RATE else resample_waveform(item.audio, item.rate, _PS_RATE))
             for item in items]
    by_item = {id(item): a for item, a in zip(items, audio, strict=True)}

    def recognise(item: Item) -> str:
        decoder.start_utt()
        decoder.process_raw(by_item[id(item)], full_utt=True)
        decoder.end_utt()
        hypothesis = decoder.hyp()
        return hypothesis.hypstr if hypothesis is not None else ""

    return _timed(System("PocketSphinx 5", "en-US acoustic model + dict + 3-gram LM (bundled)"), items, recognise)


def _scores(references: list[str], hypotheses: list[str]) -> dict[str, float]:
    import jiwer

    return {"cer": float(jiwer.cer(references, hypotheses)), "wer": float(jiwer.wer(references, hypotheses))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--run", help="trained speech_recognition run directory")
    parser.add_argument("--data", nargs="+", help="manifests/folders to score instead of the run's test split")
    parser.add_argument("--lm", help="character LM (.npz): also score the in-process decoding with it")
    parser.add_argument("--export-dir", help="the run's SavedModel export (default RUN/export; made if missing)")
    parser.add_argument("--limit", type=int, default=0, help="score only the first N utterances (0 = all)")
    parser.add_argument("--show", type=int, default=0, help="print N example utterances")
    parser.add_argument("--json", help="write per-utterance hypotheses and the scores to this file")
    parser.add_argument("--no-pocketsphinx", action="store_true", help="score the seqtasks systems only")
    parser.add_argument("--set", action="append", default=[], metavar="SECTION.KEY=VALUE",
                        help="override the run's config (e.g. data.path=[...] when its data moved)")
    args = parser.parse_args()
    if not args.run:
        # `make bench` runs every script without arguments; this one needs a trained model.
        print("bench/speech_peer.py: skipped, it needs a trained speech run: --run RUN [--lm LM.npz] "
              "(README, speech recognition)")
        return
    if not args.no_pocketsphinx:
        _pocketsphinx_decoder()  # fail before the slow part when the package is missing

    from seqtasks.runtime.commands import load_trained

    run = Path(args.run).expanduser()
    overrides = [*args.set, *([f"eval.lm_path={Path(args.lm).expanduser().resolve()}"] if args.lm else [])]
    task, model = load_trained(run, "speech_recognition", overrides)
    items = _items(task, args.data, args.limit)
    audio_seconds = sum(item.seconds for item in items)
    print(f"{len(items)} utterances, {audio_seconds:.1f} s of audio ({'--data' if args.data else 'test split'} "
          f"of {run})", file=sys.stderr, flush=True)

    systems = [_exported(run, args.export_dir, task, items)]
    if args.lm:
        systems.append(_with_lm(task, model, items))
    if not args.no_pocketsphinx:
        systems.append(_pocketsphinx(items))

    references = [item.reference for item in items]
    print("| system | decoder | CER | WER | RTF | utterances |")
    print("| --- | --- | --- | --- | --- | --- |")
    summary = []
    for s in systems:
        scores = _scores(references, s.hypotheses)
        rtf = sum(s.seconds) / audio_seconds
        summary.append({"system": s.name, "decoder": s.decoder, **scores, "rtf": rtf, "utterances": len(items)})
        print(f"| {s.name} | {s.decoder} | {100 * scores['cer']:.1f} % | {100 * scores['wer']:.1f} % | "
              f"{rtf:.3f} | {len(items)} |")
    for i, item in enumerate(items[: max(0, args.show)]):
        print(f"\n{item.name} ({item.seconds:.1f} s)")
        print(f"  {'reference':>22}: {item.reference}")
        for s in systems:
            print(f"  {s.name:>22}: {s.hypotheses[i]}")
    if args.json:
        data = {
            "run": str(run), "data": args.data or "test split", "audio_seconds": audio_seconds, "systems": summary,
            "utterances": [
                {"name": item.name, "seconds": item.seconds, "reference": item.reference,
                 "hypotheses": {s.name: s.hypotheses[i] for s in systems},
                 "compute_seconds": {s.name: s.seconds[i] for s in systems}}
                for i, item in enumerate(items)
            ],
        }
        Path(args.json).write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
