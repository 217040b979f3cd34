"""Distribution: MirroredStrategy over two logical CPU devices with a partial final batch (fast, subprocess), and a
two-worker MultiWorkerMirroredStrategy run on 127.0.0.1 (slow)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]

MIRRORED = r"""
import json, sys
import numpy as np
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from seqtasks.runtime import commands, make_strategy
from seqtasks.runtime.trainer import epoch_dataset
strategy = make_strategy("mirrored")
out = commands.train("text_generation", sys.argv[1], data_paths=[sys.argv[2]], overrides=sys.argv[3:])
task, best = commands.load_trained(sys.argv[1])
latest = commands.load_trained(sys.argv[1], prefer_latest=True)[1]
best_is_latest = all(np.allclose(a.numpy(), b.numpy()) for a, b in zip(best.weights, latest.weights))
task.prepare_data()
x = next(iter(task.train_dataset(0).skip(int(epoch_dataset(task, 0)[1]) - 1)))[0]
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "step": out.fit.step, "last_batch": int(x.shape[0]),
                  "windows": int(sum(b[0].shape[0] for b in task.train_dataset(0))),
                  "nats": out.evaluation["nats_per_char"], "best_is_latest": best_is_latest}))
"""

WORKER = r"""
import json, sys
import numpy as np
from seqtasks.runtime import (RunDir, build_for_training, fit, make_strategy, resolve_config, start_run)
run = RunDir.at(sys.argv[1])
config = resolve_config("text_generation", run, (), sys.argv[4:], [sys.argv[2]])
strategy = make_strategy(config.train.strategy)
task = start_run("text_generation", config, run)
task.prepare_data()
model = build_for_training(task, strategy)
result = fit(task, model, run, strategy)
np.savez(sys.argv[3], *[w.numpy() for w in model.weights])
print(json.dumps({"step": result.step, "replicas": strategy.num_replicas_in_sync}))
"""

SETS = ["model.units=16", "model.embedding_dim=8", "data.seq_len=16", "train.verbose=none", "train.max_minutes=0",
        "eval.chunk_len=64"]


def write_text(path: Path) -> Path:
    path.write_text("Now is the winter of our discontent\nMade glorious summer by this sun of York;\n" * 5)
    return path


@pytest.mark.parametrize("extra", [[], ["train.ema_momentum=0.9"]], ids=["plain", "weight_average"])
def test_mirrored_two_logical_cpus_with_partial_batch(tmp_path, extra):
    text = write_text(tmp_path / "t.txt")  # 90% of it -> 20 windows of 16 chars -> batches of 8, 8, 4
    proc = subprocess.run(
        [sys.executable, "-c", MIRRORED, str(tmp_path / "run"), str(text), *SETS, "train.strategy=mirrored",
         "train.batch_size=8", "train.epochs=1", "train.checkpoint_every_steps=2", "export.after_train=false",
         *extra],
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["replicas"] == 2
    assert got["windows"] % 8 != 0 and got["last_batch"] == got["windows"] % 8  # a partial final batch
    assert got["step"] == -(-got["windows"] // 8)
    assert np.isfinite(got["nats"]) and got["nats"] < np.log(30)
    assert (tmp_path / "run" / "best" / "checkpoint").is_file()
    # One epoch: the best model is the last step's, unless it is the weight average of the steps (on both replicas).
    assert got["best_is_latest"] == (not extra)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_multi_worker_two_processes(tmp_path):
    text = write_text(tmp_path / "t.txt")
    workers = [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]
    procs = []
    for index in range(2):
        env = {**os.environ, "TF_CONFIG": json.dumps({"cluster": {"worker": workers},
                                                      "task": {"type": "worker", "index": index}})}
        procs.append(subprocess.Popen(
            [sys.executable, "-c", WORKER, str(tmp_path / f"run{index}"), str(text), str(tmp_path / f"w{index}.npz"),
             *SETS, "train.strategy=multi_worker", "train.batch_size=8", "train.epochs=2",
             "train.checkpoint_every_steps=3"],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT, env=env,
        ))
    outputs = []
    for p in procs:
        out, err = p.communicate(timeout=900)
        assert p.returncode == 0, err[-3000:]
        outputs.append(json.loads(out.strip().splitlines()[-1]))
    assert outputs[0] == outputs[1] and outputs[0]["replicas"] == 2
    w0, w1 = np.load(tmp_path / "w0.npz"), np.load(tmp_path / "w1.npz")
    for key in w0.files:
        np.testing.assert_array_equal(w0[key], w1[key])  # both workers end with identical weights
    chief, worker = tmp_path / "run0", tmp_path / "run1"
    assert (chief / "checkpoints" / "checkpoint").is_file() and (chief / "metrics.json").is_file()
    assert not worker.exists() or not any(worker.rglob("*"))  # only the chief writes
