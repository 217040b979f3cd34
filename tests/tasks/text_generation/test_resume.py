"""Kill and resume: `seqtasks train` killed (SIGKILL) after a mid-epoch checkpoint continues from it on re-run."""

from __future__ import annotations

import json
import math
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

SEQTASKS = Path(sys.executable).with_name("seqtasks")
SETS = ["model.units=16", "model.embedding_dim=8", "data.seq_len=32", "train.batch_size=8", "train.epochs=2",
        "train.checkpoint_every_steps=5", "train.verbose=epoch", "train.max_minutes=0", "export.after_train=false",
        "train.early_stopping_patience=0", "eval.chunk_len=128"]


def latest_step(run: Path) -> int | None:
    index = run / "checkpoints" / "checkpoint"
    if not index.is_file():
        return None
    match = re.search(r'model_checkpoint_path: "ckpt-(\d+)"', index.read_text())
    return int(match.group(1)) if match else None


def test_killed_run_resumes_mid_epoch(tmp_path):
    text = tmp_path / "t.txt"
    text.write_text("".join(f"Line {i}: the quick brown fox jumps over the lazy dog.\n" for i in range(450)))
    # 90% of ~25k chars in windows of 32, batches of 8: ~90 steps per epoch.
    cmd = [str(SEQTASKS), "train", "--task", "text_generation", "--workdir", str(tmp_path / "run"),
           "--data", str(text), *[a for s in SETS for a in ("--set", s)]]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    killed_after = None
    deadline = time.time() + 300
    while time.time() < deadline and proc.poll() is None:
        step = latest_step(tmp_path / "run")
        if step is not None and step >= 15:
            proc.send_signal(signal.SIGKILL)
            killed_after = step
            break
        time.sleep(0.05)
    proc.communicate(timeout=60)
    assert killed_after is not None, "the run ended before a mid-epoch checkpoint was seen"
    saved = latest_step(tmp_path / "run")
    assert saved is not None and saved >= killed_after

    resumed = subprocess.run(cmd, capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stdout[-2000:] + resumed.stderr[-2000:]
    match = re.search(r"from ckpt-(\d+): step (\d+), epoch 1, batch (\d+)", resumed.stdout)
    assert match, resumed.stdout[-2000:]
    step, batch = int(match.group(2)), int(match.group(3))
    assert step == saved == batch  # resumed mid-epoch 1 at the checkpointed batch
    assert "resuming after batch" in resumed.stdout

    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    steps_per_epoch = metrics["epochs"][0]["step"]
    assert step < steps_per_epoch  # the kill was mid-epoch
    assert metrics["info"]["steps"] == 2 * steps_per_epoch  # the step counter continued, no batch repeated
    assert [e["epoch"] for e in metrics["epochs"]] == [1, 2]
    logged = [s["step"] for s in metrics["steps"]]
    assert logged == sorted(set(logged))
    evaluation = metrics["evaluation"]["validation"]
    assert math.isfinite(evaluation["nats_per_char"]) and evaluation["nats_per_char"] < math.log(40)
