"""Data access shared by the tasks: named datasets (tfds-backed where tfds has them, offline from a local data
directory) and the user's own text files."""

from seqtasks.data import catalog as _catalog  # noqa: F401 - registers imdb, eng_fra, fsdd, fsdd_connected_digits
from seqtasks.data import shakespeare as _shakespeare  # noqa: F401 - registers tiny_shakespeare
from seqtasks.data.registry import (
    ENV_DATA_DIR,
    DatasetSpec,
    find_local_files,
    get_dataset,
    list_datasets,
    load_dataset,
    local_data_dir,
    network_available,
    path_in_data_dir,
    register_dataset,
    unavailable_offline,
)
from seqtasks.data.text import read_text_file, read_texts, text_files
from seqtasks.data.tfds_support import tfds_builder

__all__ = [
    "ENV_DATA_DIR",
    "DatasetSpec",
    "find_local_files",
    "get_dataset",
    "list_datasets",
    "load_dataset",
    "local_data_dir",
    "network_available",
    "path_in_data_dir",
    "read_text_file",
    "read_texts",
    "register_dataset",
    "text_files",
    "tfds_builder",
    "unavailable_offline",
]
