"""`train.mixed_precision`: which Keras dtype policy a run trains with."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

POLICIES = ("off", "auto", "mixed_float16", "mixed_bfloat16")


def cpu_has_native_bfloat16() -> bool:
    """Whether the CPU computes bfloat16 natively (AVX512-BF16 or AMX), where bfloat16 matmuls are faster."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def resolve_policy(setting: str) -> str:
    """The Keras policy for a `train.mixed_precision` setting.

    `auto` means `mixed_float16` when a GPU is visible, `mixed_bfloat16` on a CPU with native bfloat16, and
    float32 otherwise (bfloat16 emulated in software is slower than float32).
    """
    if setting == "off":
        return "float32"
    if setting == "auto":
        if tf.config.list_logical_devices("GPU"):
            return "mixed_float16"
        return "mixed_bfloat16" if cpu_has_native_bfloat16() else "float32"
    return setting
