"""Sentiment throughput: reviews per second for training and for the exported model's inference.

Training: the default model (BiGRU over sentencepiece ids, `recipes/configs/sentiment.yaml`) trained on
length-bucketed batches, against the same model on batches padded to `max_length` (what a plain Keras
pipeline does), timed alternately in the same process; printed as reviews/s and the ratio.
Inference: the exported SavedModel's `serving_default` (raw strings in, in-graph tokenization) against the
in-process path (tensorflow-text tokenization + length-sorted batches + the Keras model), reviews/s.

Reviews are the local IMDB copy when found (`--data-dir` / $SEQTASKS_DATA_DIR, `sentiment/imdb/train.tsv`),
else synthetic reviews with IMDB's length distribution, so `make bench` runs anywhere.

    python bench/sentiment.py                      # defaults: 40 training batches each way, 2,000 reviews inferred
    python bench/sentiment.py --data-dir ../shared/data --train-batches 100
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

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from seqtasks.config import load_config  # noqa: E402
from seqtasks.data import find_local_files  # noqa: E402
from seqtasks.data.bucketing import quantile_boundaries  # noqa: E402
from seqtasks.data.imdb import IMDB_SPECS  # noqa: E402
from seqtasks.errors import DataError  # noqa: E402
from seqtasks.runtime.export import save_serving_module  # noqa: E402
from seqtasks.tasks.sentiment import data as sd  # noqa: E402
from seqtasks.tasks.sentiment.config import SentimentConfig  # noqa: E402
from seqtasks.tasks.sentiment.export import SentimentServing  # noqa: E402
from seqtasks.tasks.sentiment.model import build_classifier  # noqa: E402
from seqtasks.tasks.sentiment.preprocessor import SentimentTokenizer  # noqa: E402
from seqtasks.tokenizers import SentencePieceTokenizer, train_sentencepiece  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "sentiment.yaml"


def reviews(n: int, data_dir: str | None, seed: int = 0) -> tuple[list[str], str]:
    try:
        found = find_local_files(IMDB_SPECS["train"], SimpleNamespace(data_dir=data_dir or ""))
    except DataError:  # a --data-dir that does not exist: synthetic text, as without one
        found = None
    if found:
        texts = sd.read_labelled(found[0], format="tsv").texts
        return texts[:n], str(found[0])
    rng = np.random.default_rng(seed)
    words = [f"w{i}" for i in range(3000)] + ["good", "bad", "film", "plot", "great", "awful"] * 50
    lengths = np.clip(rng.lognormal(5.2, 0.7, size=n), 10, 2500).astype(int)  # words; IMDB median ~175
    return [" ".join(rng.choice(words, size=k)) for k in lengths], "synthetic"


def time_training(model, batches, repeats: int) -> float:
    """Seconds per pass over `batches` (after one warm-up pass that traces the step function)."""
    best = float("inf")
    for r in range(repeats + 1):
        start = time.perf_counter()
        for x, y in batches:
            model.train_on_batch(x, y)
        elapsed = time.perf_counter() - start
        if r > 0:
            best = min(best, elapsed)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=os.environ.get("SEQTASKS_DATA_DIR", ""))
    parser.add_argument("--train-batches", type=int, default=40)
    parser.add_argument("--infer-reviews", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()

    cfg = load_config(SentimentConfig, [CONFIG])
    d, m, t = cfg.data, cfg.model, cfg.train
    n = args.train_batches * t.batch_size
    texts, source = reviews(max(n, args.infer_reviews), args.data_dir)
    print(f"reviews: {source}; model: Bi{m.cell_type.upper()}({m.units}) x{m.num_layers}, emb {m.embedding_dim}, "
          f"max_length {d.max_length} ({d.truncate}), pooling {m.pooling}, batch {t.batch_size}")
    tmp = Path(tempfile.mkdtemp(prefix="seqtasks-bench-"))
    tok = SentencePieceTokenizer(
        train_sentencepiece(texts[:5000], tmp / "spm.model", vocab_size=d.vocab_size, model_type=d.tokenizer_type)
    )
    pre = SentimentTokenizer(tok.model_proto, d.max_length, d.truncate)
    ids = pre.encode(texts[:n])
    labels = np.arange(n, dtype=np.int32) % 2
    lengths = ids.row_lengths().numpy()
    bucketed = list(sd.make_dataset(ids, labels, t.batch_size, quantile_boundaries(lengths, d.num_buckets),
                                    shuffle_seed=0).as_numpy_iterator())
    order = np.random.default_rng(0).permutation(n)
    dense = ids.to_tensor(default_value=0, shape=[n, d.max_length]).numpy()
    padded = [(dense[order[i : i + t.batch_size]], labels[order[i : i + t.batch_size]]) for i in range(0, n, t.batch_size)]
    tokens_real = int(lengths.sum())
    print(f"{n} reviews, mean length {lengths.mean():.0f} tokens; padded tokens per epoch: bucketed "
          f"{sum(x.size for x, _ in bucketed)}, pad-to-max {sum(x.size for x, _ in padded)} (real {tokens_real})")

    def fresh():
        model = build_classifier(tok.vocab_size, 2, embedding_dim=m.embedding_dim, cell_type=m.cell_type,
                                 units=m.units, num_layers=m.num_layers, pooling=m.pooling,
                                 embedding_dropout=m.embedding_dropout, head_dropout=m.head_dropout, seed=0)
        model.compile(keras.optimizers.Adam(t.learning_rate, global_clipnorm=t.clip_global_norm),
                      keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return model

    model_b, model_p = fresh(), fresh()
    times = {"bucketed": [], "pad_to_max": []}
    for _ in range(args.repeats):  # alternate, so machine noise hits both alike
        times["bucketed"].append(time_training(model_b, bucketed, 1))
        times["pad_to_max"].append(time_training(model_p, padded, 1))
    rate_b = n / min(times["bucketed"])
    rate_p = n / min(times["pad_to_max"])
    print(f"training   bucketed   {rate_b:8.1f} reviews/s")
    print(f"training   pad-to-max {rate_p:8.1f} reviews/s   (bucketed / pad-to-max = {rate_b / rate_p:.2f}x)")

    infer = texts[: args.infer_reviews]
    export_dir = save_serving_module(SentimentServing(model_b, pre, ["0", "1"]), tmp / "export")
    served = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    predict_fn = tf.function(lambda x: model_b(x, training=False), input_signature=[tf.TensorSpec([None, None], tf.int32)])

    def exported() -> None:
        for i in range(0, len(infer), 64):
            served(text=tf.constant(infer[i : i + 64]))

    def in_process() -> None:
        for idx, batch in sd.length_sorted_batches(pre.encode(infer), 64):
            del idx
            predict_fn(tf.constant(batch))

    rates = {}
    for name, fn in (("exported", exported), ("in_process", in_process)):
        fn()  # warm-up: traces
        start = time.perf_counter()
        fn()
        rates[name] = len(infer) / (time.perf_counter() - start)
    print(f"inference  exported SavedModel (raw strings, batches of 64 in input order) {rates['exported']:8.1f} reviews/s")
    print(f"inference  in-process (length-sorted batches of 64)                        {rates['in_process']:8.1f} reviews/s"
          f"   (exported / in-process = {rates['exported'] / rates['in_process']:.2f}x)")


if __name__ == "__main__":
    main()
