"""CTC decoding constrained to a lexicon: the best path through a graph that spells only words of a vocabulary,
separated by a word separator, optionally weighted by a unigram word LM (Viterbi over a prefix tree).

A free CTC decoder can spell non-words ("tewo", "zewro", "sicepplines") when an unseen speaker, noise or too little
training audio blurs a frame. A task that knows the words it may output (spoken digits, commands, or the tens of
thousands of words of a text corpus for dictation) can search only among them. This decoder does that in TensorFlow
ops, so it runs inside an exported SavedModel:

    states:   0: the blank before a word (start, or after a separator); 1: the separator;
              for each node of the prefix tree of the words (one per distinct word prefix): its character, and a
              blank after it
    moves:    stay; a character -> its blank; a prefix (its character, or its blank) -> a child prefix (from the
              character only when the child's character differs: CTC needs a blank between repeats); the blank
              before a word or the separator -> a first character; a whole word -> the separator
    score:    sum over frames of the log-probability of the state's label (the best path, not the sum over paths),
              plus `lm_weight * log P(word) + word_bonus` per word when the words have counts

Sharing prefixes keeps the graph linear in the size of the vocabulary (20,000 English words: ~100,000 states,
~290,000 moves), and each frame costs `frames x moves`: every state but the separator has at most three incoming
moves (a dense gather and row maximum), the separator's many (one per word end) a segment maximum. The unigram probability is spread over the tree ("LM look-ahead"): entering a prefix adds the
log of its share of its parent's probability mass, and ending a word adds the log of the word's share of its own
prefix's mass; along a whole word these sum to `log P(word)`, so the word's score is exact, and a prefix that only
leads to rare words is penalised as soon as it is entered.

A lexicon may spell its words in other output classes than their letters: with `Lexicon.spellings` (e.g. each
word's phonemes, `seqtasks.tokenizers.phonemes`) the graph is built over the spellings, words spelt alike each end
by a move of their own (scored by their own count, and by the word before them with word pairs), and
`decode_text` outputs the word of each word end on the best path.

With bigram counts (`Lexicon.bigrams`), `decode_text` scores each word by `log P(word | previous word)` instead:
absolute discounting (`BIGRAM_DISCOUNT`) interpolated with the unigram, `P(w | h) = (c(h, w) - D) / c(h) +
alpha(h) P(w)` for counted pairs and `alpha(h) P(w)` otherwise, where `c(h)` is the unigram count of `h` (the
number of sentences for the sentence start) and `alpha(h)` the mass the counted pairs leave. The tree already adds
`log P(w)`, so a word end adds the difference. One tree serves every history: each state carries the previous word
of the best path into it (the Viterbi approximation of word-conditioned search), so the graph stays the size of
the unigram one and each frame adds one sorted-table lookup per word end.

`Lexicon.read` reads word lists (`word` or `word<TAB>count` per line, plus `<s> count` and `word word count` lines
for bigrams); `python -m seqtasks.decoding.lexicon build` counts the words (and with `--bigrams` the word pairs)
of large text files, with the sentences of a test set left out, into such a list.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tensorflow as tf

from seqtasks.errors import DataError
from seqtasks.losses.ctc import PAD_LABEL

_NEG = -1e30  # "impossible" in log space: finite, so sums never turn into NaN
_DENSE_MOVES = 3  # incoming moves of every state but the separator (stay, from the parent's character / blank)
SENTENCE_START = "<s>"
BIGRAM_DISCOUNT = 0.7  # absolute discount of every counted word pair (Ney et al. 1994's usual 0.5-1)


@dataclass(frozen=True)
class Lexicon:
    """The words a CTC decoder may output, with optional unigram counts and their weights.

    Args:
        words: The words (distinct, non-empty, no space): what decoding outputs, and without `spellings` also
            what it matches (characters of the model's alphabet).
        counts: One positive count per word (a unigram LM: `P(word) = count / sum(counts)`), or `None` for a
            plain word list (every word equally likely: no LM score).
        lm_weight: Weight of `log P(word)` in the path score (with counts).
        word_bonus: Added to the path score per word (balances the LM's cost of each extra word).
        spellings: How each word is spelt in the model's output classes (e.g. its pronunciation as phoneme code
            characters; words may share one), or `None`: by its own characters.
        bigrams: Word pair counts `(previous, word, count)` as indices into `words` (previous -1: the sentence
            start), or `None` (a unigram LM). Needs `counts` and `sentences`.
        sentences: How many sentences the counts come from (the count of the sentence start as a history).
    """

    words: tuple[str, ...]
    counts: tuple[float, ...] | None = None
    lm_weight: float = 1.0
    word_bonus: float = 0.0
    spellings: tuple[str, ...] | None = None
    bigrams: tuple[tuple[int, int, float], ...] | None = None
    sentences: float = 0.0

    def __post_init__(self) -> None:
        words = tuple(self.words)
        if not words or any(not isinstance(w, str) or not w or " " in w for w in words):
            raise ValueError("Received an invalid value for argument `words`, expected non-empty words without spaces.")
        if len(set(words)) != len(words):
            raise ValueError("Received an invalid value for argument `words`, expected distinct words.")
        object.__setattr__(self, "words", words)
        if self.counts is not None:
            counts = tuple(float(c) for c in self.counts)
            if len(counts) != len(words) or any(not math.isfinite(c) or c <= 0 for c in counts):
                raise ValueError("Received an invalid value for argument `counts`, expected one positive count per word.")
            object.__setattr__(self, "counts", counts)
        if self.spellings is not None:
            spellings = tuple(self.spellings)
            if len(spellings) != len(words) or any(not isinstance(p, str) or not p or " " in p for p in spellings):
                raise ValueError("Received an invalid value for argument `spellings`, expected one non-empty "
                                 "spelling without spaces per word.")
            object.__setattr__(self, "spellings", spellings)
        if self.bigrams is not None and not len(self.bigrams):
            object.__setattr__(self, "bigrams", None)  # no pair: a unigram LM
        if self.bigrams is not None:
            bigrams = tuple((int(h), int(w), float(c)) for h, w, c in self.bigrams)
            if self.counts is None or not (self.sentences > 0) or any(
                    not (-1 <= h < len(words) and 0 <= w < len(words) and c > 0 and math.isfinite(c))
                    for h, w, c in bigrams):
                raise ValueError("Received an invalid value for argument `bigrams`, expected positive counts of "
                                 "(previous, word) indices into the words (-1: sentence start), with word counts "
                                 "and a positive number of sentences.")
            object.__setattr__(self, "bigrams", bigrams)
        for name in ("lm_weight", "word_bonus"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
                raise ValueError(f"Received an invalid value for argument `{name}`, expected a finite number, got {value!r}.")

    @classmethod
    def read(cls, path: str | os.PathLike, lm_weight: float = 1.0, word_bonus: float = 0.0) -> Lexicon:
        """Reads a word list: one `word` per line, or `word<TAB or space>count` on every line (a unigram LM).

        A counted list may add a bigram LM: a `<s> count` line (the number of sentences) and `previous word count`
        lines (word pairs; `previous` may be `<s>`, both must be words of the list). Repeated words and pairs are
        merged (their counts added); blank lines and lines starting with `#` are skipped.

        Raises:
            DataError: naming the file and line, for a missing file, an empty list, a line with more than three
                fields (or three without counts elsewhere), a count that is not a positive number, a file mixing
                lines with and without counts, word pairs without the `<s>` line, or a pair with a word the list
                lacks.
        """
        path = Path(path).expanduser()
        if not path.is_file():
            raise DataError(f"lexicon file {path} does not exist. Fix: give a word list (one word, or word and count, "
                            "per line), e.g. from `python -m seqtasks.decoding.lexicon build`")
        counts: dict[str, float] = {}
        pairs: dict[tuple[str, str], tuple[float, int]] = {}
        sentences = 0.0
        with_counts: bool | None = None
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as error:
            raise DataError(f"lexicon file {path} is not UTF-8 text ({error.reason} at byte {error.start}). Fix: "
                            "save it as UTF-8") from None
        for number, line in enumerate(text.splitlines(), 1):
            fields = line.split()
            if not fields or fields[0].startswith("#"):
                continue
            if len(fields) == 3 and with_counts is not False:
                with_counts = True
            elif len(fields) > 2 or (with_counts is not None and with_counts != (len(fields) == 2)):
                raise DataError(f"lexicon file {path}, line {number}: expected `word` or `word count` on every line "
                                f"(the same on all lines; `previous word count` for word pairs), got {line.strip()!r}")
            with_counts = len(fields) >= 2
            count = 1.0
            if with_counts:
                try:
                    count = float(fields[-1])
                except ValueError:
                    count = float("nan")
                if not math.isfinite(count) or count <= 0:
                    raise DataError(f"lexicon file {path}, line {number}: the count {fields[-1]!r} is not a positive number")
            if len(fields) == 3:
                previous = pairs.get((fields[0], fields[1]), (0.0, number))
                pairs[(fields[0], fields[1])] = (previous[0] + count, previous[1])
            elif fields[0] == SENTENCE_START:
                if not with_counts:
                    raise DataError(f"lexicon file {path}, line {number}: {SENTENCE_START} is the sentence start "
                                    "(its count: the number of sentences), not a word. Fix: remove the line")
                sentences += count
            else:
                counts[fields[0]] = counts.get(fields[0], 0.0) + count
        if not counts:
            raise DataError(f"lexicon file {path} holds no words. Fix: one word (or word and count) per line")
        bigrams = None
        if pairs:
            if sentences <= 0:
                raise DataError(f"lexicon file {path} has word pairs but no `{SENTENCE_START} count` line (the number "
                                "of sentences). Fix: rebuild it with `python -m seqtasks.decoding.lexicon build --bigrams`")
            index = {w: i for i, w in enumerate(counts)}
            index[SENTENCE_START] = -1
            bigrams = []
            for (first, second), (count, number) in pairs.items():
                if first not in index or second not in index or second == SENTENCE_START:
                    raise DataError(f"lexicon file {path}, line {number}: the pair {first!r} {second!r} has a word "
                                    "that is not in the list. Fix: list both words (with their counts)")
                bigrams.append((index[first], index[second], count))
        return cls(tuple(counts), tuple(counts.values()) if with_counts else None, lm_weight, word_bonus,
                   bigrams=None if bigrams is None else tuple(bigrams), sentences=sentences)

    @property
    def spelled(self) -> tuple[str, ...]:
        """What the decoder matches for each word: its spelling, or the word itself."""
        return self.spellings if self.spellings is not None else self.words


@dataclass(frozen=True)
class BigramTables:
    """`log P(w | h) - log P(w)` of the counted pairs, by sorted key `(h + 1) * num_words + w`, and the backoff
    `log alpha(h)` of every history (index `h + 1`; 0: the sentence start) for the pairs not counted."""

    keys: np.ndarray
    corrections: np.ndarray
    backoff: np.ndarray


def bigram_tables(counts: Sequence[float], bigrams: Sequence[tuple[int, int, float]], sentences: float,
                  discount: float = BIGRAM_DISCOUNT) -> BigramTables:
    """Absolute-discounting bigram LM interpolated with the unigram `counts` (see the module docstring).

    A history's count is its unigram count (the sentence start's: `sentences`), or the sum of its pairs' counts
    where that is larger (a list cut from other text), so every history keeps a positive backoff mass.

    Raises:
        ValueError: `sentences` is not positive, or a count is not.
    """
    if not sentences > 0:
        raise ValueError(f"Received an invalid value for argument `sentences`, expected a positive number of "
                         f"sentences with word pairs, got {sentences!r}.")
    counts = np.asarray(counts, np.float64)
    num_words = counts.size
    unigram = counts / counts.sum()
    pairs = np.asarray([(h, w) for h, w, _ in bigrams], np.int64).reshape(-1, 2)
    pair_counts = np.asarray([c for _, _, c in bigrams], np.float64)
    history_total = np.concatenate([[float(sentences)], counts])
    history_total = np.maximum(history_total, np.bincount(pairs[:, 0] + 1, pair_counts, num_words + 1))
    kept = np.maximum(pair_counts - discount, 0.0) / history_total[pairs[:, 0] + 1]
    alpha = np.maximum(1.0 - np.bincount(pairs[:, 0] + 1, kept, num_words + 1), 1e-12)
    probability = kept + alpha[pairs[:, 0] + 1] * unigram[pairs[:, 1]]
    keys = (pairs[:, 0] + 1) * num_words + pairs[:, 1]
    order = np.argsort(keys, kind="stable")
    return BigramTables(
        keys=keys[order].astype(np.int64),
        corrections=(np.log(probability) - np.log(unigram[pairs[:, 1]]))[order].astype(np.float32),
        backoff=np.log(alpha).astype(np.float32),
    )


@dataclass(frozen=True)
class LexiconGraph:
    """The decoding graph of a lexicon over label ids (see the module docstring), moves sorted by target state.

    Attributes:
        state_labels: int32 `(states,)` the label each state emits (the blank for blank states).
        sources, targets: int32 `(moves,)` each move's source and target state; `targets` is sorted and every
            state has at least its own stay move.
        weights: float32 `(moves,)` the LM / bonus score of each move.
        start: float32 `(states,)` score of starting in each state (`_NEG` where impossible).
        final: float32 `(states,)` score of ending in each state (`_NEG` where impossible).
        writes: bool `(states,)` whether entering the state writes its label.
        move_words: int32 `(moves,)` the word a move into the separator ends, -1 for every other move. With
            `homophones`, one move per word and end state (each weighted by its own count); else one per end
            state, for the most counted of the words spelt alike (the first on ties).
    """

    state_labels: np.ndarray
    sources: np.ndarray
    targets: np.ndarray
    weights: np.ndarray
    start: np.ndarray
    final: np.ndarray
    writes: np.ndarray
    move_words: np.ndarray

    @property
    def num_states(self) -> int:
        return int(self.state_labels.size)


def lexicon_graph(
    words: Sequence[Sequence[int]],
    separator: int,
    blank: int,
    counts: Sequence[float] | None = None,
    lm_weight: float = 1.0,
    word_bonus: float = 0.0,
    homophones: bool = False,
) -> LexiconGraph:
    """Builds the prefix-tree decoding graph of `words` (label ids); see the module docstring.

    Args:
        words: The words, each a non-empty sequence of label ids (no blank, no separator inside a word).
        separator: The label id written between words (the space character of the alphabet).
        blank: The blank label id.
        counts: Unigram counts, one per word (repeated words add up), or `None` (no LM score).
        lm_weight: Weight of `log P(word)`.
        word_bonus: Score added per word.
        homophones: Words with the same labels are different words (a lexicon spelt in phonemes): each ends
            by its own move with its own count. False: they are one word, their counts added.
    """
    words = [tuple(int(i) for i in w) for w in words]
    if not words or any(len(w) == 0 for w in words):
        raise ValueError("Received an invalid value for argument `lexicon`, expected non-empty words.")
    if any(separator in w or blank in w for w in words):
        raise ValueError("Received an invalid value for argument `lexicon`: a word contains the separator or blank.")
    if counts is not None and len(counts) != len(words):
        raise ValueError(f"Received {len(counts)} counts for {len(words)} words; expected one count per word.")
    # Prefix tree: node 0 is the root (the empty prefix); a child is always created after its parent.
    children: list[dict[int, int]] = [{}]
    labels, parents = [-1], [-1]
    word_count: list[float] = [0.0]
    node_word: dict[int, int] = {}
    node_words: dict[int, list[int]] = {}
    for k, word in enumerate(words):
        node = 0
        for c in word:
            child = children[node].get(c)
            if child is None:
                child = len(labels)
                children[node][c] = child
                children.append({})
                labels.append(c)
                parents.append(node)
                word_count.append(0.0)
            node = child
        count = 1.0 if counts is None else float(counts[k])
        word_count[node] += count
        best = node_word.get(node)
        if best is None or (counts is not None and count > float(counts[best])):
            node_word[node] = k
        node_words.setdefault(node, []).append(k)
    is_word = np.array(word_count) > 0
    if counts is None:  # no LM: every move costs nothing but the word bonus
        log_mass = np.zeros(len(labels))
        log_end = np.zeros(len(labels))
    else:
        mass = np.array(word_count)
        for node in range(len(labels) - 1, 0, -1):
            mass[parents[node]] += mass[node]
        log_mass = np.log(mass / mass[0])
        with np.errstate(divide="ignore"):
            log_end = np.log(np.array(word_count) / mass[0])
    mass_total = float(sum(word_count))
    weight = float(lm_weight) if counts is not None else 0.0

    def char_state(node: int) -> int:
        return 2 * node

    def blank_state(node: int) -> int:
        return 2 * node + 1

    num_states = 2 * len(labels)  # node 0's two slots are the blank before a word (0) and the separator (1)
    moves: list[tuple[int, int, float]] = [(0, 0, 0.0), (1, 1, 0.0), (1, 0, 0.0)]
    ends: list[int] = [-1, -1, -1]  # the word each move ends (-1: none)
    start = np.full(num_states, _NEG, np.float32)
    final = np.full(num_states, _NEG, np.float32)
    start[0] = 0.0
    for node in range(1, len(labels)):
        parent = parents[node]
        enter = weight * (log_mass[node] - log_mass[parent])
        if parent == 0:
            enter += word_bonus
            moves += [(0, char_state(node), enter), (1, char_state(node), enter)]
            start[char_state(node)] = enter
        else:
            moves.append((blank_state(parent), char_state(node), enter))
            if labels[parent] != labels[node]:
                moves.append((char_state(parent), char_state(node), enter))
        moves += [(char_state(node), char_state(node), 0.0), (char_state(node), blank_state(node), 0.0),
                  (blank_state(node), blank_state(node), 0.0)]
        ends += [-1] * (len(moves) - len(ends))
        if is_word[node]:
            end = weight * (log_end[node] - log_mass[node])
            # Homophones: one move per word spelt here, each scoring its own count; else one move for the
            # spelling, scoring the words' summed count (repeated words add up).
            for k in node_words[node] if homophones else [node_word[node]]:
                own = end
                if homophones and len(node_words[node]) > 1 and counts is not None:
                    own = weight * (math.log(float(counts[k]) / mass_total) - log_mass[node])
                moves += [(char_state(node), 1, own), (blank_state(node), 1, own)]
                ends += [k, k]
                final[char_state(node)] = final[blank_state(node)] = max(final[char_state(node)], own)
    sources, targets, weights = (np.array(x) for x in zip(*moves, strict=True))
    order = np.argsort(targets, kind="stable")
    state_labels = np.full(num_states, blank, np.int32)
    state_labels[1] = separator
    state_labels[2::2] = labels[1:]
    return LexiconGraph(
        state_labels=state_labels,
        sources=sources[order].astype(np.int32),
        targets=targets[order].astype(np.int32),
        weights=weights[order].astype(np.float32),
        start=start,
        final=final,
        writes=state_labels != blank,
        move_words=np.asarray(ends, np.int32)[order],
    )


class LexiconCTCDecoder:
    """Best-path CTC decoding that outputs only words of `lexicon`, joined by `separator`.

    Args:
        lexicon: The words, each a sequence of label ids (no blank, no separator inside a word).
        separator: The label id written between words (the space character of the alphabet).
        blank: The blank label id.
        counts: Unigram counts of the words (`None`: no LM score; every word sequence scored by the audio alone).
        lm_weight: Weight of `log P(word)` (with counts).
        word_bonus: Score added per word.
        outputs: The text `decode_text` writes for each word of `lexicon` (e.g. the words whose pronunciations
            `lexicon` holds; words with the same labels are then different words); `None`: `decode_text` is not
            available (`decode` writes the labels).
        bigrams: Word pair counts `(previous, word, count)` (indices into `lexicon`, previous -1: the sentence
            start) for `decode_text`'s bigram LM (with `counts` and `sentences`), or `None`.
        sentences: The number of sentences the counts come from.

    Example:

    >>> decoder = LexiconCTCDecoder([[1, 2], [2, 3]], separator=0, blank=4)
    >>> logits = tf.one_hot([[1, 4, 2, 0, 2, 3]], 5) * 5.0
    >>> ids, lengths = decoder.decode(logits, tf.constant([6]))
    >>> ids.numpy().tolist(), lengths.numpy().tolist()
    ([[1, 2, 0, 2, 3]], [5])
    """

    def __init__(
        self,
        lexicon: Sequence[Sequence[int]],
        separator: int,
        blank: int,
        counts: Sequence[float] | None = None,
        lm_weight: float = 1.0,
        word_bonus: float = 0.0,
        outputs: Sequence[str] | None = None,
        bigrams: Sequence[tuple[int, int, float]] | None = None,
        sentences: float = 0.0,
    ):
        self.graph = lexicon_graph(lexicon, separator, blank, counts, lm_weight, word_bonus,
                                   homophones=outputs is not None)
        if outputs is not None and len(outputs) != len(lexicon):
            raise ValueError(f"Received {len(outputs)} outputs for {len(lexicon)} words; expected one per word.")
        self.outputs = None if outputs is None else [str(o) for o in outputs]
        if bigrams and (counts is None or outputs is None):
            raise ValueError("Received `bigrams` without `counts` and `outputs`; a bigram LM scores words by text.")
        self.bigrams = bigram_tables(counts, bigrams, sentences) if bigrams else None
        self.lm_weight = float(lm_weight)
        self.num_words = len(lexicon)
        self.separator, self.blank = int(separator), int(blank)
        self.num_states = self.graph.num_states
        # Almost every state has at most 3 incoming moves: those are kept as a dense (states, 3) table (a
        # gather and a row maximum per frame, much faster than segment reductions); the few states with many
        # (the separator: one move from every word end) keep a sparse list. Rows list moves in move order, so
        # ties still go to the lowest move.
        g = self.graph
        degree = np.bincount(g.targets, minlength=self.num_states)
        wide = degree > _DENSE_MOVES
        first = np.searchsorted(g.targets, np.arange(self.num_states))
        slot = np.arange(g.targets.size) - first[g.targets]
        narrow = ~wide[g.targets]
        self._in_sources = np.full((self.num_states, _DENSE_MOVES), self.num_states, np.int32)  # dummy: -inf
        self._in_weights = np.zeros((self.num_states, _DENSE_MOVES), np.float32)
        self._in_sources[g.targets[narrow], slot[narrow]] = g.sources[narrow]
        self._in_weights[g.targets[narrow], slot[narrow]] = g.weights[narrow]
        self._wide_states = np.flatnonzero(wide).astype(np.int32)
        self._wide_sources = g.sources[~narrow]
        self._wide_weights = g.weights[~narrow]
        self._wide_segments = np.searchsorted(self._wide_states, g.targets[~narrow]).astype(np.int32)
        # decode_text: the separator's incoming moves on their own (each word end, and the stay), whatever
        # their number; the dense table without them.
        into = g.targets == 1
        self._sep_sources, self._sep_weights = g.sources[into], g.weights[into]
        self._sep_words = g.move_words[into]
        self._text_sources = self._in_sources.copy()
        self._text_weights = self._in_weights.copy()
        self._text_sources[1] = self.num_states

    def _best_path(self, log_probs: tf.Tensor, length: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The best path's state per frame (int32 `(length,)`) of one utterance (`log_probs`: `(frames, classes)`)
        and whether any path spells words."""
        g = self.graph
        in_sources, in_weights = tf.constant(self._in_sources), tf.constant(self._in_weights)
        wide_states = tf.constant(self._wide_states[:, None])
        wide_sources, wide_weights = tf.constant(self._wide_sources), tf.constant(self._wide_weights)
        wide_segments = tf.constant(self._wide_segments)
        wide_ids = tf.range(tf.size(wide_sources))
        emit = tf.gather(log_probs[:length], tf.constant(g.state_labels), axis=1)  # (length, states)
        emit = tf.pad(emit, [[0, 1], [0, 0]])  # a zero-length row decodes to nothing, without an empty read
        impossible = tf.constant([_NEG], tf.float32)

        def step(t, delta, pointers):
            scores = tf.gather(tf.concat([delta, impossible], 0), in_sources) + in_weights  # (states, 3)
            best = tf.reduce_max(scores, axis=1)
            previous = tf.gather(in_sources, tf.argmax(scores, axis=1, output_type=tf.int32), batch_dims=1)
            if self._wide_states.size:
                wide = tf.gather(delta, wide_sources) + wide_weights
                wide_best = tf.math.segment_max(wide, wide_segments)
                # Ties go to the lowest move (the numpy twin in seqtasks.portable.standalone does the same).
                chosen = tf.math.segment_min(
                    tf.where(wide >= tf.gather(wide_best, wide_segments), wide_ids, tf.size(wide_sources)), wide_segments)
                best = tf.tensor_scatter_nd_update(best, wide_states, wide_best)
                previous = tf.tensor_scatter_nd_update(previous, wide_states, tf.gather(wide_sources, chosen))
            return t + 1, best + emit[t], pointers.write(t - 1, previous)

        delta = emit[0] + g.start
        pointers = tf.TensorArray(tf.int32, size=tf.maximum(length - 1, 0), element_shape=[self.num_states])
        _, delta, pointers = tf.while_loop(lambda t, *_: t < length, step, (tf.constant(1), delta, pointers))
        final = delta + g.final
        state = tf.argmax(final, output_type=tf.int32)
        reachable = (tf.reduce_max(final) > _NEG / 2) & (length > 0)

        def back(t, state, path):
            path = path.write(t, state)
            return t - 1, pointers.read(t - 1)[state], path

        path = tf.TensorArray(tf.int32, size=tf.maximum(length, 1))
        _, state, path = tf.while_loop(lambda t, *_: t > 0, back, (length - 1, state, path))
        return path.write(0, state).stack()[:length], reachable

    def _decode_one(self, log_probs: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
        """Label ids of one utterance, padded with `PAD_LABEL` to the frames of `log_probs` (`(frames, classes)`)."""
        g = self.graph
        path, reachable = self._best_path(log_probs, length)
        changed = tf.concat([tf.ones([1], tf.bool), path[1:] != path[:-1]], axis=0)
        keep = changed & tf.gather(tf.constant(g.writes), path) & reachable
        ids = tf.boolean_mask(tf.gather(tf.constant(g.state_labels), path), keep)
        return tf.pad(ids, [[0, tf.shape(log_probs)[0] - tf.size(ids)]], constant_values=PAD_LABEL)

    def decode(self, logits: tf.Tensor, logit_lengths: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Decodes a batch, one utterance after the other (the back-pointers of a large lexicon are
        `frames x states` integers per utterance).

        Args:
            logits: float `(batch, frames, num_classes)` (log-softmax is applied here).
            logit_lengths: int `(batch,)` valid frames.

        Returns:
            `(ids, lengths)`: int32 `(batch, max_length)` padded with `PAD_LABEL`, and int32 `(batch,)`. A row
            too short to spell any word (fewer frames than the shortest word's characters) decodes to nothing.
        """
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        lengths = tf.minimum(tf.cast(logit_lengths, tf.int32), tf.shape(log_probs)[1])
        ids = tf.map_fn(
            lambda row: self._decode_one(row[0], row[1]), (log_probs, lengths),
            fn_output_signature=tf.TensorSpec([None], tf.int32), parallel_iterations=1,
        )
        counts = tf.reduce_sum(tf.cast(ids != PAD_LABEL, tf.int32), axis=1)
        return ids[:, : tf.reduce_max(tf.concat([counts, [0]], 0))], counts

    def _corrections(self, hist: tf.Tensor) -> tf.Tensor:
        """The bigram LM's `lm_weight * (log P(w | h) - log P(w))` of every move into the separator, `h` the
        previous word carried by the move's source state (0 for the stay and without bigrams)."""
        if self.bigrams is None:
            return tf.zeros([self._sep_sources.size], tf.float32)
        b = self.bigrams
        keys = tf.constant(b.keys)
        h = tf.gather(hist, tf.constant(self._sep_sources))
        words = tf.constant(self._sep_words)
        query = (tf.cast(h, tf.int64) + 1) * self.num_words + tf.cast(tf.maximum(words, 0), tf.int64)
        position = tf.minimum(tf.searchsorted(keys, query), tf.size(keys, out_type=tf.int32) - 1)
        hit = tf.equal(tf.gather(keys, position), query)
        value = tf.where(hit, tf.gather(tf.constant(b.corrections), position), tf.gather(tf.constant(b.backoff), h + 1))
        return tf.where(words >= 0, self.lm_weight * value, 0.0)

    def _words_one(self, log_probs: tf.Tensor, length: tf.Tensor) -> tf.Tensor:
        """The words (indices into the lexicon) of one utterance's best path, in order, each state carrying the
        previous word of the best path into it for the bigram LM."""
        g = self.graph
        in_sources, in_weights = tf.constant(self._text_sources), tf.constant(self._text_weights)
        sep_sources, sep_weights = tf.constant(self._sep_sources), tf.constant(self._sep_weights)
        sep_words = tf.constant(self._sep_words)
        separator = tf.constant([[1]])
        emit = tf.gather(log_probs[:length], tf.constant(g.state_labels), axis=1)
        emit = tf.pad(emit, [[0, 1], [0, 0]])
        impossible = tf.constant([_NEG], tf.float32)
        nobody = tf.constant([-1], tf.int32)

        moves = tf.range(self._sep_sources.size, dtype=tf.int32)

        def into_separator(delta, hist):
            scores = tf.gather(delta, sep_sources) + sep_weights + self._corrections(hist)
            best = tf.reduce_max(scores)
            # Ties (words spelt alike, equally counted) go to the lowest move, on every device (as the twin).
            move = tf.reduce_min(tf.where(scores >= best, moves, self._sep_sources.size))
            return best, move

        def step(t, delta, hist, pointers, ended):
            scores = tf.gather(tf.concat([delta, impossible], 0), in_sources) + in_weights
            best = tf.reduce_max(scores, axis=1)
            previous = tf.gather(in_sources, tf.argmax(scores, axis=1, output_type=tf.int32), batch_dims=1)
            carried = tf.gather(tf.concat([hist, nobody], 0), previous)
            score, move = into_separator(delta, hist)
            word = sep_words[move]
            best = tf.tensor_scatter_nd_update(best, separator, [score])
            previous = tf.tensor_scatter_nd_update(previous, separator, [sep_sources[move]])
            carried = tf.tensor_scatter_nd_update(carried, separator, [tf.where(word >= 0, word, hist[1])])
            return t + 1, best + emit[t], carried, pointers.write(t - 1, previous), ended.write(t - 1, word)

        delta = emit[0] + g.start
        hist = tf.fill([self.num_states], -1)
        size = tf.maximum(length - 1, 0)
        pointers = tf.TensorArray(tf.int32, size=size, element_shape=[self.num_states])
        ended = tf.TensorArray(tf.int32, size=size, element_shape=[])
        _, delta, hist, pointers, ended = tf.while_loop(
            lambda t, *_: t < length, step, (tf.constant(1), delta, hist, pointers, ended))
        # The utterance ends with a word: a last move into the separator, without its frame (not the stay).
        delta = tf.tensor_scatter_nd_update(delta, separator, impossible)
        score, move = into_separator(delta, hist)
        reachable = (score > _NEG / 2) & (length > 0)

        def back(t, state, words):
            previous = pointers.read(t - 1)[state]
            entered = tf.equal(state, 1) & tf.not_equal(previous, 1)
            words = tf.cond(entered, lambda: words.write(words.size(), ended.read(t - 1)), lambda: words)
            return t - 1, previous, words

        words = tf.TensorArray(tf.int32, size=0, dynamic_size=True, element_shape=[]).write(0, sep_words[move])
        _, _, words = tf.while_loop(lambda t, *_: t > 0, back, (length - 1, sep_sources[move], words))
        found = tf.reverse(words.stack(), [0])
        return found[: tf.where(reachable, tf.size(found), 0)]

    def decode_text(self, logits: tf.Tensor, logit_lengths: tf.Tensor) -> tf.Tensor:
        """The best paths as text: the `outputs` of their words joined by single spaces, one utterance after the
        other (with word pairs, each word scored by the word before it on its path).

        Args:
            logits: float `(batch, frames, num_classes)` (log-softmax is applied here).
            logit_lengths: int `(batch,)` valid frames.

        Returns:
            tf.string `(batch,)`; a row too short to spell any word decodes to "".

        Raises:
            ValueError: the decoder was built without `outputs`.
        """
        if self.outputs is None:
            raise ValueError("decode_text needs the decoder's `outputs` (the text of each word).")
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        lengths = tf.minimum(tf.cast(logit_lengths, tf.int32), tf.shape(log_probs)[1])
        words = tf.constant(self.outputs, tf.string)
        return tf.map_fn(
            lambda row: tf.strings.reduce_join(tf.gather(words, self._words_one(row[0], row[1])), separator=" "),
            (log_probs, lengths), fn_output_signature=tf.TensorSpec([], tf.string), parallel_iterations=1,
        )


# ------------------------------------------------------------------------------------------ building a word list


def count_words(
    texts: Sequence[str | os.PathLike],
    alphabet: str,
    skip_header: bool = False,
    exclude: Sequence[str] = (),
    pairs: Counter | None = None,
) -> Counter:
    """Word counts of text files, normalised as the character LM's training text (`seqtasks.decoding.char_lm`):
    sentences with characters outside `alphabet` are dropped, and every sentence containing one of `exclude`
    (e.g. the transcripts a recognizer is tested on) is left out. With `pairs`, the word pairs are counted into it
    too (`(SENTENCE_START, first word)` for each sentence) and the sentences under `SENTENCE_START` in the result."""
    from seqtasks.decoding.char_lm import lm_sentences, read_texts

    counts: Counter = Counter()
    for sentence in lm_sentences(read_texts(texts, skip_header=skip_header), alphabet, exclude=exclude):
        words = sentence.split()
        counts.update(words)
        if pairs is not None and words:
            counts[SENTENCE_START] += 1
            pairs.update(zip([SENTENCE_START, *words[:-1]], words, strict=True))
    return counts


def build_word_list(
    texts: Sequence[str | os.PathLike],
    out: str | os.PathLike,
    alphabet: str,
    top: int = 20000,
    min_count: int = 1,
    bigrams: bool = False,
    min_pair_count: int = 2,
    skip_header: bool = False,
    exclude: Sequence[str] = (),
) -> str:
    """Counts the words (and with `bigrams` the word pairs) of `texts` into the word list `out` (`Lexicon.read`'s
    format), written atomically; returns a one-line summary.

    Raises:
        DataError: `out` exists (never overwritten), or no word of the texts uses only `alphabet`.
    """
    out = Path(out)
    if out.exists():
        raise DataError(f"{out} exists; lexicon build never overwrites a file. Fix: choose another --out")
    if not out.parent.is_dir():
        raise DataError(f"the folder of {out} does not exist. Fix: create it or choose another --out")
    pairs: Counter | None = Counter() if bigrams else None
    counts = count_words(texts, alphabet, skip_header, exclude, pairs)
    sentences = counts.pop(SENTENCE_START, 0)
    kept = [(w, c) for w, c in counts.most_common(top or None) if c >= min_count]
    if not kept:
        hint = "" if " " in alphabet else " (the alphabet has no space, so no sentence of two words fits)"
        raise DataError(f"no word of {[str(t) for t in texts]} uses only the characters {alphabet!r}{hint}. Fix: "
                        "check that the texts hold sentences in those characters")
    lines = [f"{w}\t{c}\n" for w, c in kept]
    kept_pairs: list = []
    if pairs is not None:
        listed = {w for w, _ in kept} | {SENTENCE_START}
        kept_pairs = sorted(((a, b), c) for (a, b), c in pairs.items()
                            if c >= min_pair_count and a in listed and b in listed)
        lines = [f"{SENTENCE_START}\t{sentences}\n", *lines, *(f"{a} {b}\t{c}\n" for (a, b), c in kept_pairs)]
    partial = out.with_name(out.name + ".partial")
    try:
        partial.write_text("".join(lines), encoding="utf-8")
        partial.replace(out)
    finally:  # a failed write leaves neither the list nor a half-written file
        partial.unlink(missing_ok=True)
    total = sum(counts.values())
    covered = sum(c for _, c in kept)
    return (f"{out}: {len(kept)} words of {len(counts)} ({covered / total:.1%} of {total} running words)"
            + (f", {len(kept_pairs)} word pairs" if pairs is not None else ""))


def main(argv: Sequence[str] | None = None) -> int:
    from seqtasks.decoding.char_lm import alphabet_from
    from seqtasks.errors import SeqtasksError

    parser = argparse.ArgumentParser(
        prog="python -m seqtasks.decoding.lexicon",
        description="Build a word list with unigram counts (word<TAB>count per line) for lexicon decoding.",
    )
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build", help="count the words of text files")
    build.add_argument("--text", nargs="+", required=True, help="text files (.tsv: the first column)")
    build.add_argument("--skip-header", action="store_true", help="skip the first line of every .tsv/.csv file")
    group = build.add_mutually_exclusive_group()
    group.add_argument("--alphabet-from", help="a speech run directory (or alphabet.json) whose characters the "
                       "words must use")
    group.add_argument("--alphabet", help="the characters the words may use, as one string (default: lower-case "
                       "English letters, apostrophe and space; e.g. for a phoneme model, whose words are spelt by "
                       "their pronunciations)")
    build.add_argument("--exclude", nargs="*", default=[], help="manifests/text files whose sentences must not "
                       "be counted (your test transcripts)")
    build.add_argument("--top", type=int, default=20000, help="keep the most frequent N words (0 = all)")
    build.add_argument("--min-count", type=int, default=1, help="keep words seen at least this often")
    build.add_argument("--bigrams", action="store_true", help="also count word pairs (a bigram LM: `<s> count` "
                       "and `previous word count` lines)")
    build.add_argument("--min-pair-count", type=int, default=2, help="keep word pairs seen at least this often "
                       "(rarer pairs fall back to the unigram)")
    build.add_argument("--out", required=True, help="the word list to write (must not exist)")
    args = parser.parse_args(argv)
    try:
        out = Path(args.out)
        if args.top < 0 or args.min_count < 1 or args.min_pair_count < 1:
            raise DataError("--top must be >= 0, --min-count and --min-pair-count >= 1")
        from seqtasks.decoding.char_lm import DEFAULT_ALPHABET, _check_alphabet, read_texts

        if args.alphabet_from:
            alphabet = alphabet_from(args.alphabet_from)
        else:
            try:
                alphabet = _check_alphabet(DEFAULT_ALPHABET if args.alphabet is None else args.alphabet)
            except ValueError as error:
                raise DataError(f"--alphabet: {error}") from None
        exclude = list(read_texts(args.exclude)) if args.exclude else []
        print(build_word_list(args.text, out, alphabet, top=args.top, min_count=args.min_count,
                              bigrams=args.bigrams, min_pair_count=args.min_pair_count,
                              skip_header=args.skip_header, exclude=exclude))
    except (SeqtasksError, OSError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())


__all__ = ["BIGRAM_DISCOUNT", "SENTENCE_START", "BigramTables", "Lexicon", "LexiconCTCDecoder", "LexiconGraph",
           "bigram_tables", "build_word_list", "count_words", "lexicon_graph"]
