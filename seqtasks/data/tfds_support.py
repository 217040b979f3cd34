"""tensorflow-datasets access: prepared-data cache, offline preparation from a manual dir, and a workaround.

tensorflow-datasets 4.9.10 imports the `importlib_resources` backport unconditionally when it prepares a
dataset, but only declares it as a dependency for Python < 3.9; without it every `download_and_prepare` fails
with ModuleNotFoundError. The standard library's `importlib.resources` has the same API on Python >= 3.11, so we
register it under the backport's name when the backport is absent.
"""

from __future__ import annotations

import importlib
import importlib.resources
import sys
from pathlib import Path
from typing import Any

from seqtasks.errors import DataError


def _ensure_importlib_resources() -> None:
    try:
        importlib.import_module("importlib_resources")
    except ModuleNotFoundError:
        sys.modules.setdefault("importlib_resources", importlib.resources)


def tfds_builder(name: str, data_dir: str | None = None) -> Any:
    """A tfds builder for `name` (data_dir None = tfds' default); raises DataError if tfds is unusable."""
    _ensure_importlib_resources()
    try:
        import tensorflow_datasets as tfds
    except Exception as e:  # noqa: BLE001 - any failure to import means "tfds unusable here"
        raise DataError(f"tensorflow-datasets cannot be imported ({type(e).__name__}: {e})") from None
    tfds.disable_progress_bar()
    return tfds.builder(name, data_dir=data_dir or None)


def is_prepared(builder: Any) -> bool:
    """Whether the builder's dataset is already prepared in its data_dir (no download needed)."""
    return Path(builder.data_dir, "dataset_info.json").is_file()


def prepare(builder: Any, manual_dir: Path | None = None) -> None:
    """Downloads (or, with `manual_dir`, copies from local original files) and prepares the dataset."""
    import tensorflow_datasets as tfds

    config = tfds.download.DownloadConfig(manual_dir=str(manual_dir) if manual_dir else None)
    builder.download_and_prepare(download_config=config)
