"""eng_fra: the Tatoeba / ManyThings.org English-French sentence pairs (`fra.txt`: English<TAB>French<TAB>attribution).

Order of attempts: the local data directory (`--data-dir` / $SEQTASKS_DATA_DIR) as `translation/eng-fra.tsv`,
`eng-fra.tsv`, `fra.txt` or `fra-eng/fra.txt`; the download cache `cache_dir("translation")/fra.txt`
(`~/.cache/seqtasks/translation/` unless $SEQTASKS_CACHE_DIR is set); a download of `fra-eng.zip` from
ManyThings.org into that cache when the network is reachable; otherwise a one-line `DataError` saying where to
put the file. The translation task reads the returned file with its own pair reader.
"""

from __future__ import annotations

import io
import urllib.request
import zipfile
from pathlib import Path
from typing import Any

from seqtasks.data.cache import cache_dir
from seqtasks.data.catalog import ENG_FRA, ENG_FRA_URL
from seqtasks.data.registry import find_local_files, network_available, unavailable_offline
from seqtasks.errors import DataError

CACHE_NAME = "translation"  # the download cache folder: cache_dir(CACHE_NAME)


def eng_fra_file(data_config: Any) -> Path:
    """The path of the English-French pair file: a local copy, the download cache, or a fresh download."""
    local = find_local_files(ENG_FRA, data_config)
    if local:
        return local[0]
    cache = cache_dir(CACHE_NAME)
    cached = cache / "fra.txt"
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
    cache.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_bytes(data)
    tmp.replace(cached)
    return cached


__all__ = ["CACHE_NAME", "ENG_FRA", "eng_fra_file"]
