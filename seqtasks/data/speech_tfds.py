"""tensorflow-datasets speech sets by name, converted once into cached audio files + one manifest per split.

`data.dataset` names either a preset (`librispeech`, `ljspeech`) or any tfds set as `tfds:NAME[/CONFIG][:VERSION]`.
tensorflow-datasets prepares the set once (download + TFRecords in `data.tfds_data_dir`); seqtasks then converts
each split it needs, streaming example by example, into

    <cache root>/tfds/<name>[/<config>]/<version>/<split slug>/audio/<example id>.flac
                                                              /manifest.csv   (path,transcript,duration)
                                                              /.complete

where the cache root is `$SEQTASKS_CACHE_DIR` or `~/.cache/seqtasks` (`seqtasks.data.cache`). The speech task reads
these manifests like a user's own, so a large set is never held in memory, and random access and length bucketing
work as for user data. Once a split is converted, the tfds copy is no longer needed for it.

The conversion is resumable: rows are appended to `manifest.csv.partial` after their audio file is in place, the
split is read in a fixed order (`shuffle_files=False`, one file at a time), and a rerun skips the rows already
written. `manifest.csv` and the `.complete` marker appear only when the whole split is converted.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import hashlib
import io
import json
import os
import re
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from seqtasks.data.cache import cache_dir
from seqtasks.errors import DataError

TFDS_PREFIX = "tfds:"
ROLES = ("train", "validation", "test")
MANIFEST_NAME = "manifest.csv"
MANIFEST_COLUMNS = ("path", "transcript", "duration")
PROGRESS_EVERY = 500

_PARTIAL = "manifest.csv.partial"
_COMPLETE = ".complete"
_SPLITS_FILE = "splits.json"
# Text features preferred as the transcript, best first (text_normalized: LJSpeech with numbers spelled out).
_TEXT_PREFERENCE = ("text_normalized", "text", "transcript", "transcription", "sentence")
# String features that name an example (kept as its audio file name) and are therefore never the transcript.
_ID_KEYS = ("id", "key", "file_id", "utterance_id", "filename", "file_name", "audio/filename", "file", "path")
_NOT_TEXT = re.compile(r"(^|[/_])(id|key|filename|file_name|file|path)$")
_SINGLE_SPLIT_SLICES = {"train": "[:90%]", "validation": "[90%:95%]", "test": "[95%:]"}
_CONFIG_SPLIT_KEYS = {role: f"tfds_{role}_split" for role in ROLES}


@dataclasses.dataclass(frozen=True)
class TfdsPreset:
    """A tfds speech set known by a short name.

    Attributes:
        name: the tfds builder name.
        configs: builder configs to use, best first; the first one already converted or prepared wins, else the
            first is prepared.
        audio_key: feature holding the waveform.
        text_key: feature holding the transcript.
        sample_rate: the set's sample rate in Hz (checked against the installed builder by the tests).
        splits: the tfds split (or slice) read for each of train / validation / test.
        needs_pydub: configs whose tfds preparation decodes the audio with pydub (tfds' own requirement).
        licence: the licence as stated by the source (for data/speech.md and messages).
    """

    name: str
    configs: tuple[str | None, ...]
    audio_key: str
    text_key: str
    sample_rate: int
    splits: dict[str, str]
    needs_pydub: tuple[str | None, ...] = ()
    licence: str = ""


PRESETS: dict[str, TfdsPreset] = {
    # `lazy_decode` keeps LibriSpeech's FLAC bytes: preparing it needs neither pydub nor ffmpeg, it takes half the
    # disk of `default` (decoded int16), and the conversion copies the bytes instead of re-encoding.
    "librispeech": TfdsPreset(
        name="librispeech",
        configs=("lazy_decode", "default"),
        audio_key="speech",
        text_key="text",
        sample_rate=16000,
        splits={"train": "train_clean100", "validation": "dev_clean", "test": "test_clean"},
        needs_pydub=("default",),
        licence="CC BY 4.0",
    ),
    # One `train` split; tfds percent slices are deterministic and disjoint.
    "ljspeech": TfdsPreset(
        name="ljspeech",
        configs=(None,),
        audio_key="speech",
        text_key="text_normalized",
        sample_rate=22050,
        splits={"train": "train[:90%]", "validation": "train[90%:95%]", "test": "train[95%:]"},
        needs_pydub=(None,),
        licence="public domain",
    ),
}


@dataclasses.dataclass
class TfdsSpeechSource:
    """A resolved tfds speech set: the builder, the features to read and the split for each role.

    Attributes:
        dataset: the name as configured (`librispeech`, `tfds:vctk`, ...), for messages.
        builder: the tfds `DatasetBuilder`.
        audio_key: the Audio feature.
        text_key: the transcript feature.
        id_key: a string feature naming each example (its audio file name), or None (files numbered).
        sample_rate: the Audio feature's sample rate, or None for encoded audio that carries its own.
        lazy: the Audio feature stores encoded file bytes (copied as they are) instead of samples.
        file_format: the encoded audio's format for `lazy` features ("flac", "wav", ...), or None.
        splits: the tfds split (or slice) for each of train / validation / test, None where the set has none.
    """

    dataset: str
    builder: Any
    audio_key: str
    text_key: str
    id_key: str | None
    sample_rate: int | None
    lazy: bool
    file_format: str | None
    splits: dict[str, str | None]

    @property
    def spec(self) -> str:
        """`name[/config]:version`, as `tfds build` and `tfds.builder` take it."""
        return builder_spec(self.builder)

    @property
    def cache_dir(self) -> Path:
        """`<cache root>/tfds/<name>[/<config>]/<version>`."""
        return _version_dir(self.builder)

    def split_dir(self, split: str) -> Path:
        """The cache folder of one split (or slice)."""
        return self.cache_dir / split_slug(split)


# --------------------------------------------------------------------------------------------- public API


def is_tfds_dataset(name: str) -> bool:
    """Whether `data.dataset` names a tensorflow-datasets speech set handled here (a preset or `tfds:NAME`)."""
    return isinstance(name, str) and (name in PRESETS or name.startswith(TFDS_PREFIX))


def tfds_manifests(data_config: Any) -> dict[str, Path | None]:
    """The manifests of a tfds speech set, converting (or finishing the conversion of) the splits not yet cached.

    Args:
        data_config: the task's data section; reads `dataset`, `tfds_data_dir`, `tfds_{train,validation,test}_split`,
            `tfds_audio_key` and `tfds_text_key` (empty = the preset or detection).

    Returns:
        `{"train": path, "validation": path, "test": path}`; each a `manifest.csv` with the columns
        `path,transcript,duration` (paths relative to the manifest, duration in seconds, raw transcripts), or None
        where the set has no such split (the task then holds out validation data itself).

    Raises:
        DataError: unknown name, missing features, unknown split, or a set that tfds has not prepared while the
            network is unreachable (one line, naming where tfds looked and how to prepare it elsewhere).
    """
    source = resolve_source(data_config)
    manifests: dict[str, Path | None] = {}
    for role in ROLES:
        split = source.splits.get(role)
        manifests[role] = None if split is None else convert_split(source, split)
    return manifests


def resolve_source(data_config: Any) -> TfdsSpeechSource:
    """Builds the tfds builder for `data_config.dataset` and decides the features and splits to read.

    Does not prepare or download anything unless the generic `tfds:NAME` form needs the split names of a set
    that was never converted (then the set is prepared first).
    """
    dataset = str(getattr(data_config, "dataset", "") or "")
    data_dir = str(getattr(data_config, "tfds_data_dir", "") or "") or None
    if dataset in PRESETS:
        preset = PRESETS[dataset]
        builder = _preset_builder(preset, data_dir, _split_overrides(data_config))
        splits = {role: preset.splits[role] for role in ROLES}
        audio_default, text_default = preset.audio_key, preset.text_key
    elif dataset.startswith(TFDS_PREFIX) and dataset[len(TFDS_PREFIX):].strip():
        builder = _builder(dataset[len(TFDS_PREFIX):].strip(), data_dir, dataset)
        splits = None
        audio_default = text_default = None
    else:
        raise DataError(
            f"data.dataset={dataset!r} is not a tensorflow-datasets speech set; use one of "
            f"{', '.join(sorted(PRESETS))} or tfds:NAME[/CONFIG][:VERSION] (any tfds set with an Audio feature)"
        )
    features = builder.info.features
    audio_key = _audio_key(dataset, features, getattr(data_config, "tfds_audio_key", "") or audio_default)
    text_key = _text_key(dataset, features, getattr(data_config, "tfds_text_key", "") or text_default)
    audio = features[audio_key]
    lazy = bool(getattr(audio, "_lazy_decode", False))
    sample_rate = audio.sample_rate
    if not sample_rate and not lazy:
        raise DataError(
            f"tensorflow-datasets set {dataset!r}: the Audio feature {audio_key!r} states no sample rate, so its "
            "samples cannot be written as audio files; use your own manifest with --data"
        )
    overrides = _split_overrides(data_config)
    if splits is None:
        splits = _generic_splits(dataset, builder, overrides)
    splits = {role: overrides.get(role) or splits.get(role) for role in ROLES}
    return TfdsSpeechSource(
        dataset=dataset,
        builder=builder,
        audio_key=audio_key,
        text_key=text_key,
        id_key=_id_key(features, exclude=(audio_key, text_key)),
        sample_rate=int(sample_rate) if sample_rate else None,
        lazy=lazy,
        file_format=getattr(audio, "_file_format", None),
        splits=splits,
    )


def convert_split(source: TfdsSpeechSource, split: str, progress_every: int | None = None) -> Path:
    """Converts one split (or slice) to audio files + `manifest.csv`, resuming an interrupted conversion.

    Args:
        source: the resolved set.
        split: a tfds split or slice, e.g. `train_clean100` or `train[:90%]`.
        progress_every: print progress to stderr every this many examples (None = `PROGRESS_EVERY`).

    Returns:
        The split's `manifest.csv` (immediately, when a previous conversion finished).
    """
    progress_every = progress_every or PROGRESS_EVERY
    folder = source.split_dir(split)
    manifest = folder / MANIFEST_NAME
    if (folder / _COMPLETE).is_file() and manifest.is_file():
        return manifest
    ensure_prepared(source.dataset, source.builder)
    expected = _num_examples(source, split)
    if expected == 0:
        raise DataError(
            f"tensorflow-datasets set {source.dataset!r} split {split!r} has no examples; choose another split "
            "with data.tfds_train_split / _validation_split / _test_split"
        )
    folder.mkdir(parents=True, exist_ok=True)
    with _exclusive(folder / ".lock", f"{source.spec} {split}"):
        if not ((folder / _COMPLETE).is_file() and manifest.is_file()):  # another process may have finished it
            _convert_locked(source, split, folder, expected, progress_every)
    return manifest


def _convert_locked(source: TfdsSpeechSource, split: str, folder: Path, expected: int, progress_every: int) -> None:
    manifest, partial, audio_dir = folder / MANIFEST_NAME, folder / _PARTIAL, folder / "audio"
    audio_dir.mkdir(parents=True, exist_ok=True)
    if manifest.is_file():  # interrupted between the rename and the marker: finish through the resume path
        os.replace(manifest, partial)
    stems = _resume_rows(partial)
    done, names = len(stems), set(stems)
    label = f"{source.spec} {split}"
    if done:
        _log(f"{label}: resuming at {done}/{expected} examples in {folder}")
    else:
        _log(f"{label}: converting {expected} examples to {folder} (printing progress every {progress_every})")
    start, empty_text, index = time.monotonic(), 0, done
    with open(partial, "a", encoding="utf-8", newline="") as rows:
        if rows.tell() == 0:
            rows.write(_csv_line(MANIFEST_COLUMNS))
            rows.flush()
        try:
            for index, example in enumerate(_examples(source, split, skip=done), start=done):
                stem = _file_stem(source, example, index, names)
                relative, duration = _write_audio(source, example, audio_dir, stem, label)
                transcript = _transcript(example[source.text_key])
                empty_text += not transcript.strip()
                # The row is written only once its audio file is in place, so every row on disk is whole.
                rows.write(_csv_line((relative, transcript, f"{duration:.6f}")))
                rows.flush()
                names.add(stem)
                if (index + 1) % progress_every == 0:
                    rate = (index + 1 - done) / max(time.monotonic() - start, 1e-9)
                    _log(f"{label}: {index + 1}/{expected} examples ({rate:.1f}/s)")
        except (DataError, KeyboardInterrupt):
            raise
        except Exception as error:  # noqa: BLE001 - tf.data / tfds / disk errors: one line, resumable
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            raise DataError(
                f"converting tensorflow-datasets set {source.dataset!r} split {split!r} failed at example {index} "
                f"({type(error).__name__}: {first}); run again to resume, or delete {folder} to start over"
            ) from None
    total = len(_resume_rows(partial))
    if total != expected:
        raise DataError(
            f"tensorflow-datasets set {source.dataset!r} split {split!r}: converted {total} examples but tfds "
            f"lists {expected}; delete {folder} and run again"
        )
    os.replace(partial, manifest)
    (folder / _COMPLETE).write_text(f"{total}\n", encoding="utf-8")
    note = f" ({empty_text} with an empty transcript, kept)" if empty_text else ""
    _log(f"{label}: done, {total} examples{note} -> {manifest}")


@contextlib.contextmanager
def _exclusive(lock_path: Path, label: str) -> Iterator[None]:
    """Holds an OS file lock so that two processes never append to the same partial manifest.

    The lock dies with its process, so an interrupted conversion never leaves a stale lock behind.
    """
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks; one process at a time is the user's job
        yield
        return
    with open(lock_path, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            _log(f"{label}: another process is converting this split; waiting for it")
            fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def ensure_prepared(dataset: str, builder: Any) -> None:
    """Lets tfds download and prepare the set if it has not yet; raises a one-line DataError when it cannot.

    Args:
        dataset: the configured name, for messages.
        builder: the tfds builder.
    """
    from seqtasks.data import registry
    from seqtasks.data.tfds_support import is_prepared, prepare

    if is_prepared(builder):
        return
    spec = builder_spec(builder)
    if not registry.network_available(_download_host(builder)):
        raise _not_prepared_error(dataset, spec, builder, "the network is unreachable")
    _prepare(dataset, spec, builder, prepare)


def builder_spec(builder: Any) -> str:
    """`name[/config]:version` of a tfds builder, as `tfds build` and `tfds.builder` take it."""
    config = builder.builder_config
    return f"{builder.name}{'/' + config.name if config is not None else ''}:{builder.version}"


def split_slug(split: str) -> str:
    """A folder name for a tfds split or slice; slices get a short hash so that `train[:90%]` != `train[90%:]`."""
    if re.fullmatch(r"[A-Za-z0-9_.-]+", split):
        return split
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "_", split.replace("%", "pct")).strip("_") or "split"
    return f"{readable}-{hashlib.sha1(split.encode('utf-8')).hexdigest()[:8]}"


# --------------------------------------------------------------------------------------------- builders


def _builder(spec: str, data_dir: str | None, dataset: str) -> Any:
    from seqtasks.data.tfds_support import tfds_builder

    try:
        return tfds_builder(spec, data_dir)
    except DataError:
        raise
    except Exception as error:  # noqa: BLE001 - tfds raises many kinds (unknown name lists every dataset)
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if type(error).__name__ == "DatasetNotFoundError":
            raise DataError(
                f"data.dataset={dataset!r}: tensorflow-datasets has no dataset {spec!r} ({first}); use one of "
                f"{', '.join(sorted(PRESETS))} or tfds:NAME[/CONFIG][:VERSION] with a name from "
                "https://www.tensorflow.org/datasets/catalog"
            ) from None
        raise DataError(
            f"data.dataset={dataset!r}: tensorflow-datasets cannot open {spec!r} ({type(error).__name__}: {first})"
        ) from None


def _preset_builder(preset: TfdsPreset, data_dir: str | None, overrides: dict[str, str]) -> Any:
    from seqtasks.data.tfds_support import is_prepared

    builders = []
    for config in preset.configs:
        spec = preset.name if config is None else f"{preset.name}/{config}"
        builders.append(_builder(spec, data_dir, preset.name))
    wanted = [overrides.get(role) or preset.splits[role] for role in ROLES]
    for builder in builders:
        if all((_version_dir(builder) / split_slug(split) / _COMPLETE).is_file() for split in wanted):
            return builder
    for builder in builders:
        if is_prepared(builder):
            return builder
    return builders[0]


def _version_dir(builder: Any) -> Path:
    config = builder.builder_config
    parts = [builder.name] + ([config.name] if config is not None else []) + [str(builder.version)]
    return cache_dir("tfds").joinpath(*parts)


def _download_host(builder: Any) -> str:
    try:
        urls = list(builder.url_infos or ())
    except Exception:  # noqa: BLE001 - a builder without a checksums file
        urls = []
    hosts = [urlparse(url).hostname for url in urls]
    return next((h for h in hosts if h), "storage.googleapis.com")


def _download_bytes(builder: Any) -> int:
    try:
        return sum(int(info.size or 0) for info in (builder.url_infos or {}).values())
    except Exception:  # noqa: BLE001
        return 0


def _needs_pydub(dataset: str, builder: Any) -> bool:
    preset = PRESETS.get(dataset)
    if preset is None:
        return False
    config = builder.builder_config.name if builder.builder_config is not None else None
    return config in preset.needs_pydub


def _not_prepared_error(dataset: str, spec: str, builder: Any, reason: str) -> DataError:
    name = spec.split(":")[0]
    return DataError(
        f"tensorflow-datasets set {dataset!r} ({spec}) is not prepared in {builder.data_dir} and {reason}: "
        f"prepare it on a connected machine with `python data/prepare_speech.py {dataset} --tfds-data-dir DIR` "
        f"(or `tfds build {name} --data_dir DIR`), copy DIR here and set data.tfds_data_dir=DIR "
        "(--set data.tfds_data_dir=DIR), or use your own manifest with --data"
    )


def _pydub_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("pydub") is not None


def _prepare(dataset: str, spec: str, builder: Any, prepare: Any) -> None:
    if _needs_pydub(dataset, builder) and not _pydub_available():
        raise _not_prepared_error(
            dataset, spec, builder, "tensorflow-datasets needs the pydub package (and ffmpeg) to prepare it here"
        )
    size = _download_bytes(builder)
    amount = f"about {size / 1e9:.1f} GB" if size else "an unknown amount"
    _log(f"tensorflow-datasets downloads {amount} for {spec} and prepares it in {builder.data_dir} (once)")
    try:
        prepare(builder)
    except KeyboardInterrupt:
        raise
    except Exception as error:  # noqa: BLE001 - tfds raises many kinds; the user needs one line
        first = str(error).strip().splitlines()[0] if str(error).strip() else ""
        reason = f"tensorflow-datasets failed ({type(error).__name__}: {first})"
        if isinstance(error, ModuleNotFoundError) and error.name:
            reason += f"; install {error.name.split('.')[0]} or prepare the set elsewhere"
        raise _not_prepared_error(dataset, spec, builder, reason) from None


# --------------------------------------------------------------------------------------------- features


def _feature_kind(feature: Any) -> str:
    import tensorflow_datasets as tfds

    if isinstance(feature, tfds.features.Audio):
        return "audio"
    if isinstance(feature, tfds.features.Text):
        return "text"
    if isinstance(feature, tfds.features.Tensor) and tuple(feature.shape) == () and np.dtype(feature.np_dtype).kind == "O":
        return "string"
    return "other"


def _audio_key(dataset: str, features: Any, key: str | None) -> str:
    candidates = [k for k, f in features.items() if _feature_kind(f) == "audio"]
    if key:
        if key not in features or _feature_kind(features[key]) != "audio":
            raise DataError(
                f"tensorflow-datasets set {dataset!r} has no Audio feature {key!r} (Audio features: "
                f"{', '.join(candidates) or 'none'}); fix data.tfds_audio_key"
            )
        return key
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataError(
            f"tensorflow-datasets set {dataset!r} has no Audio feature (features: {', '.join(features.keys())}); "
            "it is not a speech set, use your own manifest with --data"
        )
    raise DataError(
        f"tensorflow-datasets set {dataset!r} has several Audio features ({', '.join(candidates)}); "
        "choose one with data.tfds_audio_key"
    )


def _text_key(dataset: str, features: Any, key: str | None) -> str:
    texts = [k for k, f in features.items() if _feature_kind(f) in ("text", "string")]
    if key:
        if key not in texts:
            raise DataError(
                f"tensorflow-datasets set {dataset!r} has no text feature {key!r} (text features: "
                f"{', '.join(texts) or 'none'}); fix data.tfds_text_key"
            )
        return key
    for preferred in _TEXT_PREFERENCE:
        if preferred in texts:
            return preferred
    candidates = [k for k in texts if _feature_kind(features[k]) == "text" and not _NOT_TEXT.search(k)]
    if len(candidates) == 1:
        return candidates[0]
    if not candidates:
        raise DataError(
            f"tensorflow-datasets set {dataset!r} has no transcript feature (text features: "
            f"{', '.join(texts) or 'none'}); set data.tfds_text_key or use your own manifest with --data"
        )
    raise DataError(
        f"tensorflow-datasets set {dataset!r}: which feature is the transcript is ambiguous "
        f"({', '.join(candidates)}); set data.tfds_text_key to one of them"
    )


def _id_key(features: Any, exclude: tuple[str, ...]) -> str | None:
    for key in _ID_KEYS:
        if key in features and key not in exclude and _feature_kind(features[key]) in ("text", "string"):
            return key
    return None


# --------------------------------------------------------------------------------------------- splits


def _split_overrides(data_config: Any) -> dict[str, str]:
    overrides = {}
    for role, key in _CONFIG_SPLIT_KEYS.items():
        value = str(getattr(data_config, key, "") or "").strip()
        if value:
            overrides[role] = value
    return overrides


def _generic_splits(dataset: str, builder: Any, overrides: dict[str, str]) -> dict[str, str | None]:
    """Train / validation / test splits of a generic set: remembered from an earlier run, else from tfds' info."""
    if len(overrides) == len(ROLES):
        return dict(overrides)
    remembered = _version_dir(builder) / _SPLITS_FILE
    if remembered.is_file():
        try:
            saved = json.loads(remembered.read_text(encoding="utf-8"))
            return {role: saved.get(role) for role in ROLES}
        except (json.JSONDecodeError, AttributeError):
            pass
    ensure_prepared(dataset, builder)
    splits = detect_splits(list(builder.info.splits.keys()))
    remembered.parent.mkdir(parents=True, exist_ok=True)
    remembered.write_text(json.dumps(splits, indent=1) + "\n", encoding="utf-8")
    return splits


def detect_splits(names: list[str]) -> dict[str, str | None]:
    """Train / validation / test among tfds split names; one split only is cut 90 / 5 / 5 %.

    `train`, `validation` (or `dev`, `valid`, `val`) and `test` are taken as they are, else the first name (in
    sorted order) that starts with them, e.g. `train_clean100`, `dev_clean`, `test_clean`. A role without a match
    is None.
    """
    names = sorted(names)
    if len(names) == 1:
        return {role: f"{names[0]}{_SINGLE_SPLIT_SLICES[role]}" for role in ROLES}
    prefixes = {"train": ("train",), "validation": ("validation", "dev", "valid", "val"), "test": ("test",)}
    found: dict[str, str | None] = {}
    for role in ROLES:
        exact = next((p for p in prefixes[role] if p in names), None)
        found[role] = exact or next((n for p in prefixes[role] for n in names if n.startswith(p)), None)
    return found


def _num_examples(source: TfdsSpeechSource, split: str) -> int:
    try:
        return int(source.builder.info.splits[split].num_examples)
    except KeyError:
        pass
    except Exception as error:  # noqa: BLE001 - tfds' split parser raises ValueError/AssertionError/...
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        if not first.startswith("Unknown split"):
            raise DataError(
                f"tensorflow-datasets set {source.dataset!r}: split {split!r} is invalid ({first}); splits: "
                f"{', '.join(source.builder.info.splits.keys())}; fix data.tfds_train_split / _validation_split / "
                "_test_split"
            ) from None
    raise DataError(
        f"tensorflow-datasets set {source.dataset!r} has no split {split!r} (splits: "
        f"{', '.join(source.builder.info.splits.keys())}); fix data.tfds_train_split / _validation_split / "
        "_test_split"
    )


# --------------------------------------------------------------------------------------------- conversion


def _examples(source: TfdsSpeechSource, split: str, skip: int) -> Iterator[dict]:
    """The split's examples as numpy dicts, in tfds' stored order, one at a time."""
    import tensorflow_datasets as tfds

    keys = {source.audio_key: True, source.text_key: True}
    if source.id_key:
        keys[source.id_key] = True
    decoders = {source.audio_key: tfds.decode.SkipDecoding()} if source.lazy else None
    dataset = source.builder.as_dataset(
        split=split,
        shuffle_files=False,
        decoders=tfds.decode.PartialDecoding(keys, decoders=decoders),
        read_config=tfds.ReadConfig(interleave_cycle_length=1),
    )
    if skip:
        dataset = dataset.skip(skip)
    yield from dataset.as_numpy_iterator()


def _resume_rows(partial: Path) -> list[str]:
    """Audio file stems of the rows already written; a row cut off by an interruption is removed."""
    if not partial.is_file():
        return set()
    content = partial.read_bytes()
    if content and not content.endswith(b"\n"):
        content = content[: content.rfind(b"\n") + 1]
        with open(partial, "wb") as handle:
            handle.write(content)
    lines = content.decode("utf-8").splitlines()
    if lines and tuple(next(csv.reader(lines[:1]))) != MANIFEST_COLUMNS:
        raise DataError(f"{partial} is not a seqtasks partial manifest; delete {partial.parent} and run again")
    return [Path(row[0]).stem for row in csv.reader(lines[1:]) if row]


def _csv_line(values: tuple[str, ...]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(values)
    return out.getvalue()


def _transcript(value: Any) -> str:
    text = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
    # One row per line keeps the resume check simple; the task collapses whitespace anyway.
    return " ".join(text.splitlines()) if ("\n" in text or "\r" in text) else text


def _file_stem(source: TfdsSpeechSource, example: dict, index: int, taken: set[str]) -> str:
    stem = ""
    if source.id_key:
        value = example[source.id_key]
        value = value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)
        name = Path(value.replace("\\", "/")).name
        for suffix in (".flac", ".wav", ".mp3", ".ogg", ".opus"):
            if name.lower().endswith(suffix):
                name = name[: -len(suffix)]
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._")
    if not stem:
        return f"{index:08d}"
    return stem if stem not in taken else f"{stem}-{index:08d}"


def _write_audio(
    source: TfdsSpeechSource, example: dict, audio_dir: Path, stem: str, label: str
) -> tuple[str, float]:
    """Writes one example's audio under `audio_dir` (atomically) and returns (path relative to the split, seconds)."""
    import soundfile

    value = example[source.audio_key]
    if source.lazy:
        data = bytes(value)
        try:
            info = soundfile.info(io.BytesIO(data))
            duration, kind = info.frames / info.samplerate, info.format.lower()
        except Exception:  # noqa: BLE001 - undecodable bytes are kept; the task's bad-audio policy reports them
            duration, kind = 0.0, ""
        extension = (source.file_format or kind or "bin").lower().lstrip(".")
        target = audio_dir / f"{stem}.{extension}"
        _atomic_write(target, lambda tmp: tmp.write_bytes(data))
        return f"audio/{target.name}", duration
    samples = _pcm16(np.asarray(value), label, stem)
    rate = int(source.sample_rate)
    # FLAC cannot store zero samples; an empty example is kept as an empty WAV for the task's bad-audio policy.
    file_format = "FLAC" if len(samples) else "WAV"
    target = audio_dir / f"{stem}.{file_format.lower()}"
    _atomic_write(
        target,
        lambda tmp: soundfile.write(tmp, samples, rate, subtype="PCM_16", format=file_format),
    )
    return f"audio/{target.name}", len(samples) / rate


def _atomic_write(target: Path, write: Any) -> None:
    tmp = target.with_name(target.name + ".tmp")
    write(tmp)
    os.replace(tmp, target)


def _pcm16(samples: np.ndarray, label: str, stem: str) -> np.ndarray:
    """16-bit samples from tfds' integer (any width) or float waveforms."""
    if samples.ndim not in (1, 2):
        raise DataError(f"{label} example {stem}: audio of shape {samples.shape} is not (samples[, channels])")
    if samples.size == 0:
        return samples.astype(np.int16)
    if np.issubdtype(samples.dtype, np.integer):
        peak = int(np.max(np.abs(samples.astype(np.int64))))
        if peak <= 32767:
            return samples.astype(np.int16)
        # Wider integers (24- or 32-bit sources): scale down to 16 bits.
        bits = 24 if peak < 2**23 else 32
        return (samples.astype(np.float64) / 2 ** (bits - 16)).clip(-32768, 32767).astype(np.int16)
    floats = samples.astype(np.float64)
    peak = float(np.max(np.abs(floats)))
    if peak > 1.0:
        # Floats holding integer-range values; otherwise clip-free full scale.
        floats = floats / (32768.0 if peak <= 32768.0 else peak)
    return np.round(floats * 32767.0).clip(-32768, 32767).astype(np.int16)


def _log(message: str) -> None:
    print(f"[seqtasks tfds] {message}", file=sys.stderr, flush=True)
