"""CTC prefix beam search with a character language model (shallow fusion), in numpy.

A hypothesis is a character prefix `l`. For each frame the search keeps, per prefix, the log-probability of the
frames so far ending in a blank (`p_b`) and ending in the prefix's last character (`p_nb`); extending `l` by
character `c` at frame `t` adds `y_t(c) * (p_b(l) + p_nb(l))`, or only `y_t(c) * p_b(l)` when `c` repeats the last
character of `l` (CTC needs a blank between two equal characters; without one the frames collapse into the same
`l`). After every frame the `beam_width` best prefixes survive, ranked by

    log P_ctc(l) + lm_weight * log P_lm(l) + word_bonus * words(l) + char_bonus * len(l)

where `P_lm(l)` is the character LM's probability of `l` (each appended character scored given the text before
it; at the end the probability of the sentence end is added). The LM and bonus terms depend only on the prefix,
so merging CTC paths into the same prefix stays exact. Without an LM (or with `lm_weight=0` and no bonus) this is
the textbook prefix beam search, the search `seqtasks.decoding.ctc.ctc_beam_search_decode` (TensorFlow's C++
decoder) runs, with one difference in TensorFlow: when a beam pushed out earlier in the same frame is reached again
as its parent's extension, TensorFlow re-creates it and wipes its previous-frame probability, so its own extensions
are never tried in that frame. The two then keep different beams and can return different transcripts (4 of the 45
VCTK validation utterances at beam 16; on random outputs either one may find the more probable transcript); on
CTC-like outputs in the tests they agree.

Speed: per frame, only characters with log-probability >= `prune_log_prob` and among the `top_k` best are
expanded (frames where blank dominates cost almost nothing); LM distributions are cached per context.

The exported SavedModel decodes in-graph without an LM; this decoder runs in Python on the model's logits.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from seqtasks.decoding.char_lm import CharNGramLM, alphabet_difference
from seqtasks.errors import DataError

_NEG_INF = -np.inf
_CACHE_ENTRIES = 200_000


class CTCHypothesis(NamedTuple):
    """One decoded transcript: `score = acoustic + lm` (the ranking score)."""

    text: str
    score: float
    acoustic: float  # log P_ctc(text | audio), natural log
    lm: float  # lm_weight * log P_lm(text, end) + bonuses


def _log_softmax(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, np.float64)
    m = np.max(x, axis=-1, keepdims=True)
    return x - m - np.log(np.sum(np.exp(x - m), axis=-1, keepdims=True))


def _check_number(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"Received an invalid value for argument `{name}`, expected a finite number, got {value!r}.")
    return float(value)


class CTCLMDecoder:
    """Prefix beam search over CTC outputs with an optional character LM; holds the LM and its score cache.

    Args:
        alphabet: the character of each non-blank class, in class order (blank removed).
        lm: a `CharNGramLM` over the same characters (any order), or `None` for no LM.
        beam_width: prefixes kept after each frame.
        lm_weight: weight of the LM's natural-log probability (alpha).
        word_bonus: added per word (each non-space character that follows the start or a space; beta).
        char_bonus: added per character.
        blank_index: the blank class; `None` means the last class.
        top_k: expand at most this many characters per frame (`None`: no limit).
        prune_log_prob: expand only characters whose frame log-probability is at least this (`-inf`: all).

    Example:

    >>> decoder = CTCLMDecoder(" 'abcdefghijklmnopqrstuvwxyz", CharNGramLM.load("lm.npz"), lm_weight=0.5)
    >>> texts = decoder(logits, logit_lengths)  # (batch, frames, 29) -> list of str
    """

    def __init__(
        self,
        alphabet: str | Sequence[str],
        lm: CharNGramLM | None = None,
        *,
        beam_width: int = 16,
        lm_weight: float = 0.5,
        word_bonus: float = 0.0,
        char_bonus: float = 0.0,
        blank_index: int | None = None,
        top_k: int | None = 16,
        prune_log_prob: float = math.log(1e-4),
    ):
        chars = list(alphabet)
        if not chars or any(not isinstance(c, str) or len(c) != 1 for c in chars) or len(set(chars)) != len(chars):
            raise ValueError(f"Received an invalid value for argument `alphabet`, expected distinct single "
                             f"characters, got {alphabet!r}.")
        if not isinstance(beam_width, int) or isinstance(beam_width, bool) or beam_width < 1:
            raise ValueError(
                f"Received an invalid value for argument `beam_width`, expected a positive integer, got {beam_width!r}."
            )
        if top_k is not None and (not isinstance(top_k, int) or isinstance(top_k, bool) or top_k < 1):
            raise ValueError(
                f"Received an invalid value for argument `top_k`, expected a positive integer or None, got {top_k!r}."
            )
        if isinstance(prune_log_prob, bool) or not isinstance(prune_log_prob, int | float) or math.isnan(prune_log_prob):
            raise ValueError(
                f"Received an invalid value for argument `prune_log_prob`, expected a number, got {prune_log_prob!r}."
            )
        self.alphabet = "".join(chars)
        self.num_classes = len(chars) + 1
        blank = self.num_classes - 1 if blank_index is None else blank_index
        if not -self.num_classes <= blank < self.num_classes:
            raise ValueError(f"Received an invalid value for argument `blank_index`, expected a class in "
                             f"[0, {self.num_classes}), got {blank_index!r}.")
        self.blank_index = blank % self.num_classes
        self.char_classes = np.array([c for c in range(self.num_classes) if c != self.blank_index])
        self.beam_width = beam_width
        self.lm_weight = _check_number("lm_weight", lm_weight)
        self.word_bonus = _check_number("word_bonus", word_bonus)
        self.char_bonus = _check_number("char_bonus", char_bonus)
        self.top_k = top_k
        self.prune_log_prob = float(prune_log_prob)
        self.lm = lm
        if lm is not None:
            if set(lm.alphabet) != set(self.alphabet):
                raise DataError(
                    f"the character LM's alphabet {lm.alphabet!r} differs from the model's {self.alphabet!r} "
                    f"({alphabet_difference(self.alphabet, lm.alphabet)}). Fix: rebuild the LM with --alphabet-from "
                    "RUN_DIR"
                )
            self._lm_columns = np.array([lm.char_index[ch] for ch in self.alphabet] + [lm.end_index])
            self._context = lm.order - 1
        else:
            self._context = 0
        self._space = self.alphabet.find(" ")
        self._scores: dict[str, np.ndarray] = {}

    @classmethod
    def from_file(cls, lm_path: str | None, alphabet: str | Sequence[str], **kwargs) -> CTCLMDecoder:
        """A decoder with the LM of `lm_path` (checked against `alphabet`), or without an LM when it is empty."""
        lm = CharNGramLM.load(lm_path, alphabet=alphabet) if lm_path else None
        return cls(alphabet, lm, **kwargs)

    def _extension_scores(self, prefix: str) -> np.ndarray:
        """LM + bonus score of appending each character (alphabet order) to `prefix`, then of ending there."""
        key = prefix[max(0, len(prefix) - self._context):] if self._context else ("" if not prefix else prefix[-1])
        scores = self._scores.get(key)
        if scores is not None:
            return scores
        scores = np.full(len(self.alphabet) + 1, self.char_bonus)
        scores[-1] = 0.0
        if self.lm is not None and self.lm_weight != 0.0:
            scores += self.lm_weight * self.lm.log_probs(key)[self._lm_columns]
        if self.word_bonus != 0.0 and (not prefix or prefix[-1] == " "):
            word_start = np.full(len(self.alphabet) + 1, self.word_bonus)
            word_start[-1] = 0.0
            if self._space >= 0:
                word_start[self._space] = 0.0
            scores += word_start
        if len(self._scores) >= _CACHE_ENTRIES:
            self._scores.clear()
        self._scores[key] = scores
        return scores

    def decode(self, logits: np.ndarray, top_paths: int = 1) -> list[CTCHypothesis]:
        """The `top_paths` best hypotheses of one utterance, best first.

        Args:
            logits: float `(frames, num_classes)` log-probabilities or unnormalised logits (a log-softmax is
                applied per frame, which leaves log-probabilities unchanged).
            top_paths: number of hypotheses returned (at most `beam_width`).
        """
        logits = np.asarray(logits)
        if logits.ndim != 2 or logits.shape[1] != self.num_classes:
            raise ValueError(f"`logits` must have shape (frames, {self.num_classes}), got {logits.shape}.")
        if not 1 <= top_paths <= self.beam_width:
            raise ValueError(f"Received an invalid value for argument `top_paths`, expected 1..{self.beam_width}, "
                             f"got {top_paths!r}.")
        log_probs = _log_softmax(logits)
        blank = self.blank_index
        char_classes = self.char_classes
        alphabet = self.alphabet
        width = self.beam_width
        # Beam state: prefixes, their log p_b / p_nb (acoustic), LM+bonus score, last character (-1: empty).
        prefixes = [""]
        p_b = np.array([0.0])
        p_nb = np.array([_NEG_INF])
        lm_part = np.array([0.0])
        last = np.array([-1])
        ext_rows = [self._extension_scores("")]
        for frame in log_probs:
            char_lp = frame[char_classes]
            chars = np.flatnonzero(char_lp >= self.prune_log_prob)
            if self.top_k is not None and chars.size > self.top_k:
                chars = chars[np.argpartition(-char_lp[chars], self.top_k - 1)[: self.top_k]]
            total = np.logaddexp(p_b, p_nb)
            new_p_b = total + frame[blank]
            has_last = last >= 0
            new_p_nb = np.where(has_last, p_nb + char_lp[np.maximum(last, 0)], _NEG_INF)
            # A prefix already in the beam absorbs its extension from its parent (same text, same LM score),
            # whether or not its last character is expanded at this frame.
            position = {c: j for j, c in enumerate(chars.tolist())}
            index = {p: i for i, p in enumerate(prefixes)}
            absorbed = []
            for j, prefix in enumerate(prefixes):
                parent = index.get(prefix[:-1]) if prefix else None
                if parent is not None:
                    c = int(last[j])
                    # Extending by the parent's own last character needs a blank in between (only p_b counts).
                    source = p_b[parent] if c == last[parent] else total[parent]
                    new_p_nb[j] = np.logaddexp(new_p_nb[j], source + char_lp[c])
                    if c in position:
                        absorbed.append((parent, position[c]))
            kept = np.logaddexp(new_p_b, new_p_nb) + lm_part
            if chars.size:
                source = np.where(chars[None, :] == last[:, None], p_b[:, None], total[:, None])
                ext_acoustic = source + char_lp[chars][None, :]
                ext_lm = lm_part[:, None] + np.stack(ext_rows)[:, chars]
                for parent, column in absorbed:
                    ext_acoustic[parent, column] = _NEG_INF
                candidates = np.concatenate([kept, (ext_acoustic + ext_lm).ravel()])
            else:
                candidates = kept
            count = len(prefixes)
            if candidates.size > width:
                best = np.argpartition(-candidates, width - 1)[:width]
            else:
                best = np.arange(candidates.size)
            best = best[np.isfinite(candidates[best])]
            best = best[np.argsort(-candidates[best], kind="stable")]
            next_prefixes, next_rows = [], []
            next_p_b = np.empty(best.size)
            next_p_nb = np.empty(best.size)
            next_lm = np.empty(best.size)
            next_last = np.empty(best.size, np.int64)
            for n, b in enumerate(best.tolist()):
                if b < count:
                    next_prefixes.append(prefixes[b])
                    next_rows.append(ext_rows[b])
                    next_p_b[n], next_p_nb[n], next_lm[n], next_last[n] = new_p_b[b], new_p_nb[b], lm_part[b], last[b]
                else:
                    i, j = divmod(b - count, chars.size)
                    c = int(chars[j])
                    prefix = prefixes[i] + alphabet[c]
                    next_prefixes.append(prefix)
                    next_rows.append(self._extension_scores(prefix))
                    next_p_b[n], next_p_nb[n] = _NEG_INF, ext_acoustic[i, j]
                    next_lm[n], next_last[n] = ext_lm[i, j], c
            prefixes, ext_rows = next_prefixes, next_rows
            p_b, p_nb, lm_part, last = next_p_b, next_p_nb, next_lm, next_last
        acoustic = np.logaddexp(p_b, p_nb)
        final_lm = lm_part + np.array([row[-1] for row in ext_rows])
        order = np.argsort(-(acoustic + final_lm), kind="stable")[:top_paths]
        return [
            CTCHypothesis(prefixes[i], float(acoustic[i] + final_lm[i]), float(acoustic[i]), float(final_lm[i]))
            for i in order
        ]

    def __call__(self, logits: np.ndarray, logit_lengths: Sequence[int] | np.ndarray) -> list[str]:
        """Best transcript of each utterance of a padded batch.

        Args:
            logits: float `(batch, frames, num_classes)` (a tensor or array).
            logit_lengths: int `(batch,)` valid frames of each utterance.
        """
        logits = np.asarray(logits)
        lengths = np.asarray(logit_lengths).reshape(-1)
        if logits.ndim != 3 or lengths.shape[0] != logits.shape[0]:
            raise ValueError(f"`logits` must be (batch, frames, classes) with one length per utterance, got "
                             f"{logits.shape} and {lengths.shape[0]} lengths.")
        if np.any(lengths < 0) or np.any(lengths > logits.shape[1]):
            raise ValueError(f"`logit_lengths` must lie in [0, {logits.shape[1]}], got {lengths.tolist()}.")
        return [self.decode(logits[b, : int(lengths[b])])[0].text for b in range(logits.shape[0])]


def ctc_beam_search_lm(
    logits: np.ndarray,
    alphabet: str | Sequence[str],
    lm: CharNGramLM | None = None,
    *,
    blank_index: int | None = None,
    beam_width: int = 16,
    lm_weight: float = 0.5,
    word_bonus: float = 0.0,
    char_bonus: float = 0.0,
    top_k: int | None = 16,
    prune_log_prob: float = math.log(1e-4),
    top_paths: int | None = None,
) -> str | list[CTCHypothesis]:
    """Prefix beam search of one utterance with an optional character LM (see `CTCLMDecoder`).

    Args:
        logits: float `(frames, len(alphabet) + 1)` log-probabilities or logits.
        alphabet: the character of each non-blank class, in class order.
        lm: the character LM, or `None`.
        top_paths: `None` returns the best transcript; an integer returns that many `CTCHypothesis`.
        (others): as in `CTCLMDecoder`.

    Returns:
        The best transcript, or the `top_paths` best hypotheses with their scores.
    """
    decoder = CTCLMDecoder(
        alphabet, lm, beam_width=beam_width, lm_weight=lm_weight, word_bonus=word_bonus, char_bonus=char_bonus,
        blank_index=blank_index, top_k=top_k, prune_log_prob=prune_log_prob,
    )
    hypotheses = decoder.decode(logits, top_paths or 1)
    return hypotheses[0].text if top_paths is None else hypotheses


def ctc_beam_search_lm_batch(
    logits: np.ndarray,
    logit_lengths: Sequence[int] | np.ndarray,
    alphabet: str | Sequence[str],
    lm: CharNGramLM | None = None,
    **kwargs,
) -> list[str]:
    """Best transcript of each utterance of a padded `(batch, frames, classes)` batch; keyword arguments as in
    `CTCLMDecoder`."""
    return CTCLMDecoder(alphabet, lm, **kwargs)(logits, logit_lengths)


__all__ = ["CTCHypothesis", "CTCLMDecoder", "ctc_beam_search_lm", "ctc_beam_search_lm_batch"]
