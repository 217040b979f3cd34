"""Translation decoding speed: sentences per second for greedy and beam-5 search, in-process and exported.

In-process is the task's own translator (`TranslationServing`'s `tf.function`s called from Python); exported is
the same model saved as a SavedModel and reloaded with `tf.saved_model.load` (the `translate` and
`translate_greedy` signatures), timed alternately in the same process on the same sentences, in batches of
`--batch-size` length-sorted sentences.

With `--workdir RUN` the trained run is used. Otherwise a default-config model is built untrained on
tokenizers trained from the local English-French pairs (`--data-dir`, `translation/eng-fra.tsv`) or synthetic
sentences; an untrained model rarely stops before the maximum length, so its numbers are a worst case.

    python bench/translation.py                                  # untrained default model, 512 sentences
    python bench/translation.py --workdir runs/translation --sentences 2000
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import seqtasks  # noqa: F401, E402 - before TensorFlow: keeps its start-up notices quiet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from seqtasks.config import load_config  # noqa: E402
from seqtasks.data.eng_fra import ENG_FRA  # noqa: E402
from seqtasks.runtime import RunDir, load_trained  # noqa: E402
from seqtasks.runtime.export import save_serving_module  # noqa: E402
from seqtasks.tasks.translation import TranslationConfig, TranslationTask  # noqa: E402
from seqtasks.tasks.translation.data import Pair, read_pairs, split_pairs  # noqa: E402
from seqtasks.tasks.translation.preprocessor import TranslationPreprocessor  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "translation.yaml"


def local_pairs(data_dir: str | None) -> list[Pair] | None:
    from seqtasks.data import find_local_files

    try:
        found = find_local_files(ENG_FRA, SimpleNamespace(data_dir=data_dir or ""))
    except Exception:  # noqa: BLE001 - a wrong --data-dir falls back to synthetic sentences
        found = None
    return read_pairs(found[0]) if found else None


def synthetic_pairs(n: int, seed: int = 0) -> list[Pair]:
    rng = np.random.default_rng(seed)
    words = [
        "the",
        "cat",
        "dog",
        "is",
        "was",
        "here",
        "there",
        "big",
        "small",
        "I",
        "you",
        "see",
        "want",
        "go",
    ]
    mots = [
        "le",
        "chat",
        "chien",
        "est",
        "était",
        "ici",
        "là",
        "grand",
        "petit",
        "je",
        "tu",
        "vois",
        "veux",
    ]
    return [
        Pair(" ".join(rng.choice(words, size=k)) + ".", " ".join(rng.choice(mots, size=k)) + ".", i)
        for i, k in enumerate(rng.integers(2, 9, size=n))
    ]


def untrained_task(
    data_dir: str | None, workdir: Path
) -> tuple[TranslationTask, object, list[str]]:
    config = load_config(TranslationConfig, [CONFIG])
    pairs = local_pairs(data_dir)
    source = "local eng-fra pairs"
    if pairs is None:
        pairs, source = synthetic_pairs(5000), "synthetic pairs"
    splits = split_pairs(pairs, 0.05, 0.05, seed=0)
    task = TranslationTask(config, RunDir.at(workdir))
    task.preprocessor = TranslationPreprocessor.from_pairs(
        splits.train, source_vocab_size=config.data.source_vocab_size
    )
    print(f"untrained default model, tokenizers from {source}")
    return task, task.build_model(), [p.source for p in splits.test]


def per_second(fn, batches: list[tf.Tensor], repeats: int) -> float:
    fn(batches[0])  # trace / warm up
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for batch in batches:
            fn(batch)["translation"].numpy()
        best = min(best, time.perf_counter() - start)
    return sum(int(b.shape[0]) for b in batches) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", help="a trained translation run (default: an untrained model)")
    parser.add_argument("--data-dir", default=os.environ.get("SEQTASKS_DATA_DIR", ""))
    parser.add_argument("--sentences", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        if args.workdir:
            task, model = load_trained(args.workdir, "translation")
            task.prepare_data()
            sources = [p.source for p in task.splits.test]
            print(f"trained run {args.workdir}")
        else:
            task, model, sources = untrained_task(args.data_dir, Path(tmp))
        sources = sorted(sources[: args.sentences], key=len)
        batches = [
            tf.constant(sources[i : i + args.batch_size])
            for i in range(0, len(sources), args.batch_size)
        ]
        serving = task.serving(model)
        exported = tf.saved_model.load(str(save_serving_module(serving, Path(tmp) / "export")))
        beam = task.config.eval.beam_size
        rows = [
            ("greedy, in-process", serving.translate_greedy),
            ("greedy, exported", exported.signatures["translate_greedy"]),
            (f"beam {beam}, in-process", serving.translate),
            (f"beam {beam}, exported", exported.signatures["translate"]),
        ]
        speeds = {}
        for name, fn in rows:
            call = (lambda f: lambda b: f(source=b))(fn) if "exported" in name else fn
            speeds[name] = per_second(call, batches, args.repeats)
            print(f"{name:24s} {speeds[name]:8.1f} sentences/s", flush=True)
        print(
            f"beam/greedy in-process: {speeds[f'beam {beam}, in-process'] / speeds['greedy, in-process']:.2f}x; "
            f"exported/in-process (beam): {speeds[f'beam {beam}, exported'] / speeds[f'beam {beam}, in-process']:.2f}x"
        )


if __name__ == "__main__":
    main()
