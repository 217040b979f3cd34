"""SavedModel vs LiteRT vs ONNX, per task: file size, latency per item on this CPU, and the task's metric on the
same test items, all measured in one run.

For every task the benchmark exports one trained run in each format (`seqtasks.runtime.commands.export`, the
code behind `seqtasks export --format ...`), then feeds the same test items one at a time

* to the SavedModel (`tf.saved_model.load`) through the signature that matches the runner
  method: `score` (text generation), `translate_greedy` (translation), `transcribe_batch`
  (speech recognition) and `serving_default` (sentiment, memory), and
* to each LiteRT/ONNX export through its own runner (`DIR/seqtasks_portable.py`, numpy + the
  format's runtime): `score`, `translate`, `transcribe`, `predict`,

and scores what comes back with the task's metric: bits/char (text generation), accuracy
(sentiment), BLEU (translation, greedy), CER (speech recognition, the run's configured CTC decoder
in every format: on FSDD the digit lexicon) and MSE (memory, adding problem). "same output" is the
share of items whose output equals the SavedModel's (labels, texts, transcripts; numbers within
1e-3 relative). Latency is the mean wall time per item after one warm-up item, including the
pre/post-processing that runs outside the model. `--threads N` (default 1) gives every runtime the
same CPU threads: LiteRT's and onnxruntime's thread count, and TensorFlow's intra-op threads
(inter-op 1), set before any TensorFlow op runs (so quick training runs use them too);
`--threads 0` leaves all three at their defaults.

Runs come from `--run TASK=RUN_DIR`; a task without one is first trained for `--train-minutes` on its default
config (real data from `--data-dir` / $SEQTASKS_DATA_DIR; text generation, sentiment and translation need it,
memory generates its own), so the metrics of such quick runs are low: the benchmark compares formats, not models.

    python bench/export_formats.py --data-dir ../shared/data                    # train quick runs, then compare
    python bench/export_formats.py --run sentiment=runs/sentiment --tasks sentiment --items 500
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import seqtasks  # noqa: F401 - before TensorFlow: keeps its start-up notices quiet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from seqtasks.runtime import commands  # noqa: E402

TASKS = ("memory", "text_generation", "sentiment", "translation", "speech_recognition")
FORMATS = ("saved_model", "litert", "onnx")
# Quick training runs (a run per task when --run does not give one); the budget comes from --train-minutes.
QUICK = {
    "memory": ["data.sequence_length=30", "train.steps_per_epoch=100"],
    "text_generation": [],
    "sentiment": ["data.max_length=200"],
    "translation": [],
    "speech_recognition": [],
}


@dataclass
class Items:
    """The test items of one task and how to score predictions of them."""

    inputs: list[Any]
    references: list[Any]
    metric: str
    score: Callable[[list[Any], list[Any]], float]
    saved: Callable[[Any, Any], Any]  # (loaded SavedModel, input) -> prediction
    portable: Callable[[Any, Any], Any]  # (runner pipeline, input) -> prediction


def _sample(rng: np.random.Generator, values: list[Any], n: int) -> list[Any]:
    if len(values) <= n:
        return list(values)
    return [values[i] for i in sorted(rng.choice(len(values), n, replace=False))]


def memory_items(task: Any, n: int) -> Items:
    from seqtasks.tasks.memory import data as md

    x, y = task._fixed_set(md.TEST, n)
    x, y = x.numpy(), y.numpy()
    if task.problem != "adding":
        raise SystemExit("the memory benchmark uses the adding problem (data.problem=adding)")
    return Items(
        inputs=[x[i : i + 1] for i in range(len(x))],
        references=[float(v) for v in y[:, 0]],
        metric="MSE",
        score=lambda p, r: float(np.mean((np.asarray(p) - np.asarray(r)) ** 2)),
        saved=lambda m, x: float(m.signatures["serving_default"](sequence=tf.constant(x))["sum"].numpy()[0]),
        portable=lambda p, x: float(p.predict(x)[0]),
    )


def text_generation_items(task: Any, n: int, chunk: int = 256) -> Items:
    text = task.vocab.decode(task.val_ids)
    chunks = [text[i : i + chunk] for i in range(0, len(text) - chunk, chunk)]
    chunks = _sample(np.random.default_rng(0), chunks, n)

    def bits(predictions: list[float], references: list[str]) -> float:
        counts = [len(t) - 1 for t in references]
        return float(np.dot(predictions, counts) / sum(counts))

    return Items(
        inputs=chunks,
        references=chunks,
        metric="bits/char",
        score=bits,
        saved=lambda m, t: float(m.score(text=tf.constant(t))["bits_per_char"].numpy()),
        portable=lambda p, t: float(p.score(t)),
    )


def sentiment_items(task: Any, n: int) -> Items:
    data = task._load_split("test" if task.has_test_split() else "train", task.class_names)
    if not task.has_test_split():
        raise SystemExit("sentiment: the run's data has no test split (set data.test_path)")
    pairs = _sample(np.random.default_rng(0), list(zip(data.texts, data.labels, strict=True)), n)
    return Items(
        inputs=[t for t, _ in pairs],
        references=[label for _, label in pairs],
        metric="accuracy",
        score=lambda p, r: float(np.mean([a == b for a, b in zip(p, r, strict=True)])),
        saved=lambda m, t: m.signatures["serving_default"](text=tf.constant([t]))["label"].numpy()[0].decode(),
        portable=lambda p, t: p.predict([t])["labels"][0],
    )


def translation_items(task: Any, n: int) -> Items:
    import sacrebleu

    pairs = _sample(np.random.default_rng(0), task.load_splits().test, n)
    return Items(
        inputs=[p.source for p in pairs],
        references=[p.target for p in pairs],
        metric="BLEU (greedy)",
        score=lambda p, r: float(sacrebleu.corpus_bleu(p, [r]).score),
        saved=lambda m, s: m.translate_greedy(source=tf.constant([s]))["translation"].numpy()[0].decode(),
        portable=lambda p, s: p.translate([s])[0],
    )


def speech_recognition_items(task: Any, n: int) -> Items:
    import jiwer

    source, _ = task._evaluation_source(None)
    indices = _sample(np.random.default_rng(0), list(range(len(source))), n)
    waves = [source.waveform(i) for i in indices]
    keep = [i for i, w in enumerate(waves) if w is not None]
    rate = task.sample_rate

    def saved(m: Any, w: np.ndarray) -> str:
        out = m.transcribe_batch(waveforms=tf.constant(w[None, :]), lengths=tf.constant([w.size], tf.int32))
        return out["transcripts"].numpy()[0].decode()

    return Items(
        inputs=[waves[i] for i in keep],
        references=[source.transcript(indices[i]) for i in keep],
        metric="CER",
        score=lambda p, r: float(jiwer.cer(r, p)),
        saved=saved,
        portable=lambda p, w: p.transcribe(w, rate),
    )


ITEMS = {
    "memory": memory_items,
    "text_generation": text_generation_items,
    "sentiment": sentiment_items,
    "translation": translation_items,
    "speech_recognition": speech_recognition_items,
}


def load_runner(folder: Path, threads: int | None) -> Any:
    """The export's own `seqtasks_portable.py`, imported from its folder (as a user would)."""
    spec = importlib.util.spec_from_file_location(f"seqtasks_portable_{abs(hash(folder))}", folder / "seqtasks_portable.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.load(folder, num_threads=threads)


def folder_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def model_size(path: Path, fmt: str) -> int:
    """Bytes of what the model itself takes: the SavedModel (graph + variables) or the .tflite / .onnx file(s)."""
    if fmt == "saved_model":
        return folder_size(path / "variables") + (path / "saved_model.pb").stat().st_size
    return sum(p.stat().st_size for p in path.iterdir() if p.suffix in (".tflite", ".onnx"))


def timed(fn: Callable[[Any], Any], inputs: list[Any]) -> tuple[list[Any], float]:
    fn(inputs[0])  # warm-up: tracing, allocation
    start = time.perf_counter()
    out = [fn(x) for x in inputs]
    return out, (time.perf_counter() - start) / len(inputs)


def bench_task(task_name: str, run: Path, out_root: Path, n: int, quantize: list[str], threads: int | None) -> list[dict[str, Any]]:
    task, _ = commands.load_trained(run)
    if task_name != "memory":
        task.prepare_data()
    items = ITEMS[task_name](task, n)
    rows = []
    for fmt in FORMATS:
        for q in ["none"] if fmt == "saved_model" else quantize:
            target = out_root / task_name / f"{fmt}-{q}"
            start = time.perf_counter()
            commands.export(run, export_dir=target, fmt=fmt, quantize=q)
            export_s = time.perf_counter() - start
            if fmt == "saved_model":
                loaded = tf.saved_model.load(str(target))
                predictions, latency = timed(lambda x, m=loaded: items.saved(m, x), items.inputs)
            else:
                pipeline = load_runner(target, threads)
                predictions, latency = timed(lambda x, p=pipeline: items.portable(p, x), items.inputs)
            row = {
                "task": task_name, "format": fmt, "quantize": q, "model_bytes": model_size(target, fmt),
                "latency_ms": 1000 * latency, "metric": items.metric,
                "value": items.score(predictions, items.references), "items": len(items.inputs),
                "export_s": export_s,
            }
            if fmt == "saved_model":
                reference = predictions
            else:
                row["same_as_saved_model"] = float(np.mean([_same(a, b) for a, b in zip(predictions, reference, strict=True)]))
            print(json.dumps(row), flush=True)
            rows.append(row)
    return rows


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float):
        return math.isclose(a, b, rel_tol=1e-3, abs_tol=1e-4)
    return a == b


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| task | format | weights | model size | latency / item | metric | value | same output as SavedModel |",
             "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        same = "-" if r["format"] == "saved_model" else f"{r['same_as_saved_model']:.1%}"
        weights = "float32" if r["quantize"] == "none" else r["quantize"]
        lines.append(f"| {r['task']} | {r['format']} | {weights} | {r['model_bytes'] / 2**20:.2f} MiB | "
                     f"{r['latency_ms']:.2f} ms | {r['metric']} ({r['items']} items) | {r['value']:.4g} | {same} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="append", default=[], metavar="TASK=RUN_DIR", help="a trained run per task")
    parser.add_argument("--tasks", nargs="+", default=list(TASKS), choices=TASKS)
    parser.add_argument("--data-dir", default=os.environ.get("SEQTASKS_DATA_DIR", ""),
                        help="local data (shared/data layout) for the quick training runs")
    parser.add_argument("--train-minutes", type=float, default=3.0, help="budget of each quick training run")
    parser.add_argument("--items", type=int, default=200, help="test items per task")
    parser.add_argument("--quantize", nargs="+", default=["none", "dynamic_int8"],
                        choices=["none", "float16", "dynamic_int8"], help="LiteRT/ONNX weight formats to compare")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPU threads of LiteRT, ONNX and TensorFlow (0 = their defaults)")
    parser.add_argument("--workdir", help="where quick runs and exports go (default: a temporary folder)")
    parser.add_argument("--json", help="also write the rows to this JSON file")
    args = parser.parse_args(argv)

    runs = {}
    for spec in args.run:
        name, _, path = spec.partition("=")
        if name not in TASKS or not path:
            parser.error(f"--run takes TASK=RUN_DIR with TASK one of {', '.join(TASKS)}, got {spec!r}")
        runs[name] = Path(path)
    if args.threads < 0:
        parser.error(f"--threads must be 0 (the runtimes' defaults) or more, got {args.threads}")
    if args.threads == 0:
        args.threads = None
    else:  # the SavedModel gets the runtimes' thread count; must precede any TensorFlow op
        tf.config.threading.set_intra_op_parallelism_threads(args.threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    with tempfile.TemporaryDirectory(prefix="seqtasks-bench-formats-") as tmp:
        root = Path(args.workdir or tmp)
        rows: list[dict[str, Any]] = []
        for name in args.tasks:
            run = runs.get(name)
            if run is None:
                run = root / "runs" / name
                if not (run / "metrics.json").is_file():
                    print(f"== training a quick {name} run ({args.train_minutes} min) in {run}", flush=True)
                    overrides = [*QUICK[name], f"train.max_minutes={args.train_minutes}", "export.after_train=false",
                                 "train.verbose=epoch"]
                    commands.train(name, run, overrides=overrides, data_dir=args.data_dir or None)
            print(f"== {name}: {run}", flush=True)
            rows += bench_task(name, run, root / "exports", args.items, args.quantize, args.threads)
        print(table(rows))
        if args.json:
            Path(args.json).write_text(json.dumps(rows, indent=2) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
