"""Generation speed: exported `generate` and in-process stateful generation vs re-feeding a 100-character window.

The baseline is the keras-io char-RNN method: for every new character, run the model over the last 100 characters
from a zero state and keep the last position's logits. seqtasks carries the recurrent state instead, so each new
character costs one step. All three run the same model, in this process, one sample at a time; the printed
ratios are what the README reports.

    python bench/generation.py                      # default architecture (GRU 512), untrained weights
    python bench/generation.py --run runs/text_generation   # a trained run's model

Speed does not depend on the weights, only on the architecture.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import seqtasks  # noqa: F401, E402 - before TensorFlow: keeps its start-up notices quiet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from seqtasks.decoding.generation import Generator  # noqa: E402
from seqtasks.decoding.samplers import TemperatureSampler  # noqa: E402
from seqtasks.runtime import commands  # noqa: E402
from seqtasks.runtime.export import save_serving_module  # noqa: E402
from seqtasks.tasks.text_generation import (  # noqa: E402
    CharLanguageModel,
    CharVocabulary,
    TextGenerationConfig,
    TextGenerationServing,
)

WINDOW = 100
PROMPT = "ROMEO:\n"


def refeed_window(model: CharLanguageModel, vocab: CharVocabulary, num_chars: int, temperature: float) -> str:
    """keras-io style: every character re-reads the last WINDOW characters from a zero state."""

    @tf.function(input_signature=[tf.TensorSpec([1, None], tf.int32)])
    def next_logits(window):
        return model(window, training=False)[:, -1, :]

    sampler = TemperatureSampler(temperature)
    ids = list(vocab.encode(PROMPT))
    for _ in range(num_chars):
        window = np.array([ids[-WINDOW:]], np.int32)
        ids.append(int(sampler(next_logits(window))[0]))
    return vocab.decode(ids[len(PROMPT):])


def rate(fn, num_chars: int, repeats: int = 3) -> float:
    fn(min(num_chars, 10))  # trace / warm up
    best = 0.0
    for _ in range(repeats):
        start = time.perf_counter()
        fn(num_chars)
        best = max(best, num_chars / (time.perf_counter() - start))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained text_generation run directory (default: fresh default model)")
    parser.add_argument("--chars", type=int, default=400, help="characters per timed generation")
    args = parser.parse_args()

    if args.run:
        task, model = commands.load_trained(args.run)
        vocab, cfg = task.vocab, task.config.model
    else:
        cfg = TextGenerationConfig().model
        vocab = CharVocabulary.build("\n !$&',-.3:;?ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
        model = CharLanguageModel(vocab.size, cfg.embedding_dim, cfg.cell_type, cfg.units, cfg.num_layers)
        model(np.zeros((1, 2), np.int32))
    print(f"model: {cfg.cell_type} {cfg.num_layers}x{cfg.units}, vocabulary {vocab.size}; window baseline {WINDOW}")

    temperature = 0.8
    generator = Generator(model, vocab, TemperatureSampler(temperature))
    with tempfile.TemporaryDirectory() as tmp:
        save_serving_module(TextGenerationServing(model, vocab), tmp + "/export")
        exported = tf.saved_model.load(tmp + "/export")

        def run_exported(n):
            return exported.generate(prompt=tf.constant(PROMPT), num_chars=tf.constant(n),
                                     temperature=tf.constant(temperature))["text"]

        results = {
            "exported generate (in-graph loop)": rate(run_exported, args.chars),
            "in-process stateful (Generator)": rate(lambda n: generator.generate(PROMPT, n), args.chars),
            f"re-feed {WINDOW}-char window (baseline)": rate(
                lambda n: refeed_window(model, vocab, n, temperature), max(args.chars // 4, 50)),
        }
    base = results[f"re-feed {WINDOW}-char window (baseline)"]
    print(f"{'method':40s} {'chars/s':>10s} {'vs baseline':>12s}")
    for name, value in results.items():
        print(f"{name:40s} {value:10.1f} {value / base:11.1f}x")


if __name__ == "__main__":
    main()
