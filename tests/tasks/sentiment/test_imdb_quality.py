"""Slow tier: the default sentiment config reaches >= 88% IMDB test accuracy within 20 minutes of training.

Runs the same thing as
    seqtasks train --task sentiment --config recipes/configs/sentiment.yaml --data-dir ../shared/data \
        --set train.max_minutes=20
    seqtasks evaluate --workdir RUN --data ../shared/data/sentiment/imdb/test.tsv
The 20-minute budget is enforced by `train.max_minutes` (training stops there, whatever its epoch), so the
accuracy is what the default config reaches within the budget on this machine.
"""

import json
from pathlib import Path

import pytest

from seqtasks.runtime import commands

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT.parent / "shared" / "data"
CONFIG = ROOT / "recipes" / "configs" / "sentiment.yaml"


@pytest.mark.slow
@pytest.mark.skipif(not (DATA / "sentiment/imdb/test.tsv").is_file(), reason="local IMDB copy absent")
def test_default_config_reaches_88_percent_on_imdb_test(tmp_path):
    outcome = commands.train(
        "sentiment", tmp_path / "run", config_files=[CONFIG],
        overrides=["train.max_minutes=20", "train.verbose=epoch"], data_dir=str(DATA),
    )
    info = json.loads((outcome.run.root / "metrics.json").read_text())["info"]
    assert info["elapsed_seconds"] <= 20 * 60 + 120  # the budget, plus the epoch-end validation that ends it
    metrics = commands.evaluate(outcome.run.root, paths=[str(DATA / "sentiment/imdb/test.tsv")])
    print(f"IMDB test accuracy {metrics['accuracy']:.4f}, macro-F1 {metrics['macro_f1']:.4f}, "
          f"training {info['elapsed_seconds']:.0f}s, stopped by {info['stopped']}")
    assert metrics["num_examples"] == 25000
    assert metrics["accuracy"] >= 0.88
