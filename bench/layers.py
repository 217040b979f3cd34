"""Training-step benchmark: seqtasks' recurrent layers against Keras' built-ins, in the same process.

Each case builds `Input(T, D) -> layer -> mean` twice (seqtasks, then Keras with the same weights), compiles one
training step (forward, BPTT, Adam update) with `tf.function` (no XLA), and times the two alternately so that
machine noise hits both alike. Printed per case: ms/step, tokens/s, GFLOP/s (useful matmul work, training =
3x forward) and the ratio seqtasks / Keras (below 1 = seqtasks faster).

    python bench/layers.py                       # the README table (B=64, T=100, D=128, H=256 and 512; T=1000)
    python bench/layers.py --hidden 256 --steps 100 --layers LSTM --repeats 3
    python bench/layers.py --mode forward        # inference only (no tape, training=False)
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import seqtasks  # noqa: F401, E402 - before TensorFlow: keeps its start-up notices quiet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import seqtasks.layers as sl  # noqa: E402

GATES = {"SimpleRNN": 1, "LSTM": 4, "GRU": 3}


def make_layer(library, kind: str, units: int):
    if kind.startswith("Bidirectional"):
        inner = kind[len("Bidirectional(") : -1]
        return library.Bidirectional(getattr(library, inner)(units, return_sequences=True))
    return getattr(library, kind)(units, return_sequences=True)


def make_step(layer, batch: int, steps: int, features: int, mode: str = "train"):
    x = tf.random.stateless_normal((batch, steps, features), seed=(1, 2))
    layer.build(x.shape)
    if mode == "forward":

        @tf.function(jit_compile=False)
        def forward():
            return tf.reduce_mean(layer(x, training=False))

        return forward
    optimizer = keras.optimizers.Adam(1e-3)
    optimizer.build(layer.trainable_variables)

    @tf.function(jit_compile=False)
    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(layer(x, training=True)))
        grads = tape.gradient(loss, layer.trainable_variables)
        optimizer.apply(grads, layer.trainable_variables)
        return loss

    return train_step


def flops_per_step(kind: str, batch: int, steps: int, features: int, units: int, mode: str = "train") -> float:
    directions = 2 if kind.startswith("Bidirectional") else 1
    cell = kind[len("Bidirectional(") : -1] if directions == 2 else kind
    forward = 2 * batch * steps * (features + units) * GATES[cell] * units * directions
    return forward if mode == "forward" else 3 * forward


def time_pair(ours, theirs, repeats: int) -> tuple[float, float]:
    for fn in (ours, theirs):  # compile + warm up
        fn()
        fn()
    times_ours, times_theirs = [], []
    for _ in range(repeats):
        for fn, bucket in ((ours, times_ours), (theirs, times_theirs)):
            start = time.perf_counter()
            fn().numpy()
            bucket.append(time.perf_counter() - start)
    return statistics.median(times_ours), statistics.median(times_theirs)


def run_case(kind: str, batch: int, steps: int, features: int, units: int, repeats: int, mode: str = "train") -> dict:
    keras.utils.set_random_seed(0)
    ours_layer = make_layer(sl, kind, units)
    theirs_layer = make_layer(keras.layers, kind, units)
    ours = make_step(ours_layer, batch, steps, features, mode)
    theirs = make_step(theirs_layer, batch, steps, features, mode)
    ours_layer.set_weights(theirs_layer.get_weights())
    t_ours, t_theirs = time_pair(ours, theirs, repeats)
    flops = flops_per_step(kind, batch, steps, features, units, mode)
    return {
        "layer": kind,
        "T": steps,
        "H": units,
        "ours_ms": 1e3 * t_ours,
        "keras_ms": 1e3 * t_theirs,
        "tokens_per_s": batch * steps / t_ours,
        "gflops": flops / t_ours / 1e9,
        "ratio": t_ours / t_theirs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--features", type=int, default=128)
    parser.add_argument("--hidden", type=int, nargs="+", default=[256, 512])
    parser.add_argument("--steps", type=int, nargs="+", default=[100])
    parser.add_argument("--long-steps", type=int, default=1000, help="extra T run at the first hidden size (0: skip)")
    parser.add_argument(
        "--layers", nargs="+", default=["SimpleRNN", "LSTM", "GRU", "Bidirectional(LSTM)", "Bidirectional(GRU)"]
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--mode", choices=["train", "forward"], default="train",
                        help="train: forward + BPTT + Adam update; forward: inference only (training=False)")
    args = parser.parse_args()

    cases = [(k, t, h) for h in args.hidden for t in args.steps for k in args.layers]
    if args.long_steps:
        cases += [(k, args.long_steps, args.hidden[0]) for k in args.layers]
    print(f"device: {'GPU' if tf.config.list_logical_devices('GPU') else 'CPU'} "
          f"(threads: {os.cpu_count()}), B={args.batch}, D={args.features}, median of {args.repeats}, mode {args.mode}")
    header = "| layer | T | H | seqtasks ms/step | keras ms/step | seqtasks tokens/s | seqtasks GFLOP/s | ratio |"
    print(header)
    print("|" + "---|" * 8)
    for kind, steps, units in cases:
        repeats = max(2, args.repeats // 2) if steps > 200 else args.repeats
        r = run_case(kind, args.batch, steps, args.features, units, repeats, args.mode)
        print(f"| {r['layer']} | {r['T']} | {r['H']} | {r['ours_ms']:.1f} | {r['keras_ms']:.1f} | "
              f"{r['tokens_per_s']:.0f} | {r['gflops']:.1f} | {r['ratio']:.2f}x |", flush=True)


if __name__ == "__main__":
    np.set_printoptions(precision=3)
    main()
