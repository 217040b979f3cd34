"""Character n-gram language model with interpolated modified Kneser-Ney smoothing, for CTC shallow fusion.

`CharNGramLM` predicts the next character of a sentence from the `order - 1` characters before it. Its
vocabulary is a fixed alphabet (the CTC model's characters) plus an end-of-sentence symbol `END`; a sentence
starts with `order - 1` start symbols, so the first characters are predicted from a "sentence start" context.

Smoothing is interpolated modified Kneser-Ney (Chen & Goodman 1998): at each order the counts are discounted
by D1, D2 or D3+ (estimated from that order's count-of-counts) and the freed mass interpolates with the next
lower order; lower orders use continuation counts (how many distinct characters precede an n-gram) except for
n-grams that begin at the sentence start, which keep their raw counts; the unigram distribution interpolates
with the uniform one. Every character (and the end symbol) therefore has a non-zero probability after any
context, and the probabilities over alphabet + end sum to one.

Training text goes through `lm_sentences`: HTML tags are removed, text is split into sentences at `. ! ?`,
each sentence is normalised with the speech transcripts' own `normalize_transcript` (lower case, punctuation
stripped, apostrophes kept), accents are stripped from characters outside the alphabet ("café" -> "cafe"), and a
sentence that still has characters outside the alphabet (digits, other scripts) is dropped whole by default
(`on_unknown="drop_sentence"`: removing just the character would teach the LM fake words, "1990s" -> "s").
`exclude` keeps evaluation text out: every training sentence that contains one of the given (normalised) texts
is dropped, so an LM never scores a test transcript it has memorised.

Memory and time: counting is vectorised in numpy (n-grams as base-`B` integers, `np.unique` per chunk of
`chunk_chars` characters, merged), about 10 s and < 300 MB for 5 M characters at order 6. `min_count` prunes
n-grams of order >= 3 whose (continuation) count is below it; the pruned n-grams' discounted mass is folded into
their context's interpolation weight, so the distributions stay normalised. `max_chars` caps the training text.

File format (`save` / `load`): a NumPy `.npz` archive (zip, no pickles) holding `header`, a JSON string
`{"format": "seqtasks-char-ngram-lm", "version": 1, "order", "alphabet", "discounts", "min_count", "info"}`,
and for each order k = 1..N the arrays `keys_k` (int64, sorted n-gram ids `sum(symbol_j * B**(k-1-j))` with
alphabet ids 0..A-1, `END = A`, start `A + 1`, `B = A + 2`), `probs_k` (float32, discounted probability of each
n-gram given its context), `contexts_k` (int64, sorted context ids `key // B`) and `gammas_k` (float32,
interpolation weight of each context).

Command line (thin wrapper around `CharNGramLM.train`):

    python -m seqtasks.decoding.char_lm build --text ../shared/data/sentiment/imdb/train.tsv --skip-header \\
        --order 6 --alphabet-from runs/speech_recognition --exclude my_test_manifest.csv --out lm.npz
    python -m seqtasks.decoding.char_lm perplexity --lm lm.npz --text held_out.txt
"""

from __future__ import annotations

import argparse
import bisect
import csv
import dataclasses
import itertools
import json
import math
import os
import re
import sys
import time
import unicodedata
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path

import numpy as np

from seqtasks.data.transcripts import normalize_transcript
from seqtasks.errors import DataError

FORMAT = "seqtasks-char-ngram-lm"
VERSION = 1
END = "</s>"
DEFAULT_ALPHABET = " 'abcdefghijklmnopqrstuvwxyz"
ON_UNKNOWN = ("drop_sentence", "drop_char")
_MAX_ORDER = 10
_CACHE_ENTRIES = 200_000
_EXCLUDE_BLOCK_CHARS = 2_000_000
_CSV_TEXT_COLUMNS = ("transcript", "text", "sentence")
_HTML_TAG = re.compile(r"<[^>]{0,200}>")
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")
# Reserved code points used only inside training chunks: sentence start and end markers.
_BOS_CHAR, _END_CHAR = "\x00", "\x01"


@dataclasses.dataclass
class TextStats:
    """What `lm_sentences` kept and dropped."""

    sentences: int = 0
    characters: int = 0
    dropped_sentences: int = 0
    dropped_characters: int = 0
    excluded_sentences: int = 0

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


def _check_alphabet(alphabet: str | Sequence[str]) -> str:
    chars = list(alphabet)
    if not chars:
        raise ValueError("Received an empty alphabet; expected at least one character.")
    for ch in chars:
        if not isinstance(ch, str) or len(ch) != 1 or not ch.isprintable():
            raise ValueError(f"Alphabet entries must be single printable characters, got {ch!r}.")
    duplicates = sorted({ch for ch in chars if chars.count(ch) > 1})
    if duplicates:
        raise ValueError(f"Alphabet characters must be distinct, got duplicates {duplicates!r}.")
    return "".join(chars)


def alphabet_difference(model: str, lm: str) -> str:
    """What the LM alphabet `lm` lacks and adds relative to the model alphabet `model`, for error messages."""
    missing = "".join(ch for ch in model if ch not in lm)
    extra = "".join(ch for ch in lm if ch not in model)
    parts = ([f"LM lacks {missing!r}"] if missing else []) + ([f"LM adds {extra!r}"] if extra else [])
    return ", ".join(parts) or "same characters"


def _strip_accents(text: str) -> str:
    return "".join(ch for ch in unicodedata.normalize("NFKD", text) if not unicodedata.combining(ch))


def lm_sentences(
    texts: Iterable[str],
    alphabet: str | Sequence[str],
    split_sentences: bool = True,
    on_unknown: str = "drop_sentence",
    stats: TextStats | None = None,
    exclude: Iterable[str] | None = None,
) -> Iterator[str]:
    """Normalised sentences of `texts` over `alphabet`, as the LM trains on and scores them.

    Args:
        texts: raw texts (one document, review or line each).
        alphabet: the characters the LM predicts.
        split_sentences: split each text at `. ! ?` followed by white space and at newlines.
        on_unknown: `"drop_sentence"` drops a sentence with characters outside `alphabet` (after accent
            stripping); `"drop_char"` removes those characters instead.
        stats: updated with the counts of kept, dropped and excluded sentences and characters.
        exclude: texts that must not occur in the output (e.g. the transcripts a recognizer is evaluated on):
            after the same normalisation, every sentence that contains one of them is left out.
    """
    if on_unknown not in ON_UNKNOWN:
        raise ValueError(
            f"Received an invalid value for argument `on_unknown`, expected one of {ON_UNKNOWN}, got {on_unknown!r}."
        )
    allowed = set(_check_alphabet(alphabet))
    stats = stats if stats is not None else TextStats()
    sentences = _normalised(texts, allowed, split_sentences, on_unknown, stats)
    patterns = sorted(set(_normalised(exclude or (), allowed, False, "drop_char", TextStats())))
    if not patterns:
        yield from sentences
        return
    block: list[str] = []
    size = 0
    for sentence in sentences:
        block.append(sentence)
        size += len(sentence) + 1
        if size >= _EXCLUDE_BLOCK_CHARS:
            yield from _without(block, patterns, stats)
            block, size = [], 0
    yield from _without(block, patterns, stats)


def _normalised(
    texts: Iterable[str], allowed: set[str], split_sentences: bool, on_unknown: str, stats: TextStats
) -> Iterator[str]:
    for text in texts:
        text = _HTML_TAG.sub(" ", text)
        for raw in _SENTENCE_END.split(text) if split_sentences else [text]:
            sentence = normalize_transcript(raw)
            if not sentence:
                continue
            if not allowed.issuperset(sentence):
                sentence = " ".join(_strip_accents(sentence).split())
                unknown = sum(1 for ch in sentence if ch not in allowed)
                if unknown:
                    if on_unknown == "drop_sentence":
                        stats.dropped_sentences += 1
                        stats.dropped_characters += len(sentence)
                        continue
                    stats.dropped_characters += unknown
                    sentence = " ".join("".join(ch for ch in sentence if ch in allowed).split())
                    if not sentence:
                        continue
            stats.sentences += 1
            stats.characters += len(sentence)
            yield sentence


def _without(block: list[str], patterns: list[str], stats: TextStats) -> Iterator[str]:
    """The sentences of `block` that contain none of `patterns` as whole words (searched in one joined string per
    block: "one" excludes "one day", not "someone")."""
    joined = "\n".join(block)
    starts = list(itertools.accumulate((len(s) + 1 for s in block[:-1]), initial=0))
    hit: set[int] = set()
    for pattern in patterns:
        i = joined.find(pattern)
        while i >= 0:
            end = i + len(pattern)
            if (i == 0 or joined[i - 1] in " \n") and (end == len(joined) or joined[end] in " \n"):
                hit.add(bisect.bisect_right(starts, i) - 1)
            i = joined.find(pattern, i + 1)
    for i, sentence in enumerate(block):
        if i in hit:
            stats.sentences -= 1
            stats.characters -= len(sentence)
            stats.excluded_sentences += 1
        else:
            yield sentence


def _discounts(counts: np.ndarray) -> tuple[float, float, float]:
    """Modified Kneser-Ney discounts (D1, D2, D3+) from the count-of-counts, clamped to keep every context's
    interpolation weight positive (tiny corpora can make the estimates degenerate)."""
    n = [int(np.count_nonzero(counts == j)) for j in (1, 2, 3, 4)]
    y = n[0] / (n[0] + 2 * n[1]) if n[0] + 2 * n[1] > 0 else 0.5
    raw = [
        1 - 2 * y * n[1] / n[0] if n[0] else 0.5,
        2 - 3 * y * n[2] / n[1] if n[1] else 1.0,
        3 - 4 * y * n[3] / n[2] if n[2] else 1.5,
    ]
    return tuple(float(min(max(d, 0.1), j - 0.05)) for j, d in zip((1, 2, 3), raw, strict=True))


class _Table:
    """One order's n-grams: sorted keys, discounted probabilities, contexts with interpolation weights."""

    __slots__ = ("keys", "probs", "contexts", "gammas", "starts", "words", "size")

    def __init__(self, keys: np.ndarray, probs: np.ndarray, contexts: np.ndarray, gammas: np.ndarray, base: int):
        self.keys, self.probs, self.contexts, self.gammas = keys, probs, contexts, gammas
        self.starts = np.searchsorted(keys // base, np.append(contexts, np.iinfo(np.int64).max)).tolist()
        self.words = (keys % base).astype(np.uint8)  # the predicted symbol of each n-gram
        self.size = int(contexts.size)


class CharNGramLM:
    """Order-N character language model (interpolated modified Kneser-Ney), see the module docstring.

    Build one with `CharNGramLM.train(...)` or `CharNGramLM.load(path)`.

    Args:
        alphabet: the predicted characters; `END` is the extra last symbol of every distribution.
        order: n-gram order N (the context is the N - 1 previous characters).
        tables: internal per-order tables.
        discounts: per order, the (D1, D2, D3+) discounts.
        min_count: pruning threshold used in training.
        info: training statistics (kept in the saved file).

    Example:

    >>> lm = CharNGramLM.train(["the cat sat", "the hat"], order=3, alphabet=" acehst")
    >>> probs = np.exp(lm.log_probs("the h"))  # over " acehst" + END, sums to 1
    """

    def __init__(
        self,
        alphabet: str,
        order: int,
        tables: list[_Table],
        discounts: list[tuple[float, float, float]],
        min_count: int = 1,
        info: dict | None = None,
    ):
        self.alphabet = _check_alphabet(alphabet)
        self.order = order
        self.tables = tables
        self.discounts = discounts
        self.min_count = min_count
        self.info = dict(info or {})
        self.end_index = len(self.alphabet)
        self.start_index = len(self.alphabet) + 1
        self.base = len(self.alphabet) + 2
        self.vocab_size = len(self.alphabet) + 1
        self.char_index = {ch: i for i, ch in enumerate(self.alphabet)}
        self._cache: dict[str, np.ndarray] = {}

    # ------------------------------------------------------------------------------------------ training

    @classmethod
    def train(
        cls,
        texts: Iterable[str],
        order: int = 6,
        alphabet: str | Sequence[str] = DEFAULT_ALPHABET,
        *,
        min_count: int = 1,
        max_chars: int | None = None,
        split_sentences: bool = True,
        on_unknown: str = "drop_sentence",
        exclude: Iterable[str] | None = None,
        chunk_chars: int = 4_000_000,
    ) -> CharNGramLM:
        """Counts n-grams of `texts` (normalised by `lm_sentences`) and builds the smoothed model.

        Args:
            texts: raw training texts.
            order: n-gram order, 1 to 10.
            alphabet: predicted characters (the CTC model's alphabet).
            min_count: n-grams of order >= 3 with a (continuation) count below this are pruned (1: keep all).
            max_chars: stop after this many training characters (None: all).
            split_sentences: see `lm_sentences`.
            on_unknown: see `lm_sentences`.
            exclude: texts kept out of the training text, see `lm_sentences` (e.g. evaluation transcripts).
            chunk_chars: characters counted per `np.unique` pass (bounds peak memory).

        Raises:
            DataError: no usable sentence in `texts`.
        """
        if not isinstance(order, int) or isinstance(order, bool) or not 1 <= order <= _MAX_ORDER:
            raise ValueError(
                f"Received an invalid value for argument `order`, expected an integer in [1, {_MAX_ORDER}], "
                f"got {order!r}."
            )
        if not isinstance(min_count, int) or isinstance(min_count, bool) or min_count < 1:
            raise ValueError(
                f"Received an invalid value for argument `min_count`, expected a positive integer, got {min_count!r}."
            )
        if max_chars is not None and max_chars < 1:
            raise ValueError(
                f"Received an invalid value for argument `max_chars`, expected a positive integer, got {max_chars!r}."
            )
        alphabet = _check_alphabet(alphabet)
        start = time.perf_counter()
        size = len(alphabet)
        base = size + 2
        lookup = np.full(max(ord(ch) for ch in alphabet + _END_CHAR) + 1, 255, np.uint8)
        for i, ch in enumerate(alphabet):
            lookup[ord(ch)] = i
        lookup[ord(_BOS_CHAR)], lookup[ord(_END_CHAR)] = size + 1, size
        stats = TextStats()
        counted: tuple[np.ndarray, np.ndarray] | None = None
        pad = _BOS_CHAR * (order - 1)
        chunk: list[str] = []
        chunk_size = 0
        used = 0

        def flush() -> None:
            nonlocal counted, chunk, chunk_size
            if not chunk:
                return
            codes = np.frombuffer("".join(chunk).encode("utf-32-le"), dtype=np.uint32)
            seq = lookup[codes]
            counted = _merge_counts(counted, _count_ngrams(seq, order, base, size + 1))
            chunk, chunk_size = [], 0

        for sentence in lm_sentences(texts, alphabet, split_sentences, on_unknown, stats, exclude):
            if max_chars is not None and used + len(sentence) > max_chars:
                stats.sentences -= 1
                stats.characters -= len(sentence)
                break
            used += len(sentence)
            chunk.append(pad + sentence + _END_CHAR)
            chunk_size += len(sentence) + order
            if chunk_size >= chunk_chars:
                flush()
        flush()
        if counted is None:
            raise DataError(
                "no training sentence for the character LM: every text was empty or had characters outside the "
                f"alphabet {alphabet!r}. Fix: pass English text, or on_unknown='drop_char'"
            )
        tables, discounts = _build_tables(counted[0], counted[1], order, base, size + 1, min_count)
        info = {**stats.as_dict(), "ngrams": [int(t.keys.size) for t in tables],
                "seconds": round(time.perf_counter() - start, 2), "split_sentences": split_sentences,
                "on_unknown": on_unknown, "max_chars": max_chars}
        return cls(alphabet, order, tables, discounts, min_count, info)

    # ------------------------------------------------------------------------------------------ queries

    def _context_ids(self, context: str) -> list[int]:
        try:
            ids = [self.char_index[ch] for ch in context[max(0, len(context) - self.order + 1):]] if self.order > 1 else []
        except KeyError:
            unknown = "".join(dict.fromkeys(ch for ch in context if ch not in self.char_index))
            raise ValueError(
                f"context {context!r} has characters outside the LM alphabet {self.alphabet!r}: {unknown!r}"
            ) from None
        return [self.start_index] * (self.order - 1 - len(ids)) + ids

    def log_probs(self, context: str = "") -> np.ndarray:
        """Natural-log probabilities of each next symbol after `context`.

        Args:
            context: the sentence so far (alphabet characters, no start symbol; only the last N - 1 count).

        Returns:
            float64 `(len(alphabet) + 1,)`: the alphabet's characters in order, then `END`. Read-only (cached).
        """
        key = context[max(0, len(context) - self.order + 1):] if self.order > 1 else ""
        cached = self._cache.get(key)
        if cached is not None:
            return cached
        ids = self._context_ids(key)
        probs = np.full(self.vocab_size, 1.0 / self.vocab_size)
        # Orders whose context would start with two start symbols hold nothing (see `_build_tables`).
        h, scale = 0, 1  # context id of order k: the most recent symbol is the least significant digit
        for k, table in enumerate(self.tables[: len(key) + 2], start=1):
            if k > 1:
                h += ids[-(k - 1)] * scale
                scale *= self.base
            i = int(table.contexts.searchsorted(h))
            if i < table.size and table.contexts[i] == h:
                s, e = table.starts[i], table.starts[i + 1]
                probs *= float(table.gammas[i])
                probs[table.words[s:e]] += table.probs[s:e]
        out = np.log(probs)
        out.setflags(write=False)
        if len(self._cache) >= _CACHE_ENTRIES:
            self._cache.clear()
        self._cache[key] = out
        return out

    def log_prob(self, next_char: str, context: str = "") -> float:
        """Natural-log probability of `next_char` (a character of the alphabet, or `END`) after `context`."""
        if next_char == END:
            index = self.end_index
        elif next_char in self.char_index:
            index = self.char_index[next_char]
        else:
            raise ValueError(f"next_char {next_char!r} is neither in the LM alphabet {self.alphabet!r} nor END.")
        return float(self.log_probs(context)[index])

    def _sequence_log_probs(self, sentences: Sequence[str]) -> np.ndarray:
        """Log-probability of every character and end symbol of `sentences` (already normalised), vectorised."""
        pad = _BOS_CHAR * (self.order - 1)
        text = "".join(pad + s + _END_CHAR for s in sentences)
        codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
        lookup = np.full(max(int(codes.max()), ord(_END_CHAR)) + 1, 255, np.uint8)
        for ch, i in self.char_index.items():
            if ord(ch) < lookup.size:
                lookup[ord(ch)] = i
        lookup[ord(_BOS_CHAR)], lookup[ord(_END_CHAR)] = self.start_index, self.end_index
        seq = lookup[codes].astype(np.int64)
        if np.any(seq == 255):
            raise ValueError("sentences have characters outside the LM alphabet; pass them through lm_sentences")
        positions = np.flatnonzero(seq != self.start_index)
        words = seq[positions]
        probs = np.full(positions.size, 1.0 / self.vocab_size)
        context = np.zeros(positions.size, np.int64)
        for k, table in enumerate(self.tables, start=1):
            if k > 1:
                context = context + seq[positions - k + 1] * self.base ** (k - 2)
            i = np.minimum(np.searchsorted(table.contexts, context), table.contexts.size - 1)
            found = table.contexts[i] == context
            if k >= 3:
                found &= seq[positions - k + 2] != self.start_index
            key = context * self.base + words
            j = np.minimum(np.searchsorted(table.keys, key), table.keys.size - 1)
            hit = found & (table.keys[j] == key)
            probs = np.where(found, probs * table.gammas[i], probs) + np.where(hit, table.probs[j], 0.0)
        return np.log(probs)

    def bits_per_char(self, texts: Iterable[str], split_sentences: bool = True) -> float:
        """Average bits per predicted symbol (characters and sentence ends) on `texts`, normalised like training
        text (sentences with characters outside the alphabet are skipped)."""
        sentences = list(lm_sentences(texts, self.alphabet, split_sentences))
        if not sentences:
            raise DataError("no sentence to score: every text was empty or had characters outside the alphabet")
        log_probs = self._sequence_log_probs(sentences)
        return float(-log_probs.mean() / math.log(2))

    def perplexity(self, texts: Iterable[str], split_sentences: bool = True) -> float:
        """Per-symbol perplexity on `texts`: `2 ** bits_per_char(texts)`."""
        return float(2.0 ** self.bits_per_char(texts, split_sentences))

    # ------------------------------------------------------------------------------------------- files

    def save(self, path: str | os.PathLike) -> Path:
        """Writes the model as a compressed `.npz` archive (format in the module docstring)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        header = {
            "format": FORMAT, "version": VERSION, "order": self.order, "alphabet": self.alphabet,
            "discounts": [list(d) for d in self.discounts], "min_count": self.min_count, "info": self.info,
        }
        arrays = {"header": np.array(json.dumps(header, ensure_ascii=False))}
        for k, table in enumerate(self.tables, start=1):
            arrays.update({f"keys_{k}": table.keys, f"probs_{k}": table.probs,
                           f"contexts_{k}": table.contexts, f"gammas_{k}": table.gammas})
        tmp = path.with_name(path.name + ".tmp")
        with open(tmp, "wb") as f:
            np.savez_compressed(f, **arrays)
        os.replace(tmp, path)
        return path

    @classmethod
    def load(cls, path: str | os.PathLike, alphabet: str | Sequence[str] | None = None) -> CharNGramLM:
        """Reads a model written by `save`.

        Args:
            path: the `.npz` file.
            alphabet: when given, the characters the model must predict (e.g. the CTC model's alphabet; order
                may differ).

        Raises:
            DataError: missing, malformed or newer-version file, or an alphabet other than `alphabet`.
        """
        path = Path(path)
        fix = "Fix: rebuild it with `python -m seqtasks.decoding.char_lm build`"
        if not path.is_file():
            raise DataError(f"character LM file {path} does not exist. {fix} or check eval.lm_path")
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
            raise DataError(f"character LM file {path} is not a readable .npz archive ({error}). {fix}") from None
        try:
            header = json.loads(str(arrays["header"]))
            if header.get("format") != FORMAT:
                raise ValueError(f"format is {header.get('format')!r}, not {FORMAT!r}")
            if not isinstance(header.get("version"), int) or header["version"] > VERSION:
                raise ValueError(f"version {header.get('version')!r} is newer than this seqtasks reads ({VERSION})")
            order, lm_alphabet = int(header["order"]), _check_alphabet(header["alphabet"])
            if not 1 <= order <= _MAX_ORDER:
                raise ValueError(f"order {order} outside [1, {_MAX_ORDER}]")
            base = len(lm_alphabet) + 2
            tables = []
            for k in range(1, order + 1):
                keys = np.asarray(arrays[f"keys_{k}"], np.int64)
                probs = np.asarray(arrays[f"probs_{k}"], np.float32)
                contexts = np.asarray(arrays[f"contexts_{k}"], np.int64)
                gammas = np.asarray(arrays[f"gammas_{k}"], np.float32)
                if keys.ndim != 1 or probs.shape != keys.shape or gammas.shape != contexts.shape or contexts.ndim != 1:
                    raise ValueError(f"arrays of order {k} have inconsistent shapes")
                if keys.size and (np.any(np.diff(keys) <= 0) or keys[0] < 0 or keys[-1] >= base**k):
                    raise ValueError(f"keys of order {k} are not sorted n-gram ids")
                tables.append(_Table(keys, probs, contexts, gammas, base))
            discounts = [tuple(float(x) for x in d) for d in header["discounts"]]
        except KeyError as error:
            raise DataError(f"character LM file {path} is malformed (missing {error}). {fix}") from None
        except (ValueError, TypeError, json.JSONDecodeError) as error:
            raise DataError(f"character LM file {path} is malformed or incompatible ({error}). {fix}") from None
        if alphabet is not None:
            wanted = _check_alphabet(alphabet)
            if set(wanted) != set(lm_alphabet):
                raise DataError(
                    f"character LM file {path} has alphabet {lm_alphabet!r} but the model's is {wanted!r} "
                    f"({alphabet_difference(wanted, lm_alphabet)}). Fix: rebuild the LM with --alphabet-from RUN_DIR"
                )
        return cls(lm_alphabet, order, tables, discounts, int(header.get("min_count", 1)), header.get("info"))

    def __repr__(self) -> str:
        return f"CharNGramLM(order={self.order}, alphabet={self.alphabet!r}, ngrams={sum(t.keys.size for t in self.tables)})"


# ---------------------------------------------------------------------------------------------- counting


def _count_ngrams(seq: np.ndarray, order: int, base: int, start: int) -> tuple[np.ndarray, np.ndarray]:
    """Distinct highest-order n-gram ids ending at every non-start position of `seq`, with their counts."""
    positions = np.flatnonzero(seq != start)
    key = seq[positions].astype(np.int64)
    for k in range(2, order + 1):
        key += seq[positions - k + 1].astype(np.int64) * base ** (k - 1)
    keys, counts = np.unique(key, return_counts=True)
    return keys, counts.astype(np.int64)


def _merge_counts(
    a: tuple[np.ndarray, np.ndarray] | None, b: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, np.ndarray]:
    if a is None:
        return b
    keys, inverse = np.unique(np.concatenate([a[0], b[0]]), return_inverse=True)
    return keys, np.bincount(inverse, weights=np.concatenate([a[1], b[1]]), minlength=keys.size).astype(np.int64)


def _build_tables(
    keys: np.ndarray, counts: np.ndarray, order: int, base: int, start: int, min_count: int
) -> tuple[list[_Table], list[tuple[float, float, float]]]:
    """Kneser-Ney tables for orders 1..N from the distinct N-gram ids and their raw counts."""
    adjusted = {order: (keys, counts)}
    for k in range(order - 1, 0, -1):
        upper_keys, upper_counts = adjusted[k + 1]
        suffix = upper_keys % base**k
        # An n-gram that starts at the sentence start cannot be extended to the left: it keeps its raw count
        # (the only extension is one more start symbol); any other counts its distinct left extensions.
        begins_at_start = suffix // base ** (k - 1) == start
        contribution = np.where(begins_at_start, upper_counts, 1)
        uniq, inverse = np.unique(suffix, return_inverse=True)
        adjusted[k] = (uniq, np.bincount(inverse, weights=contribution, minlength=uniq.size).astype(np.int64))
    tables, discounts = [], []
    for k in range(1, order + 1):
        keys, a = adjusted[k]
        if k >= 3:
            # Contexts of two or more start symbols repeat the one-start-symbol context's counts; queries skip
            # those orders (else sentence-initial unseen events would be backed off several times over).
            keep = keys // base ** (k - 2) != start * base + start
            keys, a = keys[keep], a[keep]
        d1, d2, d3 = _discounts(a)
        discounts.append((d1, d2, d3))
        contexts_of = keys // base
        change = np.flatnonzero(np.diff(contexts_of)) + 1
        starts = np.concatenate([[0], change])
        contexts = contexts_of[starts]
        total = np.add.reduceat(a, starts).astype(np.float64)
        discount = np.where(a == 1, d1, np.where(a == 2, d2, d3))
        n1 = np.add.reduceat((a == 1).astype(np.int64), starts)
        n2 = np.add.reduceat((a == 2).astype(np.int64), starts)
        n3 = np.add.reduceat((a >= 3).astype(np.int64), starts)
        owner = np.repeat(np.arange(contexts.size), np.diff(np.append(starts, a.size)))
        probs = (a - discount) / total[owner]
        gammas = (d1 * n1 + d2 * n2 + d3 * n3) / total
        if min_count > 1 and k >= 3:
            dropped = a < min_count
            gammas = gammas + np.bincount(owner[dropped], weights=probs[dropped], minlength=contexts.size)
            keep = ~dropped
            keys, probs = keys[keep], probs[keep]
            alive = np.bincount(owner[keep], minlength=contexts.size) > 0
            contexts, gammas = contexts[alive], gammas[alive]
        tables.append(_Table(keys, probs.astype(np.float32), contexts, gammas.astype(np.float32), base))
    return tables, discounts


# --------------------------------------------------------------------------------------------- command line


def read_texts(paths: Sequence[str | os.PathLike], tsv_column: int = 0, skip_header: bool = False) -> Iterator[str]:
    """Texts of files: the lines of a text file; of a `.tsv` file the `tsv_column` field of each row
    (`skip_header`: not of row 1); of a `.csv` file with a header (a speech manifest) the `transcript`, `text` or
    `sentence` column."""
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise DataError(f"LM text file {path} does not exist. Fix: pass existing text files")
        try:
            with open(path, encoding="utf-8", newline="" if path.suffix == ".csv" else None) as f:
                if path.suffix == ".csv":
                    reader = csv.DictReader(f)
                    column = next((c for c in _CSV_TEXT_COLUMNS if c in (reader.fieldnames or ())), None)
                    if column is None:
                        raise DataError(
                            f"{path}: no {'/'.join(_CSV_TEXT_COLUMNS)} column in the header {reader.fieldnames}. "
                            "Fix: name the text column 'transcript' or 'text'"
                        )
                    for row in reader:
                        yield row[column] or ""
                    continue
                for number, line in enumerate(f, start=1):
                    if path.suffix != ".tsv":
                        yield line
                        continue
                    if number == 1 and skip_header:
                        continue
                    fields = line.rstrip("\n").split("\t")
                    if tsv_column >= len(fields):
                        raise DataError(
                            f"{path}:{number}: has {len(fields)} tab-separated column(s), no column {tsv_column}. "
                            "Fix: choose the text column with --tsv-column"
                        )
                    yield fields[tsv_column]
        except UnicodeDecodeError as error:
            raise DataError(f"LM text file {path} is not UTF-8 ({error}). Fix: convert it to UTF-8") from None
        except csv.Error as error:
            raise DataError(f"{path}: malformed CSV ({error}). Fix: quote fields that contain commas") from None


def alphabet_from(source: str | os.PathLike) -> str:
    """The characters of a run directory (`assets/alphabet.json`) or of an alphabet JSON file."""
    path = Path(source)
    if path.is_dir():
        path = path / "assets" / "alphabet.json"
    if not path.is_file():
        raise DataError(f"alphabet file {path} does not exist. Fix: pass a trained speech run directory or its "
                        "assets/alphabet.json to --alphabet-from")
    try:
        saved = json.loads(path.read_text(encoding="utf-8"))
        phonemes = isinstance(saved, dict) and "phonemes" in saved
        characters = None if phonemes else _check_alphabet(saved["characters"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise DataError(f"alphabet file {path} is malformed ({error}). Fix: point to a run's assets/alphabet.json") from None
    if phonemes:
        raise DataError(f"alphabet file {path} is a phoneme model's (data.targets=phonemes): its classes are "
                        "phonemes, not the letters of words. Fix: give the letters with --alphabet instead")
    return characters


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seqtasks.decoding.char_lm", description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    build = commands.add_parser("build", help="train a character n-gram LM from text files")
    build.add_argument("--text", nargs="+", required=True, metavar="FILE",
                       help="UTF-8 text files (one text per line; .tsv: the --tsv-column field; .csv: the transcript column)")
    build.add_argument("--out", required=True, help="output .npz file")
    build.add_argument("--order", type=int, default=6, help="n-gram order (context = order - 1 characters)")
    group = build.add_mutually_exclusive_group()
    group.add_argument("--alphabet-from", help="speech run directory or alphabet.json whose characters the LM predicts")
    group.add_argument("--alphabet", help=f"the characters as one string (default {DEFAULT_ALPHABET!r})")
    build.add_argument("--tsv-column", type=int, default=0, help="text column of .tsv files (0 = first)")
    build.add_argument("--skip-header", action="store_true", help="skip the first row of .tsv files")
    build.add_argument("--min-count", type=int, default=1, help="prune n-grams of order >= 3 seen fewer times")
    build.add_argument("--max-chars", type=int, default=None, help="use at most this many training characters")
    build.add_argument("--exclude", nargs="+", default=[], metavar="FILE",
                       help="texts kept out of the LM (e.g. the evaluation manifest.csv): every training sentence "
                       "containing one of them is dropped")
    build.add_argument("--on-unknown", choices=ON_UNKNOWN, default="drop_sentence",
                       help="sentences with characters outside the alphabet: drop them, or drop the characters")
    score = commands.add_parser("perplexity", help="bits per character and perplexity of an LM on text files")
    score.add_argument("--lm", required=True, help=".npz file written by `build`")
    score.add_argument("--text", nargs="+", required=True, metavar="FILE")
    score.add_argument("--tsv-column", type=int, default=0)
    score.add_argument("--skip-header", action="store_true")
    args = parser.parse_args(argv)
    try:
        if args.command == "build":
            if args.alphabet_from:
                alphabet = alphabet_from(args.alphabet_from)
            else:
                alphabet = args.alphabet or DEFAULT_ALPHABET
            lm = CharNGramLM.train(
                read_texts(args.text, args.tsv_column, args.skip_header), args.order, alphabet,
                min_count=args.min_count, max_chars=args.max_chars, on_unknown=args.on_unknown,
                exclude=list(read_texts(args.exclude)) if args.exclude else None,
            )
            lm.info["exclude"] = [str(Path(p)) for p in args.exclude]
            lm.info["sources"] = [str(Path(p)) for p in args.text]
            lm.info["tsv_column"], lm.info["skip_header"] = args.tsv_column, args.skip_header
            lm.save(args.out)
            print(f"wrote {args.out}: {lm!r}, {json.dumps(lm.info)}")
        else:
            lm = CharNGramLM.load(args.lm)
            bpc = lm.bits_per_char(read_texts(args.text, args.tsv_column, args.skip_header))
            print(f"bits_per_char: {bpc:.4f}\nperplexity: {2 ** bpc:.4f}")
    except (DataError, ValueError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


__all__ = ["END", "CharNGramLM", "TextStats", "alphabet_difference", "alphabet_from", "lm_sentences", "read_texts"]

if __name__ == "__main__":
    sys.exit(main())
