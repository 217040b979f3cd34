"""tensorflow-datasets translation sets named `name/config` (e.g. `ted_hrlr_translate/pt_to_en`).

Any tfds translation builder whose examples are `{source_language: text, target_language: text}` is loaded
through tfds (the copy prepared in `data.tfds_data_dir`, or downloaded when the network is reachable); its own
train, validation and test splits are used. These names are passed through to tfds and not listed in the
dataset registry.
"""

from __future__ import annotations

from typing import Any

from seqtasks.data.registry import network_available
from seqtasks.data.tfds_support import tfds_builder
from seqtasks.errors import DataError


def is_tfds_name(name: str) -> bool:
    """Whether `data.dataset` names a tensorflow-datasets builder (`name/config`) rather than a registry entry."""
    return "/" in name


def load_tfds_pairs(name: str, split: str, data_config: Any) -> list[tuple[str, str]]:
    """`(source, target)` strings of a tfds translation dataset split (`train`, `validation` or `test`).

    The builder config's name `xx_to_yy` gives the languages; otherwise the example's first key is the source.
    """
    from seqtasks.data.tfds_support import is_prepared, prepare

    tfds_dir = getattr(data_config, "tfds_data_dir", "") or None
    try:
        builder = tfds_builder(name, tfds_dir)
    except Exception as error:  # noqa: BLE001 - tfds raises many types for unknown names
        raise DataError(
            f"tensorflow-datasets has no dataset {name!r} ({type(error).__name__}: {error})"
        ) from None
    if not is_prepared(builder):
        if not network_available("storage.googleapis.com"):
            raise DataError(
                f"tfds dataset {name!r} is not prepared in {builder.data_dir} and the network is unreachable: "
                "prepare it on a connected machine (tfds build) and copy it to data.tfds_data_dir, or use your "
                "own TSV pairs with --data FILE"
            )
        prepare(builder)
    import tensorflow_datasets as tfds

    keys = list(builder.info.features.keys())
    config_name = getattr(builder.builder_config, "name", "") or ""
    if "_to_" in config_name:
        source_key, target_key = config_name.split("_to_")
    else:
        source_key, target_key = keys[0], keys[1]
    pairs = []
    for example in tfds.as_numpy(builder.as_dataset(split=split)):
        pairs.append((example[source_key].decode("utf-8"), example[target_key].decode("utf-8")))
    return pairs


__all__ = ["is_tfds_name", "load_tfds_pairs"]
