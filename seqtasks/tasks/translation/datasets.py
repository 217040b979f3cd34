"""Named translation datasets: the Tatoeba English-French pairs, and tensorflow-datasets translation sets.

* `eng_fra`: the ManyThings.org / Tatoeba `fra.txt` pairs (English<TAB>French[<TAB>attribution]). Looked for in
  the local data directory (`--data-dir` / $SEQTASKS_DATA_DIR) as `translation/eng-fra.tsv`, `eng-fra.tsv`,
  `fra.txt` or `fra-eng/fra.txt`; otherwise, when the network is reachable, `fra-eng.zip` is downloaded from
  ManyThings.org into `~/.cache/seqtasks/translation/`.
* `ted_hrlr_translate/<pair>` (e.g. `ted_hrlr_translate/pt_to_en`) and any other tensorflow-datasets
  translation builder `name/config` whose examples are `{source_language: text, target_language: text}`:
  loaded through tfds (prepared copy in `data.tfds_data_dir`, or downloaded); its own validation and test
  splits are used.
"""

from __future__ import annotations

import io
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from seqtasks.data import find_local_files, network_available, tfds_builder, unavailable_offline
from seqtasks.data.catalog import ENG_FRA, ENG_FRA_URL
from seqtasks.errors import DataError

CACHE_DIR = Path("~/.cache/seqtasks/translation").expanduser()


def eng_fra_file(data_config: Any) -> Path:
    """The path of the English-French pair file: a local copy, the download cache, or a fresh download."""
    local = find_local_files(ENG_FRA, data_config)
    if local:
        return local[0]
    cached = CACHE_DIR / "fra.txt"
    if cached.is_file():
        return cached
    if not network_available("www.manythings.org"):
        raise unavailable_offline(ENG_FRA, data_config)
    request = urllib.request.Request(ENG_FRA_URL, headers={"User-Agent": "seqtasks"})
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            archive = zipfile.ZipFile(io.BytesIO(response.read()))
        data = archive.read("fra.txt")
    except (OSError, KeyError, zipfile.BadZipFile) as error:
        raise DataError(
            f"could not download {ENG_FRA_URL} ({type(error).__name__}: {error}); download it by hand, unzip "
            "fra.txt and pass it with --data fra.txt"
        ) from None
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(cached)
    return cached


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
