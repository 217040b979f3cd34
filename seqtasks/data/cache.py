"""The one folder where seqtasks keeps what it downloads or converts: `$SEQTASKS_CACHE_DIR`, else `~/.cache/seqtasks`.

Every dataset reader in `seqtasks.data` stores under `cache_root() / <dataset>`; nothing else decides where
downloads go. Point the variable at a larger disk, or at a shared read-only copy prepared on another machine.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_CACHE_DIR = "SEQTASKS_CACHE_DIR"


def cache_root() -> Path:
    """The cache folder (not created): `$SEQTASKS_CACHE_DIR` when set and not empty, else `~/.cache/seqtasks`."""
    configured = os.environ.get(ENV_CACHE_DIR, "").strip()
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "seqtasks"


def cache_dir(name: str) -> Path:
    """The cache folder of one dataset (or tool) `name`, e.g. `cache_dir("fsdd")` (not created)."""
    if not name or "/" in name or "\\" in name or name in (".", ".."):
        raise ValueError(f"Received an invalid value for argument `name`, expected a folder name, got {name!r}.")
    return cache_root() / name


__all__ = ["ENV_CACHE_DIR", "cache_dir", "cache_root"]
