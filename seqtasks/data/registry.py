"""Named datasets: a registry of loaders, and where offline copies are looked for.

A dataset is registered with a loader `fn(data_config) -> object` and a description of where its original files
come from, so that the "not available offline" error can tell the user exactly what to download and where to
put it. Offline copies are looked for in the local data directory: `--data-dir` / `data.data_dir`, else the
`SEQTASKS_DATA_DIR` environment variable.
"""

from __future__ import annotations

import difflib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from seqtasks.errors import DataError

ENV_DATA_DIR = "SEQTASKS_DATA_DIR"


@dataclass(frozen=True)
class DatasetSpec:
    """A named dataset.

    Attributes:
        name: Registry name (`data.dataset`).
        loader: `fn(data_config) -> data`; what it returns is up to the tasks that use the dataset.
        description: One line for `list_datasets`.
        url: Where the original files can be downloaded.
        local_files: Paths of the original files relative to the local data directory; each entry lists the
            accepted alternatives (e.g. `("tinyshakespeare/input.txt", "input.txt")`).
    """

    name: str
    loader: Callable[[Any], Any]
    description: str
    url: str
    local_files: tuple[tuple[str, ...], ...] = ()

    def where_to_put(self, data_dir: Path | None) -> str:
        root = str(data_dir) if data_dir else "DIR"
        return ", ".join(f"{root}/{alts[0]}" for alts in self.local_files)


_DATASETS: dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    """Adds a named dataset (a later registration under the same name replaces the earlier one)."""
    _DATASETS[spec.name] = spec
    return spec


def get_dataset(name: str) -> DatasetSpec:
    """The registered dataset `name`, or a one-line DataError with the closest known name."""
    if name not in _DATASETS:
        close = difflib.get_close_matches(name, list(_DATASETS), n=1)
        hint = f"; did you mean '{close[0]}'?" if close else ""
        raise DataError(
            f"unknown dataset {name!r} (known: {', '.join(sorted(_DATASETS)) or 'none'}){hint}; "
            "or use your own files with --data PATH"
        )
    return _DATASETS[name]


def list_datasets() -> list[str]:
    return sorted(_DATASETS)


def load_dataset(name: str, data_config: Any) -> Any:
    """Loads a registered dataset with the task's data config (for `data_dir`, `tfds_data_dir`, ...)."""
    return get_dataset(name).loader(data_config)


def local_data_dir(data_config: Any = None) -> Path | None:
    """The local data directory: `data_config.data_dir` if set, else $SEQTASKS_DATA_DIR, else None."""
    configured = getattr(data_config, "data_dir", "") if data_config is not None else ""
    value = configured or os.environ.get(ENV_DATA_DIR, "")
    if not value:
        return None
    path = Path(value).expanduser()
    if not path.is_dir():
        source = "--data-dir / data.data_dir" if configured else f"${ENV_DATA_DIR}"
        raise DataError(f"local data directory {path} (from {source}) does not exist; create it or fix the path")
    return path


def path_in_data_dir(name: str, root: Path | None, found: Callable[[Path], bool] = Path.exists) -> Path:
    """`name` as given (user folder expanded) when `found` says it is there, else `root / name` when `name` is
    relative and found there, else `name` as given: the caller reports a path found in neither place."""
    path = Path(name).expanduser()
    if not found(path) and not path.is_absolute() and root is not None and found(root / path):
        return root / path
    return path


def find_local_files(spec: DatasetSpec, data_config: Any) -> list[Path] | None:
    """The dataset's original files in the local data directory, or None if any is missing."""
    root = local_data_dir(data_config)
    if root is None:
        return None
    found = []
    for alternatives in spec.local_files:
        hit = next((root / a for a in alternatives if (root / a).is_file()), None)
        if hit is None:
            return None
        found.append(hit)
    return found


def network_available(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """Whether `host` can be reached (checked before a download, so that offline machines fail in seconds)."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def unavailable_offline(spec: DatasetSpec, data_config: Any) -> DataError:
    """The one-line error for a dataset that is neither local nor downloadable."""
    try:
        root = local_data_dir(data_config)
    except DataError:
        root = None
    looked = f"no copy in {root}" if root else f"no local data directory (--data-dir or ${ENV_DATA_DIR})"
    return DataError(
        f"dataset {spec.name!r} is not available offline ({looked}, and the network is unreachable): "
        f"download {spec.url} and put it at {spec.where_to_put(root)}, then pass --data-dir "
        f"{root or 'DIR'} (or set ${ENV_DATA_DIR})"
    )
