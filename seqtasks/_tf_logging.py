"""Quiet TensorFlow start-up: hides the C++ notices TensorFlow prints when it is imported.

TensorFlow 2.21 logs a few lines through absl from C++ static initializers, before any environment variable
is read, so `TF_CPP_MIN_LOG_LEVEL` cannot silence them (and each appears twice, once per shared library that
carries them):

    WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
    I0000 ... port.cc:153] oneDNN custom operations are on. You may see slightly different numerical ...
    I0000 ... cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
    E0000 ... cuda_platform.cc:52] failed call to cuInit: ... (on the first device query, without a driver)

and on GPU machines "Unable to register cuDNN/cuFFT/cuBLAS factory: ... already been registered". `install()`
(called by `import seqtasks`) filters exactly these known lines out of stderr while `tensorflow` is first
imported; every other line (real warnings and errors, Python warnings) passes through unchanged, and TensorFlow
stays a lazy import. It also sets `TF_CPP_MIN_LOG_LEVEL=2` unless it is already set, which hides TensorFlow's
INFO and WARNING log lines afterwards (errors still show).

Set `SEQTASKS_TF_LOG=1` to see everything TensorFlow logs (nothing filtered, `TF_CPP_MIN_LOG_LEVEL` untouched).
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Iterator
from types import ModuleType

OPT_IN_ENV = "SEQTASKS_TF_LOG"

# A C++ log line: absl format (`I0000 00:00:1795733127.529413    4781 port.cc:153] ...`) or the older TF format
# (`2024-01-01 12:00:00.000000: E external/.../cuda_dnn.cc:9342] ...`).
_PREFIX = r"(?:[IWE]\d{4} \d\d:\d\d:[\d.]+ +\d+ |\d{4}-\d\d-\d\d [\d:.]+: [IWE] )\S*"
_NO_DRIVER = _PREFIX + r"cudart_stub\.cc:\d+\] Could not find cuda drivers on your machine"
NOISE = "|".join([
    r"^WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR",
    _PREFIX + r"port\.cc:\d+\] oneDNN custom operations are on\.",
    _NO_DRIVER,
    _PREFIX + r"cpu_feature_guard\.cc:\d+\] This TensorFlow binary is optimized to use available CPU",
    r"^To enable the following instructions: .* rebuild TensorFlow with the appropriate compiler flags\.",
    _PREFIX + r"\.cc:\d+\] Unable to register cu\w+ factory: Attempting to register factory for plugin",
    _PREFIX + r"computation_placer\.cc:\d+\] computation placer already registered",
    _PREFIX + r"\.cc:\d+\] TF-TRT Warning: Could not find TensorRT",
])
# Without a driver there is no GPU to initialise, so this error says nothing the line above did not.
CUINIT_WITHOUT_DRIVER = _PREFIX + r"cuda_platform\.cc:\d+\] failed call to cuInit: "

# Runs in a child process that reads the redirected stderr and forwards every other line: a child (not a
# thread) so that a fatal message is still forwarded when TensorFlow aborts the process during its import.
_FILTER = r"""
import re, sys
noise, no_driver, cuinit = (re.compile(p.encode()) for p in sys.argv[1:4])
out = sys.stdout.buffer
without_driver = False
for line in sys.stdin.buffer:
    without_driver = without_driver or bool(no_driver.search(line))
    if noise.search(line) or (without_driver and cuinit.search(line)):
        continue
    out.write(line)
    out.flush()
"""


def tf_log_requested() -> bool:
    """True when `SEQTASKS_TF_LOG` asks for TensorFlow's own logging (set and not 0/false/no/off)."""
    return os.environ.get(OPT_IN_ENV, "").strip().lower() not in ("", "0", "false", "no", "off")


@contextlib.contextmanager
def filtered_stderr() -> Iterator[None]:
    """Drops the known TensorFlow start-up lines from file descriptor 2 (C++ and Python writers alike)."""
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (AttributeError, OSError, ValueError):
        yield
        return
    import subprocess

    try:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "-c", _FILTER, NOISE, _NO_DRIVER, CUINIT_WITHOUT_DRIVER],
            stdin=subprocess.PIPE, stdout=saved, stderr=saved,
        )
    except (OSError, ValueError):
        os.close(saved)
        yield
        return
    os.dup2(proc.stdin.fileno(), 2)
    try:
        yield
    finally:
        with contextlib.suppress(AttributeError, OSError, ValueError):
            sys.stderr.flush()
        os.dup2(saved, 2)
        os.close(saved)
        proc.stdin.close()
        # Waiting keeps the forwarded lines ahead of later output; a child process started meanwhile that
        # inherited the pipe would keep the filter alive, so do not wait for ever.
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


def _cuda_driver_missing() -> bool:
    if not sys.platform.startswith("linux"):
        return False
    import ctypes

    try:
        ctypes.CDLL("libcuda.so.1")
    except OSError:
        return True
    return False


class _QuietLoader(importlib.abc.Loader):
    """Runs the real loader of `tensorflow` inside `filtered_stderr()`."""

    def __init__(self, loader: importlib.abc.Loader) -> None:
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: ModuleType) -> None:
        # TensorFlow sees its own loader; this wrapper exists only for the duration of the import.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        with filtered_stderr():
            self.loader.exec_module(module)
            if _cuda_driver_missing():
                # The first device query logs the cuInit failure; make it here, where that line is dropped.
                with contextlib.suppress(Exception):
                    module.config.list_physical_devices("GPU")


class _QuietTensorFlowImport(importlib.abc.MetaPathFinder):
    """Wraps the loader of the first `import tensorflow`, then removes itself from `sys.meta_path`."""

    def find_spec(
        self, fullname: str, path: object = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        with contextlib.suppress(ValueError):
            sys.meta_path.remove(self)
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


def install() -> None:
    """Quiets TensorFlow's start-up unless `SEQTASKS_TF_LOG` is set (see the module docstring)."""
    if tf_log_requested():
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    if "tensorflow" in sys.modules or any(isinstance(f, _QuietTensorFlowImport) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietTensorFlowImport())
