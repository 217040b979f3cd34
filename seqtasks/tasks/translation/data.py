"""Sentence pairs for translation: reading TSV files, Unicode normalisation, and leak-free splits.

A pair file has one pair per line, `source<TAB>target`; further columns (the attribution column of the Tatoeba /
ManyThings files) are ignored. Text is kept faithful to the file: it is only brought to Unicode NFC, so accents
and the narrow no-break space (U+202F) that French puts before `! ? : ;` survive into the tokenizer and back out
of the detokenizer, and translations can be compared to references byte for byte.

Validation and test sentences are carved out by groups: pairs that share a source sentence (after normalising
case and spaces) always land in the same split, so that no test source was seen in training. With
`group_by="source_and_target"` pairs that share a target are grouped too.
"""

from __future__ import annotations

import logging
import os
import random
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from seqtasks.errors import DataError

logger = logging.getLogger(__name__)

ON_ERROR_CHOICES = ("fail", "skip")
GROUP_BY_CHOICES = ("source", "source_and_target")
PUNCTUATION_SPACE_CHOICES = ("keep", "narrow_nbsp", "space")

# Spaces that French typography (or a keyboard) puts before `! ? : ; »` and after `«`.
_SPACE_CLASS = "[ \u00a0\u202f\u2009]"
_SPACE_BEFORE = re.compile(f"{_SPACE_CLASS}+(?=[!?:;»])")
_SPACE_AFTER = re.compile(f"(?<=«){_SPACE_CLASS}+")
_WHITESPACE = re.compile(r"\s+")


class Pair(NamedTuple):
    """One sentence pair; `line` is the 1-based line of the file it came from (0 when not from a file)."""

    source: str
    target: str
    line: int = 0


@dataclass(frozen=True)
class Splits:
    """Train, validation and test pairs."""

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]


def normalize_text(text: str, punctuation_spaces: str = "keep") -> str:
    """Brings `text` to Unicode NFC and strips it; optionally unifies the spaces around French punctuation.

    Args:
        text: one sentence.
        punctuation_spaces: `"keep"` leaves every character as it is (the default: translations are compared
            with references as written); `"narrow_nbsp"` writes U+202F (the French typographic rule) and
            `"space"` a plain space wherever a space, no-break space, narrow no-break space or thin space
            precedes `! ? : ; »` or follows `«`.

    Returns:
        The normalised sentence.
    """
    if punctuation_spaces not in PUNCTUATION_SPACE_CHOICES:
        raise ValueError(
            "Received an invalid value for argument `punctuation_spaces`, expected one of "
            f"{PUNCTUATION_SPACE_CHOICES}, got {punctuation_spaces!r}."
        )
    text = unicodedata.normalize("NFC", text).strip()
    if punctuation_spaces != "keep":
        space = "\u202f" if punctuation_spaces == "narrow_nbsp" else " "
        text = _SPACE_AFTER.sub(space, _SPACE_BEFORE.sub(space, text))
    return text


def grouping_key(text: str) -> str:
    """The key under which two sentences count as the same: NFC, case-folded, spaces collapsed."""
    text = unicodedata.normalize("NFC", text).casefold()
    return _WHITESPACE.sub(" ", text).strip()


def read_pairs(
    path: str | os.PathLike,
    on_error: str = "fail",
    punctuation_spaces: str = "keep",
    source_column: int = 0,
    target_column: int = 1,
) -> list[Pair]:
    """Reads sentence pairs from a tab-separated file.

    Blank lines are ignored. A row is malformed when it has fewer columns than needed, an empty source or target,
    or bytes that are not UTF-8.

    Args:
        path: the TSV file (UTF-8, one pair per line, no header).
        on_error: `"fail"` raises `DataError` at the first malformed row, naming the file and line; `"skip"`
            drops malformed rows and logs a warning with their count and first line numbers.
        punctuation_spaces: see `normalize_text`.
        source_column: 0-based column of the source sentence.
        target_column: 0-based column of the target sentence.

    Returns:
        The pairs, in file order.

    Raises:
        DataError: the file is missing or empty, has no valid row, or (with `on_error="fail"`) has a malformed
            row.
    """
    if on_error not in ON_ERROR_CHOICES:
        raise ValueError(
            "Received an invalid value for argument `on_error`, expected one of "
            f"{ON_ERROR_CHOICES}, got {on_error!r}."
        )
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"Pair file {str(path)!r} does not exist: give a TSV file with one `source<TAB>target` pair per line."
        )
    needed = max(source_column, target_column) + 1
    pairs: list[Pair] = []
    bad: list[tuple[int, str]] = []
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            problem = None
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                line, problem = "", f"is not valid UTF-8 (byte {error.start})"
            if number == 1:
                line = line.removeprefix("\ufeff")
            line = line.rstrip("\r\n")
            if problem is None and not line.strip():
                continue
            if problem is None:
                columns = line.split("\t")
                if len(columns) < needed:
                    problem = (
                        f"has {len(columns)} tab-separated column(s), expected at least {needed}"
                    )
                else:
                    source = normalize_text(columns[source_column], punctuation_spaces)
                    target = normalize_text(columns[target_column], punctuation_spaces)
                    if not source or not target:
                        problem = f"has an empty {'source' if not source else 'target'} sentence"
                    else:
                        pairs.append(Pair(source, target, number))
            if problem is not None:
                if on_error == "fail":
                    raise DataError(
                        f"{path}:{number}: row {problem}; fix or remove the line, or read the file with "
                        "on_error='skip' (config: data.on_error: skip) to drop malformed rows."
                    )
                bad.append((number, problem))
    if bad:
        shown = ", ".join(str(n) for n, _ in bad[:10]) + (" ..." if len(bad) > 10 else "")
        logger.warning(
            "%s: skipped %d malformed row(s) (line %s); the first: line %d %s.",
            path,
            len(bad),
            shown,
            bad[0][0],
            bad[0][1],
        )
    if not pairs:
        raise DataError(
            f"Pair file {str(path)!r} has no valid `source<TAB>target` row: check that columns are separated by "
            "tabs and the file is UTF-8."
        )
    return pairs


def _group_ids(pairs: Sequence[Pair], group_by: str) -> list[int]:
    """Connected components of pairs linked by a shared source (and target) sentence."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        parent.setdefault(x, x)
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for pair in pairs:
        a = find("s:" + grouping_key(pair.source))
        if group_by == "source_and_target":
            b = find("t:" + grouping_key(pair.target))
            if a != b:
                parent[b] = a
    roots: dict[str, int] = {}
    return [roots.setdefault(find("s:" + grouping_key(p.source)), len(roots)) for p in pairs]


def _as_count(size: float | int, total: int, name: str) -> int:
    if isinstance(size, float) and 0.0 <= size < 1.0:
        return round(size * total)
    if isinstance(size, int) and not isinstance(size, bool) and size >= 0:
        return size
    raise ValueError(
        f"Received an invalid value for argument `{name}`, expected a fraction in [0, 1) or a number of pairs "
        f">= 0, got {size!r}."
    )


def split_pairs(
    pairs: Sequence[Pair],
    valid_size: float | int = 0.05,
    test_size: float | int = 0.05,
    seed: int = 0,
    group_by: str = "source_and_target",
) -> Splits:
    """Splits pairs into train / validation / test with no source sentence shared between splits.

    Pairs are grouped (see `group_by`), groups shuffled with `seed`, and whole groups assigned to test, then
    validation, until each holds at least its size in pairs; the rest is training data. The input order does
    not matter beyond ties, so a file sorted by length (as the Tatoeba files are) is split fairly.

    Args:
        pairs: the pairs to split.
        valid_size: a fraction of the pairs (float in [0, 1)) or a number of pairs (int).
        test_size: same, for the test split.
        seed: shuffling seed.
        group_by: `"source"` keeps pairs with the same source together; `"source_and_target"` also keeps pairs
            with the same target together (no sentence of either side crosses splits).

    Returns:
        A `Splits`; the order of pairs inside a split follows the shuffled groups.
    """
    if group_by not in GROUP_BY_CHOICES:
        raise ValueError(
            "Received an invalid value for argument `group_by`, expected one of "
            f"{GROUP_BY_CHOICES}, got {group_by!r}."
        )
    total = len(pairs)
    n_valid = _as_count(valid_size, total, "valid_size")
    n_test = _as_count(test_size, total, "test_size")
    if n_valid + n_test >= total and total > 0 and (n_valid or n_test):
        raise DataError(
            f"Cannot carve {n_valid} validation and {n_test} test pairs out of {total} pairs and keep training "
            "data: lower data.valid_size / data.test_size or give more pairs."
        )
    groups: dict[int, list[Pair]] = {}
    for pair, group in zip(pairs, _group_ids(pairs, group_by), strict=True):
        groups.setdefault(group, []).append(pair)
    order = list(groups)
    random.Random(seed).shuffle(order)
    test: list[Pair] = []
    valid: list[Pair] = []
    train: list[Pair] = []
    for group in order:
        if len(test) < n_test:
            test.extend(groups[group])
        elif len(valid) < n_valid:
            valid.extend(groups[group])
        else:
            train.extend(groups[group])
    return Splits(train=train, valid=valid, test=test)


def shared_sentences(a: Iterable[Pair], b: Iterable[Pair], side: str = "source") -> set[str]:
    """Sentences (by `grouping_key`) of the given side that occur in both `a` and `b`; empty when no leak."""
    keys_a = {grouping_key(getattr(p, side)) for p in a}
    return {k for k in (grouping_key(getattr(p, side)) for p in b) if k in keys_a}
