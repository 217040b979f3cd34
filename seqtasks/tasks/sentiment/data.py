"""Labelled text for sentiment classification: file readers, validation split, bucketed tf.data input.

Formats (`read_labelled`):

* TSV: one example a line, columns separated by tabs, read **without quote processing** (a review may start
  with a double quote, as thousands of IMDB reviews do). A `text<TAB>label` header by default.
* CSV: RFC 4180 (fields with commas, quotes or newlines are quoted, `""` escapes a quote).
* A folder per class: `ROOT/<class>/*.txt`, one example a file (the aclImdb layout: `train/pos`, `train/neg`).

Labels are strings, any number of classes. The class list is sorted (numerically when every label is an
integer) unless the config gives it, so the id of a class never depends on the order of the rows, and it is
saved with the model. Bad rows (wrong column count, empty text after cleaning, empty or unknown label,
undecodable bytes) are reported as `FILE:LINE: reason`; `on_bad_row="fail"` stops at the first one,
`"skip"` skips and counts them and keeps the list in `LabelledTexts.bad_rows`; nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import logging
import os
import re
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tensorflow as tf

from seqtasks.data.bucketing import bucket_by_length
from seqtasks.data.imdb import ImdbSplit
from seqtasks.errors import ConfigError, DataError

logger = logging.getLogger(__name__)

FORMATS = ("auto", "tsv", "csv", "folders")
BAD_ROW_POLICIES = ("fail", "skip")
TRUNCATE_MODES = ("head", "tail", "head_tail")
PAD_ID = 0

# One pattern set, applied by both `clean_text` (Python) and `clean_text_tf` (in the exported graph), so that
# the SavedModel sees the same text as training did. Explicit ASCII whitespace because RE2's `\s` and
# Python's differ on Unicode spaces.
_WS_CLASS = "[ \t\n\r\f\v]+"
_BR_RE = re.compile(r"<br[ \t\n\r\f\v]*/?>", re.IGNORECASE)
_WS_RE = re.compile(_WS_CLASS)


def clean_text(text: str) -> str:
    """Replaces HTML line breaks (`<br />`, `<br>`, any case) by spaces and collapses ASCII whitespace."""
    return _WS_RE.sub(" ", _BR_RE.sub(" ", text)).strip(" ")


def clean_text_tf(texts: tf.Tensor) -> tf.Tensor:
    """`clean_text` as TensorFlow ops on a string tensor (used inside exported models)."""
    texts = tf.strings.regex_replace(texts, r"(?i)<br[ \t\n\r\f\v]*/?>", " ")
    texts = tf.strings.regex_replace(texts, _WS_CLASS, " ")
    return tf.strings.regex_replace(texts, "^ +| +$", "")


@dataclass(frozen=True)
class BadRow:
    """A row that could not be used: where it is and why."""

    path: str
    line: int
    reason: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.reason}"


@dataclass
class LabelledTexts:
    """Texts with string labels, and the account of what was skipped while reading them.

    Attributes:
        texts: cleaned texts.
        labels: their labels, as strings.
        source: where they came from (a path or a dataset name), for messages.
        bad_rows: rows skipped under `on_bad_row="skip"`.
        blank_lines: empty lines, which carry no example and are only counted.
    """

    texts: list[str]
    labels: list[str]
    source: str
    bad_rows: list[BadRow] = field(default_factory=list)
    blank_lines: int = 0

    def __len__(self) -> int:
        return len(self.texts)

    def label_counts(self) -> dict[str, int]:
        return dict(sorted(Counter(self.labels).items()))

    def summary(self) -> str:
        """One line: examples per label, skipped rows and blank lines."""
        counts = ", ".join(f"{k}: {v}" for k, v in self.label_counts().items())
        line = f"{self.source}: {len(self)} examples ({counts})"
        if self.bad_rows:
            line += f", {len(self.bad_rows)} bad rows skipped (first: {self.bad_rows[0]})"
        if self.blank_lines:
            line += f", {self.blank_lines} blank lines"
        return line

    def subset(self, indices: Sequence[int] | np.ndarray, source: str | None = None) -> LabelledTexts:
        return LabelledTexts(
            texts=[self.texts[i] for i in indices],
            labels=[self.labels[i] for i in indices],
            source=source or self.source,
        )


def _bad_row_policy(on_bad_row: str) -> str:
    if on_bad_row not in BAD_ROW_POLICIES:
        raise ConfigError(
            f"Received an invalid value for `data.on_bad_row`, expected one of 'fail', 'skip', got {on_bad_row!r}."
        )
    return on_bad_row


def _decode(raw: bytes, path: Path) -> str:
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        line = raw[: err.start].count(b"\n") + 1
        raise DataError(
            f"{path}:{line}: not valid UTF-8 (byte 0x{raw[err.start]:02x}); re-save the file as UTF-8."
        ) from None


def _column_index(column: str | int, header: list[str] | None, path: Path, key: str) -> int:
    if isinstance(column, bool) or not isinstance(column, int | str):
        raise ConfigError(
            f"Received an invalid value for `data.{key}`, expected a column name or a 0-based index, got {column!r}."
        )
    if isinstance(column, int):
        if column < 0:
            raise ConfigError(f"Received an invalid value for `data.{key}`, expected an index >= 0, got {column}.")
        if header is not None and column >= len(header):
            raise DataError(
                f"{path}:1: the header has {len(header)} columns, so `data.{key}`={column} does not exist; "
                "set it to an index below that or to a column name."
            )
        return column
    if header is None:
        raise ConfigError(
            f"`data.{key}`={column!r} names a column, but `data.header` is false for {path}; "
            "give a 0-based column index instead, or set data.header=true."
        )
    if column not in header:
        raise DataError(
            f"{path}:1: no column named {column!r} in the header ({', '.join(map(repr, header))}); "
            f"set `data.{key}` to one of these names or to a 0-based index."
        )
    return header.index(column)


def _split_tsv(text: str) -> Iterator[tuple[int, list[str]]]:
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    for number, line in enumerate(lines, start=1):
        yield number, line.removesuffix("\r").split("\t")


def _split_csv(text: str, path: Path) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    previous = 0
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as err:
            # The record boundaries are unknown after broken quoting, so this cannot be skipped.
            raise DataError(
                f"{path}:{previous + 1}: malformed CSV quoting ({err}); quote fields as in RFC 4180 "
                '(a literal quote is written "") or save the file as TSV.'
            ) from None
        yield previous + 1, row
        previous = reader.line_num


def _rows_to_examples(
    rows: Iterator[tuple[int, list[str]]],
    path: Path,
    text_column: str | int,
    label_column: str | int,
    header: bool,
    accept: Callable[[str, str], str | None],
    report: Callable[[BadRow], None],
    out: LabelledTexts,
) -> None:
    header_row: list[str] | None = None
    expected: int | None = None
    text_idx = label_idx = -1
    for number, row in rows:
        if not row or (len(row) == 1 and not row[0].strip()):
            out.blank_lines += 1
            continue
        if expected is None:
            if header:
                header_row = [c.strip() for c in row]
                text_idx = _column_index(text_column, header_row, path, "text_column")
                label_idx = _column_index(label_column, header_row, path, "label_column")
                expected = len(header_row)
                continue
            text_idx = _column_index(text_column, None, path, "text_column")
            label_idx = _column_index(label_column, None, path, "label_column")
            expected = len(row)
            if max(text_idx, label_idx) >= expected:
                raise DataError(
                    f"{path}:{number}: the first row has {expected} columns, so column "
                    f"{max(text_idx, label_idx)} does not exist; fix data.text_column / data.label_column."
                )
        if len(row) != expected:
            report(BadRow(str(path), number, f"expected {expected} columns, found {len(row)}"))
            continue
        reason = accept(row[text_idx], row[label_idx])
        if reason:
            report(BadRow(str(path), number, reason))


def read_labelled(
    path: str | os.PathLike,
    *,
    format: str = "auto",
    text_column: str | int = "text",
    label_column: str | int = "label",
    header: bool = True,
    classes: Sequence[str] | None = None,
    label_map: Mapping[str, str] | None = None,
    on_bad_row: str = "fail",
    clean: bool = True,
) -> LabelledTexts:
    """Reads labelled texts from a TSV or CSV file or from a folder per class.

    Args:
        path: the file, or the root folder holding one subfolder per class.
        format: `"tsv"`, `"csv"`, `"folders"`, or `"auto"` (a folder, else by the file suffix; other
            suffixes are read as TSV).
        text_column: the text column, by header name or 0-based index (files only).
        label_column: the label column, by header name or 0-based index (files only).
        header: whether the file's first non-blank line is a header.
        classes: the accepted labels (after `label_map`); any other label is a bad row. For folders it also
            selects the subfolders (others, such as aclImdb's `unsup/`, are left out and logged). `None`
            accepts every label.
        label_map: renames labels as they are read, e.g. `{"0": "negative", "1": "positive"}`; labels not
            in the map are kept as they are.
        on_bad_row: `"fail"` raises `DataError` at the first bad row; `"skip"` skips and counts bad rows.
        clean: apply `clean_text` (HTML line breaks, whitespace).

    Returns:
        The examples in file order, with the skipped rows.

    Raises:
        DataError: a missing path, undecodable file, bad header, a bad row under `"fail"`, or no example.
    """
    policy = _bad_row_policy(on_bad_row)
    if format not in FORMATS:
        raise ConfigError(
            f"Received an invalid value for `data.format`, expected one of {', '.join(map(repr, FORMATS))}, "
            f"got {format!r}."
        )
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError(f"Data path {str(path)!r} does not exist; check the path given as data file or folder.")
    if format == "auto":
        format = "folders" if path.is_dir() else ("csv" if path.suffix.lower() == ".csv" else "tsv")
    if (format == "folders") != path.is_dir():
        raise DataError(
            f"{path}: format {format!r} needs a {'folder' if format == 'folders' else 'file'}; "
            "set data.format to match the path."
        )
    allowed = None if classes is None else {str(c) for c in classes}
    mapping = {str(k): str(v) for k, v in (label_map or {}).items()}
    out = LabelledTexts(texts=[], labels=[], source=str(path))

    def report(bad: BadRow) -> None:
        if policy == "fail":
            raise DataError(f"{bad}; fix the row, or set data.on_bad_row=skip to skip and count bad rows.")
        out.bad_rows.append(bad)

    def accept(text: str, label: str) -> str | None:
        label = label.strip()
        label = mapping.get(label, label)
        if clean:
            text = clean_text(text)
        if not text.strip():
            return "empty text"
        if not label:
            return "empty label"
        if allowed is not None and label not in allowed:
            return f"unknown label {label!r} (classes: {', '.join(sorted(allowed))})"
        out.texts.append(text)
        out.labels.append(label)
        return None

    if format == "folders":
        _read_folders(path, allowed, mapping, accept, report)
    else:
        text = _decode(path.read_bytes(), path)
        rows = _split_tsv(text) if format == "tsv" else _split_csv(text, path)
        _rows_to_examples(rows, path, text_column, label_column, header, accept, report, out)
    if not out.texts:
        raise DataError(
            f"{path}: no usable example ({len(out.bad_rows)} bad rows, {out.blank_lines} blank lines); "
            "check the format, the columns and the classes in the config."
        )
    if out.bad_rows:
        logger.warning("%s", out.summary())
    return out


def _read_folders(
    root: Path,
    allowed: set[str] | None,
    mapping: Mapping[str, str],
    accept: Callable[[str, str], str | None],
    report: Callable[[BadRow], None],
) -> None:
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    used = [p for p in folders if allowed is None or mapping.get(p.name, p.name) in allowed]
    left_out = [p.name for p in folders if p not in used]
    if left_out:
        logger.info("%s: folders %s are not among the classes and were not read.", root, left_out)
    if not used:
        raise DataError(
            f"{root}: no class folder found (expected subfolders such as pos/ and neg/ holding .txt files"
            + (f", named as the classes {sorted(allowed)}" if allowed else "")
            + ")."
        )
    for folder in used:
        others = [p.name for p in folder.iterdir() if p.suffix.lower() != ".txt" and not p.name.startswith(".")]
        if others:
            logger.warning("%s: %d entries without the .txt suffix were not read (e.g. %s).", folder, len(others),
                           others[0])
        for file in sorted(folder.glob("*.txt")):
            raw = file.read_bytes()
            try:
                text = raw.decode("utf-8-sig")
            except UnicodeDecodeError as err:
                report(BadRow(str(file), raw[: err.start].count(b"\n") + 1, "not valid UTF-8"))
                continue
            reason = accept(text, folder.name)
            if reason:
                report(BadRow(str(file), 1, reason))


def sorted_classes(labels: Sequence[str]) -> list[str]:
    """The distinct labels in a stable order: numeric when every label is an integer, else alphabetical."""
    distinct = set(labels)
    if all(re.fullmatch(r"-?\d+", s) for s in distinct):
        return sorted(distinct, key=int)
    return sorted(distinct)


def encode_labels(labels: Sequence[str], classes: Sequence[str], source: str = "data") -> np.ndarray:
    """Maps string labels to class ids (int32) in the order of `classes`."""
    index = {c: i for i, c in enumerate(classes)}
    unknown = sorted({label for label in labels if label not in index})
    if unknown:
        raise DataError(
            f"{source}: labels {unknown[:5]} are not among the model's classes {list(classes)}; "
            "relabel the data or fine-tune a new head with `seqtasks finetune`."
        )
    return np.array([index[label] for label in labels], dtype=np.int32)


def split_validation(
    data: LabelledTexts, fraction: float, seed: int
) -> tuple[LabelledTexts, LabelledTexts]:
    """Carves a seeded, class-stratified validation split out of `data`.

    Each class gives `round(fraction * count)` examples (at least one when it has two or more), so a small
    class is not missing from validation.

    Args:
        data: the training examples.
        fraction: the validation share, in `(0, 1)`.
        seed: the shuffling seed; the same seed gives the same split.

    Returns:
        `(train, validation)`, both in a shuffled order.
    """
    if not 0.0 < fraction < 1.0:
        raise ConfigError(
            f"Received an invalid value for `data.validation_split`, expected a number in (0, 1), got {fraction!r}."
        )
    rng = np.random.default_rng(seed)
    labels = np.array(data.labels, dtype=object)
    val_idx: list[np.ndarray] = []
    train_idx: list[np.ndarray] = []
    for label in sorted_classes(data.labels):
        idx = np.flatnonzero(labels == label)
        rng.shuffle(idx)
        take = int(round(fraction * len(idx)))
        if len(idx) >= 2:
            take = min(max(take, 1), len(idx) - 1)
        val_idx.append(idx[:take])
        train_idx.append(idx[take:])
    val = np.concatenate(val_idx)
    train = np.concatenate(train_idx)
    rng.shuffle(val)
    rng.shuffle(train)
    if len(val) == 0:
        raise DataError(f"{data.source}: too few examples ({len(data)}) for a validation split.")
    return data.subset(train, f"{data.source} (train)"), data.subset(val, f"{data.source} (validation)")


def class_weights(label_ids: np.ndarray, num_classes: int) -> np.ndarray:
    """Weights `n / (num_classes * count_c)` per class, so every class weighs the same in the loss.

    A class without examples gets weight 1.
    """
    counts = np.bincount(np.asarray(label_ids, dtype=np.int64), minlength=num_classes).astype(np.float64)
    total = counts.sum()
    weights = np.ones(num_classes, dtype=np.float64)
    present = counts > 0
    weights[present] = total / (num_classes * counts[present])
    return weights.astype(np.float32)


# ---------------------------------------------------------------------------------------------- IMDB


def imdb_texts(
    found: ImdbSplit,
    label_map: Mapping[str, str] | None = None,
    on_bad_row: str = "fail",
) -> LabelledTexts:
    """The labelled texts of an IMDB split found by `seqtasks.data.imdb.load_imdb`: its local TSV copy read
    with `read_labelled` (cleaned, bad rows under `on_bad_row`), or the tfds reviews cleaned with `clean_text`.

    Args:
        found: The split as `load_imdb` returns it.
        label_map: Optional renaming of `"0"`/`"1"`.
        on_bad_row: As in `read_labelled` (local copies only).
    """
    if found.path is not None:
        return read_labelled(found.path, format="tsv", label_map=label_map, on_bad_row=on_bad_row)
    mapping = {str(k): str(v) for k, v in (label_map or {}).items()}
    out = LabelledTexts(texts=[], labels=[], source=found.source)
    for text, label in found.examples or ():
        out.texts.append(clean_text(text))
        out.labels.append(mapping.get(label, label))
    return out


# ------------------------------------------------------------------------------------- tokens, tf.data


def truncate_ids(ids: tf.RaggedTensor, max_length: int, truncate: str = "head") -> tf.RaggedTensor:
    """Cuts each row of token ids to at most `max_length` ids (TensorFlow ops; also used in exports).

    Args:
        ids: a `(batch, None)` ragged tensor of token ids.
        max_length: the longest kept row.
        truncate: which ids a long row keeps: `"head"` (the first), `"tail"` (the last, where reviews often
            state their verdict) or `"head_tail"` (the first quarter and the last three quarters).
    """
    if truncate not in TRUNCATE_MODES:
        raise ConfigError(
            f"Received an invalid value for `data.truncate`, expected one of {', '.join(map(repr, TRUNCATE_MODES))}, "
            f"got {truncate!r}."
        )
    if not isinstance(max_length, int) or max_length < 1:
        raise ConfigError(
            f"Received an invalid value for `data.max_length`, expected a positive integer, got {max_length!r}."
        )
    head = {"head": max_length, "tail": 0, "head_tail": max_length // 4}[truncate]
    tail = max_length - head
    lengths = ids.row_lengths()
    positions = tf.ragged.range(lengths)
    # A row no longer than max_length keeps every position: i < head or i >= length - tail covers all i.
    keep = (positions < head) | (positions >= tf.expand_dims(lengths, 1) - tail)
    return tf.ragged.boolean_mask(ids, keep)


def make_dataset(
    ids: tf.RaggedTensor,
    labels: np.ndarray | None,
    batch_size: int,
    boundaries: Sequence[int] = (),
    shuffle_seed: int | Sequence[int] | None = None,
    weights: np.ndarray | None = None,
) -> tf.data.Dataset:
    """A length-bucketed dataset of padded batches (padding id 0).

    Examples of similar length are batched together (`bucket_by_sequence_length`), so a batch is padded only
    to its own longest row. Every example appears exactly once per pass; a final partial batch per bucket is
    kept.

    Args:
        ids: `(n, None)` ragged token ids.
        labels: `(n,)` class ids, or `None` for unlabelled input.
        batch_size: examples per batch (every bucket).
        boundaries: bucket upper bounds from `seqtasks.data.bucketing.quantile_boundaries`; empty for one
            bucket.
        shuffle_seed: when given, the examples are shuffled before bucketing with this seed (e.g.
            `(seed, epoch)`); the same seed gives the same batches in the same order.
        weights: optional `(n,)` per-example loss weights (class weights), yielded third.

    Returns:
        Batches of `ids` (`(b, t)` int32), or `(ids, labels)`, or `(ids, labels, weights)`.
    """
    if batch_size < 1:
        raise ConfigError(f"Received an invalid value for `train.batch_size`, expected >= 1, got {batch_size}.")
    flat = tf.convert_to_tensor(ids.flat_values, tf.int32)
    splits = tf.convert_to_tensor(ids.row_splits, tf.int64)
    parts: list = [None]
    if labels is not None:
        parts.append(tf.convert_to_tensor(np.asarray(labels, dtype=np.int32)))
        if weights is not None:
            parts.append(tf.convert_to_tensor(np.asarray(weights, dtype=np.float32)))

    def example(i):
        row = flat[splits[i] : splits[i + 1]]
        others = tuple(p[i] for p in parts[1:])
        return (row, *others) if others else row

    n = int(ids.nrows())
    order = np.arange(n, dtype=np.int64)
    if shuffle_seed is not None:
        order = np.random.default_rng(shuffle_seed).permutation(n)
    ds = tf.data.Dataset.from_tensor_slices(order)
    ds = ds.map(example, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)

    def length(*element):
        return tf.shape(element[0])[0]

    padded_shapes = tuple([tf.TensorShape([None])] + [tf.TensorShape([])] * (len(parts) - 1))
    padding_values = tuple([tf.constant(PAD_ID, tf.int32)] + [None] * (len(parts) - 1))
    if len(parts) == 1:
        padded_shapes, padding_values = padded_shapes[0], padding_values[0]
    # The number of batches (which bucketing hides from tf.data) is asserted from the lengths, in dataset order.
    ds = bucket_by_length(
        ds, ids.row_lengths().numpy()[order], batch_size, boundaries, length, padded_shapes, padding_values
    )
    return ds.prefetch(tf.data.AUTOTUNE)


def length_sorted_batches(ids: tf.RaggedTensor, batch_size: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """For inference in input order: yields `(indices, padded ids)` batches of similar-length rows."""
    lengths = ids.row_lengths().numpy()
    order = np.argsort(lengths, kind="stable")
    for start in range(0, len(order), batch_size):
        idx = order[start : start + batch_size]
        batch = tf.gather(ids, idx).to_tensor(default_value=PAD_ID)
        yield idx, batch.numpy()
