"""Speech recognition data: the user's manifests and folders, the named sources, and the batches fed to the model.

Readers return `seqtasks.data.utterances.Utterance` records (a transcript plus an audio file or an in-memory
waveform, an optional duration from the manifest, and a `source` string that error messages use):

* `read_manifest` / `read_folder` / `read_user_data`: the user's own `path,transcript` manifests (CSV, TSV,
  JSONL) and folders of audio files with same-name `.txt` transcripts; `user_sources` holds out seeded
  validation / test parts of them.
* `read_sources`: what `data.dataset` / `data.path` name (the user's files, a tensorflow-datasets speech set
  through `seqtasks.data.speech_tfds`, FSDD through `seqtasks.data.fsdd`, or FSDD connected digits generated on
  the fly by `seqtasks.data.connected_digits`); `add_extra` adds `data.extra_train_path` and `add_synthetic`
  sentences rendered by espeak-ng (`seqtasks.data.synthetic_speech`, `data.synthetic_sentences`) to the training
  data after the real split (`ConcatSource` joins extra utterances to generated connected digits).

The utterances are checked (scanned) under the bad-audio policy by `seqtasks.data.utterances` and read lazily
through `seqtasks.data.lazy_audio`. Batches are planned in Python from the utterance lengths
(`seqtasks.data.bucketing.plan_batches`), so their number is known before the epoch starts (which the runtime
needs to resume mid-epoch), and the audio is produced batch by batch (`batches_dataset`), so neither an epoch of
generated connected digits nor a LibriSpeech-size set of files ever sits in memory at once.

Element structure of the datasets (what `CTCSpeechModel.fit` takes)::

    ({"waveform": float32 (batch, samples) zero-padded, "waveform_length": int32 (batch,)},
     {"labels": int32 (batch, max_chars) padded with -1, "label_length": int32 (batch,)})
"""

from __future__ import annotations

import csv
import dataclasses
import difflib
import io
import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import tensorflow as tf

from seqtasks.audio.io import AUDIO_EXTENSIONS
from seqtasks.data import speech_tfds, synthetic_speech
from seqtasks.data.connected_digits import ConnectedDigits
from seqtasks.data.fsdd import FSDDRecording, find_fsdd, fsdd_split, fsdd_utterances, read_fsdd
from seqtasks.data.lazy_audio import LazyUtterances
from seqtasks.data.registry import local_data_dir, path_in_data_dir
from seqtasks.data.transcripts import Alphabet, normalize_transcript
from seqtasks.data.utterances import Utterance
from seqtasks.errors import ConfigError, DataError
from seqtasks.losses.ctc import PAD_LABEL, ctc_min_frames

# Datasets read here besides the tensorflow-datasets sets; `spoken_digit` is tfds' name of FSDD (the same
# recordings, official split kept).
DATASETS = ("fsdd_connected_digits", "fsdd", "spoken_digit")
MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".ndjson")
_MANIFEST_PATH_KEYS = ("path", "audio_filepath", "audio", "file")
_MANIFEST_TEXT_KEYS = ("transcript", "text", "sentence")
_MANIFEST_DURATION_KEY = "duration"


# --------------------------------------------------------------------------------------------- the user's files


def _pick(row: dict, keys: Sequence[str]) -> str | None:
    for key in keys:
        if key in row and row[key] is not None:
            return row[key]
    return None


def _manifest_row(
    manifest: Path, line: int, row: dict, normalize: bool
) -> Utterance:
    audio = _pick(row, _MANIFEST_PATH_KEYS)
    text = _pick(row, _MANIFEST_TEXT_KEYS)
    if audio is None or not str(audio).strip():
        raise DataError(f"{manifest} line {line}: empty audio path. Fix: fill the `path` column or remove the row.")
    if text is None:
        raise DataError(f"{manifest} line {line}: no transcript. Fix: fill the `transcript` column.")
    if not isinstance(text, str) or not isinstance(audio, str):
        raise DataError(f"{manifest} line {line}: `path` and `transcript` must be strings.")
    audio_path = Path(audio.strip())
    if not audio_path.is_absolute():
        audio_path = manifest.parent / audio_path
    transcript = normalize_transcript(text) if normalize else text
    duration = _manifest_duration(manifest, line, row.get(_MANIFEST_DURATION_KEY))
    return Utterance(transcript=transcript, path=audio_path, source=f"{manifest.name} line {line}", duration=duration)


def _manifest_duration(manifest: Path, line: int, value: Any) -> float | None:
    """The optional `duration` field in seconds; empty or absent = unknown."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        if isinstance(value, bool):
            raise ValueError
        duration = float(value.strip() if isinstance(value, str) else value)
    except (TypeError, ValueError):
        duration = math.nan
    if not math.isfinite(duration) or duration < 0:
        raise DataError(
            f"{manifest} line {line}: invalid duration {value!r} (expected seconds, a number >= 0). Fix: correct "
            "it or leave the `duration` field empty to read the length from the audio file."
        )
    return duration


def read_manifest(path: str | os.PathLike, normalize: bool = True) -> list[Utterance]:
    """Reads a CSV or JSONL manifest of `path,transcript` rows; relative audio paths are relative to the manifest.

    CSV (`.csv`, or `.tsv` with tabs): a header naming the columns `path` and `transcript` (also accepted:
    `audio_filepath`/`audio`/`file` and `text`/`sentence`); RFC 4180 quoting, so transcripts may contain commas,
    quotes (doubled) and newlines. JSONL (`.jsonl`/`.json`): one JSON object per line with the same keys
    (NeMo-style `audio_filepath`/`text` manifests read as they are). An optional `duration` column/key gives
    each file's length in seconds (empty = unknown), which spares a scan from opening the files. Audio files
    are checked when scanned or loaded, under the bad-audio policy, not here.

    Args:
        path: the manifest file.
        normalize: apply `normalize_transcript` to every transcript.

    Raises:
        DataError: missing or empty manifest, missing columns, malformed rows or durations (message with the line
            number).
    """
    manifest = Path(path)
    if not manifest.is_file():
        raise DataError(f"Manifest {manifest} does not exist. Fix: check the path (`data.manifest`).")
    try:
        content = manifest.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as error:
        raise DataError(f"Manifest {manifest} is not UTF-8 text ({error.reason} at byte {error.start}). "
                        "Fix: save it as UTF-8.") from None
    if not content.strip():
        raise DataError(f"Manifest {manifest} is empty. Fix: add `path,transcript` rows.")
    utterances: list[Utterance] = []
    suffix = manifest.suffix.lower()
    if suffix in (".jsonl", ".json", ".ndjson"):
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{manifest} line {number}: invalid JSON ({error.msg}). Fix: one JSON object per line.") from None
            if not isinstance(row, dict):
                raise DataError(f"{manifest} line {number}: expected a JSON object with `path` and `transcript`.")
            utterances.append(_manifest_row(manifest, number, row, normalize))
    else:
        delimiter = "\t" if suffix == ".tsv" else ","
        reader = csv.DictReader(io.StringIO(content, newline=""), delimiter=delimiter, strict=True)
        fields = [f.strip().lower() for f in (reader.fieldnames or [])]
        reader.fieldnames = fields
        if not any(k in fields for k in _MANIFEST_PATH_KEYS) or not any(k in fields for k in _MANIFEST_TEXT_KEYS):
            raise DataError(
                f"{manifest} line 1: header {fields!r} lacks the columns `path` and `transcript`. Fix: start the "
                "file with the header line `path,transcript`."
            )
        try:
            for row in reader:
                if None in row:
                    raise DataError(
                        f"{manifest} line {reader.line_num}: more fields than the header has. Fix: quote "
                        "transcripts containing commas (\"...\")."
                    )
                if all(v in (None, "") for v in row.values()):
                    continue
                utterances.append(_manifest_row(manifest, reader.line_num, row, normalize))
        except csv.Error as error:
            raise DataError(f"{manifest} line {reader.line_num}: malformed CSV ({error}). Fix: check the quoting.") from None
    if not utterances:
        raise DataError(f"Manifest {manifest} has no rows. Fix: add `path,transcript` rows.")
    return utterances


def read_folder(folder: str | os.PathLike, normalize: bool = True) -> list[Utterance]:
    """Reads a folder (recursively) of audio files, each with a transcript in a same-name `.txt` file.

    Raises:
        DataError: the folder is missing or holds no audio, or an audio file has no transcript file.
    """
    root = Path(folder)
    if not root.is_dir():
        raise DataError(f"Audio folder {root} does not exist. Fix: check the path (`data.folder`).")
    files = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in AUDIO_EXTENSIONS)
    if not files:
        raise DataError(f"Audio folder {root} holds no audio files ({', '.join(AUDIO_EXTENSIONS)}).")
    utterances = []
    for audio in files:
        text_file = audio.with_suffix(".txt")
        if not text_file.is_file():
            raise DataError(f"Audio file {audio} has no transcript {text_file.name}. Fix: add it or remove the audio file.")
        try:
            text = text_file.read_text(encoding="utf-8-sig")
        except UnicodeDecodeError:
            raise DataError(f"Transcript {text_file} is not UTF-8 text. Fix: save it as UTF-8.") from None
        transcript = normalize_transcript(text) if normalize else text.strip()
        utterances.append(Utterance(transcript=transcript, path=audio, source=text_file.name))
    return utterances


def read_user_data(paths: Sequence[str], normalize: bool) -> list[Utterance]:
    """Utterances from manifests and folders (a single audio file needs a same-name .txt transcript)."""
    utterances: list[Utterance] = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            utterances.extend(read_folder(path, normalize))
        elif path.suffix.lower() in MANIFEST_SUFFIXES:
            utterances.extend(read_manifest(path, normalize))
        elif path.suffix.lower() in AUDIO_EXTENSIONS and path.with_suffix(".txt").is_file():
            text = path.with_suffix(".txt").read_text(encoding="utf-8")
            utterances.append(Utterance(normalize_transcript(text) if normalize else text.strip(), path))
        elif not path.exists():
            raise DataError(f"Data path {path} does not exist. Fix: pass a manifest (.csv/.jsonl) or a folder.")
        else:
            raise DataError(
                f"Data path {path} is neither a manifest ({', '.join(MANIFEST_SUFFIXES)}) nor a folder. "
                "Fix: write a `path,transcript` manifest for it."
            )
    return utterances


def user_sources(
    train_paths: Sequence[str],
    validation_paths: Sequence[str] = (),
    test_paths: Sequence[str] = (),
    *,
    normalize: bool = True,
    validation_fraction: float = 0.1,
    test_fraction: float = 0.0,
    seed: int = 0,
) -> tuple[list[Utterance], list[Utterance], list[Utterance] | None]:
    """The (train, validation, test) utterances of manifests and folders; no audio is read.

    Without `validation_paths`, a seeded `validation_fraction` of the training utterances is held out for
    validation; without `test_paths`, a seeded `test_fraction` is held out for testing (disjoint from the
    validation part, which does not depend on `test_fraction`), and with `test_fraction=0` the test list is
    `None` (evaluation then scores the validation data).

    Args:
        train_paths: manifests/folders of the training data.
        validation_paths: manifests/folders of the validation data, or empty.
        test_paths: manifests/folders of the test data, or empty.
        normalize: apply `normalize_transcript` to every transcript.
        validation_fraction: share of the training utterances held out when `validation_paths` is empty.
        test_fraction: share of the training utterances held out for testing when `test_paths` is empty.
        seed: seed of the held-out choice.
    """
    data = read_user_data(train_paths, normalize)
    order = np.random.default_rng(seed).permutation(len(data))
    held_validation = 0 if validation_paths or len(data) < 2 else int(round(len(data) * validation_fraction))
    held_test = 0 if test_paths or len(data) < 2 else int(round(len(data) * test_fraction))
    if held_validation + held_test >= len(data) and held_validation + held_test > 0:
        raise DataError(
            f"holding out {held_validation} validation and {held_test} test utterances leaves none of the "
            f"{len(data)} for training. Fix: lower data.validation_fraction / data.test_fraction or add data"
        )
    validation = [data[i] for i in sorted(order[:held_validation])]
    test = [data[i] for i in sorted(order[held_validation : held_validation + held_test])]
    train = [data[i] for i in sorted(order[held_validation + held_test :])]
    if validation_paths:
        validation = read_user_data(validation_paths, normalize)
    if test_paths:
        test = read_user_data(test_paths, normalize)
    return train, validation, (test or None)


# --------------------------------------------------------------------------------------------- named sources


@dataclasses.dataclass
class SpeechSources:
    """What `data.dataset` / `data.path` name, read but not scanned (no audio is read).

    Attributes:
        mode: `"user"` (manifests and folders, also a converted tensorflow-datasets set), `"fsdd"` (single FSDD
            digits) or `"digits"` (connected digits generated from FSDD).
        train, validation, test: the utterance lists (`None` in digits mode; `test` is `None` when the data has
            no test part, then evaluation scores the validation data).
        fsdd: the FSDD recordings of each split (`train`, `validation`, `test`) in the FSDD modes, else empty.
        extra: `data.extra_train_path` in digits mode, trained next to the generated utterances (the other modes
            append it to `train`).
    """

    mode: str
    train: list[Utterance] | None = None
    validation: list[Utterance] | None = None
    test: list[Utterance] | None = None
    fsdd: dict[str, list[FSDDRecording]] = dataclasses.field(default_factory=dict)
    extra: list[Utterance] = dataclasses.field(default_factory=list)


def read_sources(
    data_config: Any, seed: int, progress: TextIO | None = None, synthetic: bool = True
) -> SpeechSources:
    """Reads the utterance lists of the data section `data_config` (see `SpeechSources`); `seed` is the one of
    the held-out validation / test parts of the user's data (`train.seed`).

    With `synthetic` (training; evaluation passes False and reads neither), `data.extra_train_path`
    (`add_extra`) and the synthetic utterances of `data.synthetic_sentences` (`add_synthetic`) join the training
    data after the real data is split, so the split does not depend on them; `progress` (None = standard error)
    gets the rendering progress and the lines saying what was added.
    """
    sources = _read_real_sources(data_config, seed)
    if synthetic and getattr(data_config, "extra_train_path", None):
        add_extra(sources, data_config, progress)
    if synthetic and getattr(data_config, "synthetic_sentences", 0) > 0:
        add_synthetic(sources, data_config, progress)
    return sources


def extra_train_paths(data_config: Any) -> list[str]:
    """`data.extra_train_path`, each as given or else under the local data directory (`data.data_dir`, else
    $SEQTASKS_DATA_DIR).

    Raises:
        DataError: a path found in neither place.
    """
    found = []
    root = local_data_dir(data_config)
    for name in data_config.extra_train_path:
        path = path_in_data_dir(name, root)
        if not path.exists():
            where = f"nor under the data directory {root}" if root is not None else "and no data directory is set"
            raise DataError(f"data.extra_train_path: {name} does not exist ({where}). Fix: correct the path, or give "
                            "the folder it is relative to with --data-dir / $SEQTASKS_DATA_DIR.")
        found.append(str(path))
    return found


def add_extra(sources: SpeechSources, data_config: Any, progress: TextIO | None = None) -> list[Utterance]:
    """Reads `data.extra_train_path` into `sources.extra` (digits mode: the epochs add it to the generated
    utterances) or onto the end of `sources.train` (the split of the real data is already made, so the extra data
    never validates or tests), and returns it.

    Raises:
        DataError: a path that does not exist (as given, nor under `data.data_dir`), a malformed manifest, or an
            audio file that is also validation or test data.
    """
    paths = extra_train_paths(data_config)
    try:
        extra = read_user_data(paths, data_config.normalize_transcripts)
    except DataError as error:
        raise DataError(f"data.extra_train_path: {error}") from None
    held_out = {Path(u.path).resolve() for part in (sources.validation, sources.test) for u in part or () if u.path}
    shared = [u.path for u in extra if u.path is not None and Path(u.path).resolve() in held_out]
    if shared:
        raise DataError(
            f"data.extra_train_path: {len(shared)} file(s) are also validation or test data (e.g. {shared[0]}), which "
            "would then be trained on. Fix: leave them out of data.extra_train_path or of the held-out data"
        )
    if sources.train is None:
        sources.extra = extra
    else:
        sources.train = [*sources.train, *extra]
    named = ", ".join(paths[:3]) + (f" and {len(paths) - 3} more" if len(paths) > 3 else "")
    print(f"extra training data: added {len(extra)} utterances from {named}", file=progress or sys.stderr, flush=True)
    return extra


def add_synthetic(sources: SpeechSources, data_config: Any, progress: TextIO | None = None) -> list[Utterance]:
    """Appends `data.synthetic_sentences` espeak-ng utterances (`seqtasks.data.synthetic_speech`) to
    `sources.train` and returns them; no sentence equals a transcript of the real train, validation or test data.

    Raises:
        ConfigError: connected digits (generated every epoch: no training list to extend), or espeak-ng missing.
    """
    d = data_config
    if sources.train is None:
        raise ConfigError(
            f"data.synthetic_sentences adds sentences to a training list, which data.dataset={d.dataset} (generated "
            "every epoch) has none of; use your own data (--data) or a named corpus, or set data.synthetic_sentences=0"
        )
    real = [u.transcript for part in (sources.train, sources.validation, sources.test) for u in part or ()]
    manifest, files = synthetic_speech.synthetic_manifest(
        d.synthetic_sentences, text=d.synthetic_text, data_config=d, exclude=real, voices=d.synthetic_voices,
        rates=d.synthetic_rates, pitches=d.synthetic_pitches, seed=d.synthetic_seed, progress=progress,
    )
    synthetic = read_manifest(manifest, d.normalize_transcripts)
    sources.train = [*sources.train, *synthetic]
    named = ", ".join(str(f) for f in files[:3]) + (f" and {len(files) - 3} more" if len(files) > 3 else "")
    print(f"synthetic speech: added {len(synthetic)} espeak-ng sentences from {named} to the training data "
          f"({manifest.parent})", file=progress or sys.stderr, flush=True)
    return synthetic


def _read_real_sources(data_config: Any, seed: int) -> SpeechSources:
    d = data_config
    held_out = {"normalize": d.normalize_transcripts, "validation_fraction": d.validation_fraction,
                "test_fraction": d.test_fraction, "seed": seed}
    if d.path:
        return SpeechSources("user", *user_sources(d.path, d.validation_path, d.test_path, **held_out))
    if speech_tfds.is_tfds_dataset(d.dataset):
        manifests = speech_tfds.tfds_manifests(d)
        return SpeechSources("user", *user_sources(
            [str(manifests["train"])],
            [str(manifests["validation"])] if manifests["validation"] else [],
            [str(manifests["test"])] if manifests["test"] else [],
            **held_out,
        ))
    if d.dataset not in DATASETS:
        names = [*DATASETS, *sorted(speech_tfds.PRESETS)]
        close = difflib.get_close_matches(d.dataset, names, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise DataError(
            f"unknown speech dataset {d.dataset!r}; {hint}known: {', '.join([*names, 'tfds:NAME[/CONFIG]'])}; "
            "or use your own data with --data MANIFEST_OR_FOLDER"
        )
    recordings = read_fsdd(find_fsdd(d))
    splits = {split: fsdd_split(recordings, split, d.validation_indices, d.test_speakers) for split in ("train", "validation", "test")}
    if d.dataset == "fsdd_connected_digits":
        return SpeechSources("digits", fsdd=splits)
    train, validation, test = (fsdd_utterances(splits[s]) for s in ("train", "validation", "test"))
    return SpeechSources("fsdd", train, validation, test, fsdd=splits)  # fsdd, spoken_digit


class DigitsSource:
    """Connected digits as an indexable source for batching: lengths and transcripts without building audio."""

    def __init__(self, alphabet: Alphabet, digits: ConnectedDigits) -> None:
        self.alphabet, self.digits = alphabet, digits
        self._lengths: dict[int, int] = {}
        self._transcripts: dict[int, str] = {}

    def __len__(self) -> int:
        return len(self.digits)

    def num_samples(self, i: int) -> int:
        if i not in self._lengths:
            self._lengths[i] = self.digits.num_samples(i)
        return self._lengths[i]

    def transcript(self, i: int) -> str:
        if i not in self._transcripts:
            self._transcripts[i] = self.digits.transcript(i)
        return self._transcripts[i]

    def min_frames(self, i: int) -> int:
        return ctc_min_frames(self.alphabet.encode(self.transcript(i)))

    def waveform(self, i: int) -> np.ndarray:
        return self.digits[i].audio

    def example(self, i: int) -> tuple[np.ndarray, list[int]]:
        utterance = self.digits[i]
        return utterance.audio, self.alphabet.encode(utterance.transcript)


class ConcatSource:
    """Two indexable training sources as one (generated connected digits, then the extra utterances): index
    `i < len(first)` is `first[i]`, the rest are `second[i - len(first)]`."""

    def __init__(self, first: DigitsSource, second: LazyUtterances) -> None:
        self.first, self.second, self._split = first, second, len(first)

    def __len__(self) -> int:
        return self._split + len(self.second)

    def _at(self, i: int) -> tuple[Any, int]:
        return (self.first, i) if i < self._split else (self.second, i - self._split)

    def num_samples(self, i: int) -> int:
        source, j = self._at(i)
        return source.num_samples(j)

    def transcript(self, i: int) -> str:
        source, j = self._at(i)
        return source.transcript(j)

    def min_frames(self, i: int) -> int:
        source, j = self._at(i)
        return source.min_frames(j)

    def waveform(self, i: int) -> np.ndarray | None:
        source, j = self._at(i)
        return source.waveform(j)

    def example(self, i: int) -> tuple[np.ndarray, list[int]] | None:
        source, j = self._at(i)
        return source.example(j)


# --------------------------------------------------------------------------------------------- batches


ELEMENT_SPEC = (
    {
        "waveform": tf.TensorSpec([None, None], tf.float32),
        "waveform_length": tf.TensorSpec([None], tf.int32),
    },
    {
        "labels": tf.TensorSpec([None, None], tf.int32),
        "label_length": tf.TensorSpec([None], tf.int32),
    },
)


def pad_batch(waveforms: Sequence[np.ndarray], labels: Sequence[Sequence[int]]) -> tuple[dict, dict]:
    """Pads waveforms with 0 and labels with `PAD_LABEL` into the model's input/target dicts (NumPy)."""
    n = len(waveforms)
    wave_lengths = np.array([w.size for w in waveforms], np.int32)
    label_lengths = np.array([len(label) for label in labels], np.int32)
    wave = np.zeros((n, max(int(wave_lengths.max(initial=0)), 1)), np.float32)
    dense = np.full((n, max(int(label_lengths.max(initial=0)), 1)), PAD_LABEL, np.int32)
    for i, (w, label) in enumerate(zip(waveforms, labels, strict=True)):
        wave[i, : w.size] = w
        dense[i, : len(label)] = label
    return (
        {"waveform": wave, "waveform_length": wave_lengths},
        {"labels": dense, "label_length": label_lengths},
    )


def batches_dataset(
    batches: Sequence[Sequence[int]],
    example: Callable[[int], tuple[np.ndarray, Sequence[int]] | None],
    workers: int = 1,
    start: int = 0,
) -> tf.data.Dataset:
    """A dataset of the planned `batches` from batch `start` on; `example(i)` gives utterance i's waveform and
    label ids.

    The cardinality is `len(batches)`, so Keras shows progress and the runtime can skip finished batches. An
    `example(i)` of `None` (audio that cannot be decoded, skipped under `data.on_bad_audio=skip`) is left out of
    its batch. When none of a batch is left, the next planned batch that has audio takes its place, so the
    dataset still yields exactly `len(batches)` elements and element `k` stays a pure function of the plan
    (a resumed run skipping `k` batches sees what the uninterrupted run saw).

    Args:
        batches: utterance indices per batch (`seqtasks.data.bucketing.plan_batches`).
        example: reads one utterance; may return `None`.
        workers: threads reading the utterances of a batch at once (decoders release the GIL); 1 = in turn.
        start: the first batch produced (a run resumed mid-epoch); the batches before it are never read, and
            the dataset equals the full one with its first `start` elements skipped.

    Raises:
        DataError: (while iterating) no utterance of any batch can be read. Errors of `example` (a file that
            cannot be decoded under `data.on_bad_audio=fail`) reach the caller wrapped by tf.data; the runtime's
            trainer unwraps them into the one-line error again.
    """
    batches = [[int(i) for i in b] for b in batches]
    if workers < 1:
        raise ValueError(f"Received an invalid value for argument `workers`, expected a positive integer, got {workers}.")
    if not 0 <= start <= len(batches):
        raise ValueError(f"Received an invalid value for argument `start`, expected 0 <= start <= {len(batches)}, got {start}.")

    def generate():
        pool = ThreadPoolExecutor(workers, thread_name_prefix="audio") if workers > 1 and batches else None

        def read(batch: list[int]) -> list[tuple[np.ndarray, Sequence[int]]]:
            pairs = pool.map(example, batch) if pool is not None and len(batch) > 1 else map(example, batch)
            return [p for p in pairs if p is not None]

        try:
            for index in range(start, len(batches)):
                pairs, other = read(batches[index]), index
                while not pairs:
                    other = (other + 1) % len(batches)
                    if other == index:
                        raise DataError(
                            "none of the planned utterances can be decoded (all skipped under "
                            "data.on_bad_audio=skip). Fix: check the audio files of the data"
                        )
                    pairs = read(batches[other])
                yield pad_batch([p[0] for p in pairs], [p[1] for p in pairs])
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    dataset = tf.data.Dataset.from_generator(generate, output_signature=ELEMENT_SPEC)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(batches) - start)).prefetch(2)
