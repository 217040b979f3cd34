"""TensorFlow's start-up notices stay out of the `seqtasks` command and the recipes; SEQTASKS_TF_LOG=1 shows them."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from seqtasks import _tf_logging

SEQTASKS = Path(sys.executable).with_name("seqtasks")
PROJECT_ROOT = Path(__file__).resolve().parents[1]

# The lines TensorFlow 2.21 prints on import and on the first device query (x86 CPU, no CUDA driver), written
# out here independently of the patterns in seqtasks._tf_logging.
KNOWN_NOISE = [
    "All log messages before absl::InitializeLog() is called are written to STDERR",
    "oneDNN custom operations are on",
    "Could not find cuda drivers on your machine",
    "failed call to cuInit",
    "This TensorFlow binary is optimized to use available CPU instructions",
    "Attempting to register factory for plugin",
]


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", _tf_logging.OPT_IN_ENV)}
    return {**env, **extra}


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(args, capture_output=True, text=True, timeout=300, env=env, cwd=PROJECT_ROOT)


def test_cli_prints_no_tensorflow_notices():
    assert SEQTASKS.is_file(), "the package must be installed (make install) for the `seqtasks` entry point"
    proc = _run([str(SEQTASKS), "--help"], _env())
    assert proc.returncode == 0 and "usage: seqtasks" in proc.stdout
    assert proc.stderr == "", proc.stderr


def test_library_import_and_first_op_print_nothing():
    # The recipes' path: `from seqtasks.runtime import ...` imports TensorFlow, then devices are queried.
    code = (
        "import seqtasks.runtime, tensorflow as tf, warnings\n"
        "tf.config.list_physical_devices()\n"
        "print(float(tf.constant(1.0) + 1), type(tf.__loader__).__name__, type(tf.__spec__.loader).__name__)\n"
        "warnings.warn('our own warning')\n"
    )
    proc = _run([sys.executable, "-c", code], _env(TF_CPP_MIN_LOG_LEVEL="2"))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["2.0", "SourceFileLoader", "SourceFileLoader"]
    # Python warnings pass through; nothing else is printed.
    assert [ln for ln in proc.stderr.splitlines() if "our own warning" not in ln] == [], proc.stderr
    assert "UserWarning: our own warning" in proc.stderr


def test_opt_in_shows_tensorflow_notices():
    proc = _run([sys.executable, "-c", "import seqtasks, tensorflow"], _env(**{_tf_logging.OPT_IN_ENV: "1"}))
    assert proc.returncode == 0, proc.stderr
    shown = [ln for ln in proc.stderr.splitlines() if any(n in ln for n in KNOWN_NOISE)]
    if not shown:
        pytest.skip("this TensorFlow build prints no start-up notices on this machine")
    assert all(re.search(_tf_logging.NOISE, ln) for ln in shown), shown


def test_importing_seqtasks_does_not_import_tensorflow():
    code = "import sys, seqtasks, seqtasks.config, seqtasks.data; print('tensorflow' in sys.modules)"
    proc = _run([sys.executable, "-c", code], _env())
    assert proc.stdout.strip() == "False", proc.stderr


FILTER_SCRIPT = r"""
import os, sys
from seqtasks._tf_logging import filtered_stderr
with filtered_stderr():
    os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
    os.write(2, b"I0000 00:00:1795.5    4781 port.cc:153] oneDNN custom operations are on. You may see ...\n")
    os.write(2, b"E0000 00:00:1795.5    4781 cuda_platform.cc:52] failed call to cuInit: INTERNAL: kept\n")
    os.write(2, b"I0000 00:00:1795.5    4781 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU\n")
    os.write(2, b"E0000 00:00:1795.5    4781 cuda_platform.cc:52] failed call to cuInit: INTERNAL: dropped\n")
    os.write(2, b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.\n")
    os.write(2, b"2024-01-01 10:00:00.000001: E external/local_xla/xla/stream_executor/cuda/cuda_dnn.cc:9342] Unable to register cuDNN factory: Attempting to register factory for plugin cuDNN when one has already been registered\n")
    os.write(2, b"W0000 00:00:1795.5    4781 op.cc:1] a real warning\n")
    print("a python message", file=sys.stderr)
    if sys.argv[1] == "abort":
        os.write(2, b"F0000 00:00:1795.5    4781 guard.cc:1] fatal before abort\n")
        os.abort()
print("after", file=sys.stderr)
"""


def test_filter_drops_only_known_lines():
    proc = _run([sys.executable, "-c", FILTER_SCRIPT, "ok"], _env())
    assert proc.stderr.splitlines() == [
        # A cuInit failure is kept unless TensorFlow said just before that there is no driver.
        "E0000 00:00:1795.5    4781 cuda_platform.cc:52] failed call to cuInit: INTERNAL: kept",
        "W0000 00:00:1795.5    4781 op.cc:1] a real warning",
        "a python message",
        "after",
    ]


def test_filter_keeps_the_last_words_of_a_crash():
    proc = _run([sys.executable, "-c", FILTER_SCRIPT, "abort"], _env())
    assert proc.returncode != 0
    assert "fatal before abort" in proc.stderr and "a real warning" in proc.stderr
    assert "oneDNN" not in proc.stderr


def test_masked_recurrent_layers_and_generation_log_no_onednn_dtype_notice():
    # oneDNN logs "supports DT_BOOL/DT_INT32 only on platforms with AVX-512" (error level) for bool and integer
    # transposes on CPUs without AVX-512; the layers' mask and the generators' ids avoid such transposes.
    script = """
import tensorflow as tf
import seqtasks.layers as L
from seqtasks.decoding.generation import batch_major_ids
layer = L.Bidirectional(L.GRU(4, return_sequences=True))
x, mask = tf.random.normal([2, 7, 5]), tf.sequence_mask([7, 5], 7)
print(tf.function(lambda x, m: layer(x, mask=m))(x, mask).shape)

@tf.function
def ids(n):
    ta = tf.TensorArray(tf.int32, size=n)
    _, ta = tf.while_loop(lambda i, _: i < n, lambda i, ta: (i + 1, ta.write(i, tf.fill([2], i))), (0, ta))
    return batch_major_ids(ta.stack())
print(ids(tf.constant(3)).numpy().tolist())
"""
    result = _run([sys.executable, "-c", script], _env(SEQTASKS_TF_LOG="1"))
    assert result.returncode == 0, result.stderr[-2000:]
    assert "[[0, 1, 2], [0, 1, 2]]" in result.stdout
    assert "only on platforms with AVX-512" not in result.stderr
