"""Slow tier: the default config's quality target on tinyshakespeare (<= 1.55 nats/char on the last 10%, within
15 minutes of training on a 2-core CPU). Runs the main job exactly as the README gives it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SEQTASKS = Path(sys.executable).with_name("seqtasks")


@pytest.mark.slow
def test_default_config_reaches_target(shared_data, tmp_path):
    proc = subprocess.run(
        [str(SEQTASKS), "train", "--task", "text_generation", "--data-dir", str(shared_data),
         "--workdir", str(tmp_path / "run"), "--set", f"data.tfds_data_dir={tmp_path / 'tfds'}",
         "--set", "train.verbose=epoch"],
        capture_output=True, text=True, timeout=30 * 60,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["info"]["elapsed_seconds"] <= 15 * 60 + 60  # the budget is checked after every step
    nats = metrics["evaluation"]["validation"]["nats_per_char"]
    print(f"validation nats/char {nats:.4f}, steps {metrics['info']['steps']}")
    assert nats <= 1.55
