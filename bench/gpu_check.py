"""GPU check: what a CPU machine cannot verify, in one script (`make gpu-check`, about 5 minutes on one H100/H200).

Checks, each reported PASS/FAIL with its numbers:

1. cuDNN == loop: `LSTM` and `GRU` on the cuDNN kernel against the same layers with `use_cudnn=False` (same
   weights), forward outputs and gradients (inputs and every weight), for no mask, right-padded, left-padded and
   fully-masked rows, `go_backwards`, `return_state` and `Bidirectional`; and whether the traced graph really
   contains `CudnnRNNV3` (so equality is not two runs of the loop; left-padded and fully-masked batches take the
   loop branch of the same graph at run time, by design).
2. `explain()` reports `cudnn` for eligible layers and the loop with its reasons for the others.
3. Mixed precision: `mixed_float16` on cuDNN gives float16 outputs close to float32, with finite gradients.
4. `MirroredStrategy` on one GPU: `seqtasks train --task text_generation --set train.strategy=mirrored` for a few
   steps on a local text file, then `evaluate` and `export`.
5. `bench/layers.py` ratios against `keras.layers.LSTM`/`GRU` on cuDNN (B=64, T=100, D=128, H=256/512).

    python bench/gpu_check.py [--out DIR] [--skip-bench]

Writes DIR/gpu_check.json and DIR/gpu_check.md (DIR: $OUT if set, else runs/gpu_check); exits 1 if a check
failed, 2 if no GPU is visible.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import seqtasks  # noqa: F401 - before TensorFlow: keeps its start-up notices quiet

tf.get_logger().setLevel("ERROR")  # one tf.function per layer under test: retracing notices are expected

import seqtasks.layers as sl  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
B, T, D, H = 4, 7, 5, 6
# float32 with TF32 off: the two paths differ only in summation order.
OUTPUT_ATOL, GRAD_ATOL = 2e-4, 1e-3


def _masks() -> dict:
    lengths = np.array([T, 3, 5, 1])
    right = np.arange(T)[None, :] < lengths[:, None]
    empty = right.copy()
    empty[3] = False
    return {"none": None, "right-padded": right, "left-padded": right[:, ::-1].copy(), "fully-masked row": empty}


def _build(make, x):
    fast, slow = make("auto"), make(False)
    fast.build(x.shape)
    slow.build(x.shape)
    rng = np.random.default_rng(3)
    # Non-zero biases, so that cuDNN's bias layout is exercised.
    slow.set_weights([w + rng.normal(0, 0.3, w.shape).astype(w.dtype) for w in fast.get_weights()])
    fast.set_weights(slow.get_weights())
    return fast, slow


def _outputs_and_grads(layer, x, mask):
    x = tf.convert_to_tensor(x)

    @tf.function(reduce_retracing=True)
    def run(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            out = layer(x, mask=None if mask is None else tf.constant(mask))
            outs = tf.nest.flatten(out)
            loss = tf.add_n([tf.reduce_sum(tf.sin(3.0 * o) + 0.5 * o) for o in outs])
        grads = tape.gradient(loss, [x, *layer.trainable_variables])
        return outs, grads

    outs, grads = run(x)
    graph = run.get_concrete_function(x).graph.as_graph_def()
    ops = {node.op for node in graph.node}
    for fn in graph.library.function:
        ops |= {node.op for node in fn.node_def}
    return [o.numpy() for o in outs], [g.numpy() for g in grads], "CudnnRNNV3" in ops


def check_cudnn_equality() -> dict:
    tf.config.experimental.enable_tensor_float_32_execution(False)  # TF32 would blur the comparison
    x = np.random.default_rng(0).normal(size=(B, T, D)).astype("float32")
    rows, ok = [], True
    for name in ("LSTM", "GRU"):
        for wrap in (False, True):
            for go_backwards in (False, True):
                def make(use_cudnn, name=name, wrap=wrap, go_backwards=go_backwards):
                    layer = getattr(sl, name)(H, return_sequences=True, return_state=True, use_cudnn=use_cudnn,
                                              go_backwards=go_backwards)
                    return sl.Bidirectional(layer) if wrap else layer

                fast, slow = _build(make, x)
                for mask_name, mask in _masks().items():
                    fo, fg, used = _outputs_and_grads(fast, x, mask)
                    so, sg, _ = _outputs_and_grads(slow, x, mask)
                    out_err = max(float(np.abs(a - b).max()) for a, b in zip(fo, so, strict=True))
                    grad_err = max(float(np.abs(a - b).max()) for a, b in zip(fg, sg, strict=True))
                    passed = out_err < OUTPUT_ATOL and grad_err < GRAD_ATOL and used
                    ok &= passed
                    rows.append({
                        "layer": f"{'Bidirectional(' if wrap else ''}{name}{')' if wrap else ''}",
                        "go_backwards": go_backwards, "mask": mask_name, "cudnn_in_graph": used,
                        "max_output_diff": out_err, "max_grad_diff": grad_err, "pass": passed,
                    })
    return {"pass": ok, "rows": rows, "tolerance": {"output": OUTPUT_ATOL, "gradient": GRAD_ATOL}}


def check_explain() -> dict:
    inputs = keras.Input((None, D))
    x = sl.RecurrentStack("lstm", units=H, num_layers=2, bidirectional=True)(inputs)
    x = sl.GRU(H, return_sequences=True)(x)
    x = sl.GRU(H, recurrent_dropout=0.1)(x)
    lines = []
    rows = sl.explain(keras.Model(inputs, x), print_fn=lines.append)
    expected = ["cudnn"] * 5 + ["seqtasks-loop"]
    got = [r["path"] for r in rows]
    return {"pass": got == expected, "expected": expected, "got": got, "report": lines}


def check_mixed_precision() -> dict:
    x = np.random.default_rng(1).normal(size=(B, T, D)).astype("float32")
    results, ok = {}, True
    for name in ("LSTM", "GRU"):
        full = getattr(sl, name)(H, return_sequences=True)
        half = getattr(sl, name)(H, return_sequences=True, dtype="mixed_float16")
        full.build(x.shape)
        half.build(x.shape)
        half.set_weights(full.get_weights())
        with tf.GradientTape() as tape:
            out = half(x)
            loss = tf.reduce_sum(tf.cast(out, "float32") ** 2)
        grads = tape.gradient(loss, half.trainable_variables)
        diff = float(np.abs(out.numpy().astype("float32") - full(x).numpy()).max())
        finite = all(bool(np.isfinite(g.numpy()).all()) for g in grads)
        uses_cudnn = sl.explain(half, print_fn=None)[0]["path"] == "cudnn"
        passed = out.dtype == "float16" and diff < 1e-2 and finite and uses_cudnn
        ok &= passed
        results[name] = {"dtype": str(out.dtype), "max_diff_vs_float32": diff, "grads_finite": finite,
                         "cudnn": uses_cudnn, "pass": passed}
    return {"pass": ok, **results}


def check_mirrored_recipe(timeout: int = 240) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        run = Path(tmp) / "run"
        text = Path(tmp) / "corpus.txt"
        text.write_text((ROOT / "README.md").read_text(encoding="utf-8") * 2, encoding="utf-8")
        cli = [sys.executable, "-m", "seqtasks.cli"]
        commands = [
            cli + ["train", "--task", "text_generation", "--data", str(text), "--workdir", str(run),
                   "--set", "train.strategy=mirrored", "--set", "train.epochs=1", "--set", "train.steps_per_epoch=30",
                   "--set", "train.max_minutes=3", "--set", "model.units=256", "--set", "train.verbose=epoch"],
            cli + ["evaluate", "--workdir", str(run), "--data", str(text)],
            cli + ["export", "--workdir", str(run), "--out", str(Path(tmp) / "export")],
        ]
        steps = []
        for command in commands:
            start = time.perf_counter()
            proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
            steps.append({"command": " ".join(command[2:]), "rc": proc.returncode,
                          "seconds": round(time.perf_counter() - start, 1), "tail": (proc.stdout + proc.stderr)[-1500:]})
            if proc.returncode != 0:
                break
        metrics = json.loads((run / "metrics.json").read_text()) if (run / "metrics.json").is_file() else None
    ok = all(s["rc"] == 0 for s in steps) and len(steps) == len(commands)
    return {"pass": ok, "steps": steps, "final": (metrics or {}).get("final")}


def check_bench(timeout: int = 300) -> dict:
    command = [sys.executable, str(ROOT / "bench" / "layers.py"), "--layers", "LSTM", "GRU", "Bidirectional(LSTM)",
               "--hidden", "256", "512", "--long-steps", "0", "--repeats", "10"]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    table = [line for line in proc.stdout.splitlines() if line.startswith("|") or line.startswith("device")]
    ratios = [float(line.rsplit("|", 2)[-2].strip().rstrip("x")) for line in table if line.endswith("x |")]
    # Target: within 1.1x of Keras' own cuDNN layers.
    return {"pass": proc.returncode == 0 and bool(ratios) and max(ratios) <= 1.1, "table": table,
            "max_ratio": max(ratios) if ratios else None, "stderr_tail": proc.stderr[-1000:]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", default=os.environ.get("OUT") or str(ROOT / "runs" / "gpu_check"))
    parser.add_argument("--skip-bench", action="store_true")
    args = parser.parse_args()
    gpus = tf.config.list_physical_devices("GPU")
    if not gpus:
        print("gpu_check: no GPU visible to TensorFlow; run this on a machine with an NVIDIA GPU and CUDA")
        return 2
    info = tf.sysconfig.get_build_info()
    report = {"device": [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus],
              "tensorflow": tf.__version__, "keras": keras.__version__,
              "cuda": info.get("cuda_version"), "cudnn": info.get("cudnn_version")}
    checks = [("cudnn_equality", check_cudnn_equality), ("explain", check_explain),
              ("mixed_precision", check_mixed_precision), ("mirrored_recipe", check_mirrored_recipe)]
    if not args.skip_bench:
        checks.append(("bench_layers", check_bench))
    for name, fn in checks:
        start = time.perf_counter()
        try:
            result = fn()
        except Exception as error:  # a crash is a failed check, reported with the others
            result = {"pass": False, "error": f"{type(error).__name__}: {error}"}
        result["seconds"] = round(time.perf_counter() - start, 1)
        report[name] = result
        print(f"{'PASS' if result['pass'] else 'FAIL'}  {name}  ({result['seconds']} s)", flush=True)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n", encoding="utf-8")
    lines = [f"# GPU check: {', '.join(report['device'])}, TF {report['tensorflow']}, CUDA {report['cuda']}, "
             f"cuDNN {report['cudnn']}", ""]
    for name, _ in checks:
        lines.append(f"- {name}: {'PASS' if report[name]['pass'] else 'FAIL'} ({report[name]['seconds']} s)")
    eq = report["cudnn_equality"].get("rows", [])
    if eq:
        lines += ["", "| layer | go_backwards | mask | CudnnRNNV3 in graph | max output diff | max grad diff |",
                  "|---|---|---|---|---|---|"]
        lines += [f"| {r['layer']} | {r['go_backwards']} | {r['mask']} | {r['cudnn_in_graph']} | "
                  f"{r['max_output_diff']:.2e} | {r['max_grad_diff']:.2e} |" for r in eq]
    if "bench_layers" in report:
        lines += [""] + report["bench_layers"].get("table", [])
    (out / "gpu_check.md").write_text("\n".join(lines) + "\n", encoding="utf-8")
    print("\n".join(lines))
    return 0 if all(report[name]["pass"] for name, _ in checks) else 1


if __name__ == "__main__":
    sys.exit(main())
