"""CTC decoding in TensorFlow ops: greedy (best path) and beam search, ids -> strings through an alphabet.

Everything here is graph-friendly, so the exported speech model decodes inside its `transcribe` signature.
Conventions follow `seqtasks.losses.ctc`: batch-major logits, blank = last class by default, decoded id batches
padded with `PAD_LABEL = -1`.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from seqtasks.decoding.lexicon import Lexicon, LexiconCTCDecoder
from seqtasks.losses.ctc import PAD_LABEL

DECODING_METHODS = ("greedy", "beam", "lexicon")


def _blank_to_last(logits: tf.Tensor, blank_index: int | None) -> tuple[tf.Tensor, int | None]:
    """Moves the blank class to the last position (TF's decoders need it there); returns the moved index."""
    num_classes = logits.shape[-1]
    if num_classes is None:
        raise ValueError("`logits` must have a known number of classes.")
    if blank_index is None:
        return logits, None
    blank = blank_index % num_classes
    if blank == num_classes - 1:
        return logits, None
    moved = tf.concat([logits[..., :blank], logits[..., blank + 1 :], logits[..., blank : blank + 1]], axis=-1)
    return moved, blank


def _restore_ids(ids: tf.Tensor, blank: int | None) -> tf.Tensor:
    """Undoes `_blank_to_last` on decoded ids (ids above the old blank shift back up by one)."""
    if blank is None:
        return ids
    return tf.where(ids >= blank, ids + 1, ids)


def _sparse_to_padded(decoded: tf.SparseTensor, batch_size: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    dense = tf.sparse.to_dense(decoded, default_value=PAD_LABEL)
    # The decoder's dense shape can have fewer rows when the last utterances decode to nothing.
    dense = tf.pad(dense, [[0, batch_size - tf.shape(dense)[0]], [0, 0]], constant_values=PAD_LABEL)
    dense = tf.cast(dense, tf.int32)
    lengths = tf.reduce_sum(tf.cast(dense != PAD_LABEL, tf.int32), axis=1)
    return dense, lengths


def ctc_greedy_decode(
    logits: tf.Tensor, logit_lengths: tf.Tensor, blank_index: int | None = None
) -> tuple[tf.Tensor, tf.Tensor]:
    """Best-path decoding: arg-max class per frame, merge repeats, drop blanks.

    Args:
        logits: float `(batch, frames, num_classes)`.
        logit_lengths: int `(batch,)` valid frames.
        blank_index: the blank class; `None` means the last class.

    Returns:
        `(ids, lengths)`: int32 `(batch, max_decoded_length)` padded with `PAD_LABEL`, and int32 `(batch,)`.
    """
    logits = tf.convert_to_tensor(logits, tf.float32)
    logits, moved = _blank_to_last(logits, blank_index)
    decoded, _ = tf.nn.ctc_greedy_decoder(
        tf.transpose(logits, [1, 0, 2]), tf.cast(logit_lengths, tf.int32), merge_repeated=True
    )
    ids, lengths = _sparse_to_padded(decoded[0], tf.shape(logits)[0])
    return _restore_ids(ids, moved), lengths


def ctc_beam_search_decode(
    logits: tf.Tensor, logit_lengths: tf.Tensor, beam_width: int = 8, blank_index: int | None = None
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Prefix beam search over CTC outputs (no language model), best path per utterance.

    Args:
        logits: float `(batch, frames, num_classes)`.
        logit_lengths: int `(batch,)` valid frames.
        beam_width: beams kept per step (1 is close to greedy decoding).
        blank_index: the blank class; `None` means the last class.

    Returns:
        `(ids, lengths, log_probs)`: padded int32 ids, int32 lengths, float32 `(batch,)` log-probability of the
        returned labelling.
    """
    if not isinstance(beam_width, int) or isinstance(beam_width, bool) or beam_width < 1:
        raise ValueError(
            f"Received an invalid value for argument `beam_width`, expected a positive integer, got {beam_width!r}."
        )
    logits = tf.convert_to_tensor(logits, tf.float32)
    logits, moved = _blank_to_last(logits, blank_index)
    decoded, log_probs = tf.nn.ctc_beam_search_decoder(
        tf.transpose(tf.nn.log_softmax(logits, axis=-1), [1, 0, 2]),
        tf.cast(logit_lengths, tf.int32),
        beam_width=beam_width,
        top_paths=1,
    )
    ids, lengths = _sparse_to_padded(decoded[0], tf.shape(logits)[0])
    return _restore_ids(ids, moved), lengths, log_probs[:, 0]


def ids_to_strings(ids: tf.Tensor, alphabet: Sequence[str], separator: str = "") -> tf.Tensor:
    """Maps padded id rows to strings: `alphabet[id]` joined with `separator`; `PAD_LABEL` entries are skipped.

    Args:
        ids: int `(batch, length)` padded with negative values.
        alphabet: the token of each id (characters for the speech recipe).
        separator: put between tokens.

    Returns:
        tf.string `(batch,)`.
    """
    table = tf.constant(list(alphabet), dtype=tf.string)
    ids = tf.cast(ids, tf.int32)
    valid = ids >= 0
    tokens = tf.where(valid, tf.gather(table, tf.maximum(ids, 0)), "")
    if separator:
        ragged = tf.ragged.boolean_mask(tokens, valid)
        return tf.strings.reduce_join(ragged, axis=-1, separator=separator)
    return tf.strings.reduce_join(tokens, axis=-1)


def ctc_decode(
    logits: tf.Tensor,
    logit_lengths: tf.Tensor,
    alphabet: Sequence[str],
    method: str = "greedy",
    beam_width: int = 8,
    blank_index: int | None = None,
    lexicon: Lexicon | Sequence[str] | None = None,
) -> tf.Tensor:
    """Decodes CTC logits to strings with greedy, beam search or lexicon-constrained decoding.

    Args:
        logits: float `(batch, frames, len(alphabet) + 1)`.
        logit_lengths: int `(batch,)` valid frames.
        alphabet: the token of each non-blank class.
        method: `"greedy"`, `"beam"` or `"lexicon"` (only words of `lexicon`, separated by the space character:
            `seqtasks.decoding.lexicon.LexiconCTCDecoder`).
        beam_width: beam width for `method="beam"`.
        blank_index: the blank class; `None` means the last class.
        lexicon: the words `method="lexicon"` may output (each spelt with `alphabet`'s characters, or by its
            `Lexicon.spellings` in them): a `Lexicon` (with unigram counts and their weights) or a plain list of words.

    Returns:
        tf.string `(batch,)` transcripts.

    Example:

    >>> ctc_decode(tf.one_hot([[0, 0, 2, 1]], 3) * 10.0, [4], alphabet=["a", "b"]).numpy()
    array([b'ab'], dtype=object)
    """
    if method not in DECODING_METHODS:
        raise ValueError(
            f"Received an invalid value for argument `method`, expected one of {DECODING_METHODS}, got {method!r}."
        )
    if method == "lexicon":
        index = {token: i for i, token in enumerate(alphabet)}
        if not lexicon or " " not in index:
            raise ValueError("Lexicon decoding needs a non-empty `lexicon` and an alphabet with the space character.")
        if not isinstance(lexicon, Lexicon):
            lexicon = Lexicon(tuple(dict.fromkeys(lexicon)))
        missing = sorted({c for word in lexicon.spelled for c in word if c not in index})
        if missing:
            raise ValueError(f"Lexicon words use characters outside the alphabet: {missing!r}.")
        blank = len(alphabet) if blank_index is None else blank_index
        by_word = lexicon.spellings is not None or lexicon.bigrams is not None
        decoder = LexiconCTCDecoder(
            [[index[c] for c in word] for word in lexicon.spelled], index[" "], blank, counts=lexicon.counts,
            lm_weight=lexicon.lm_weight, word_bonus=lexicon.word_bonus, outputs=lexicon.words if by_word else None,
            bigrams=lexicon.bigrams, sentences=lexicon.sentences,
        )
        if by_word:  # spelt in other classes (e.g. phonemes), or a bigram LM: the words come from the graph
            return decoder.decode_text(logits, logit_lengths)
        ids, _ = decoder.decode(logits, logit_lengths)
    elif method == "greedy":
        ids, _ = ctc_greedy_decode(logits, logit_lengths, blank_index)
    else:
        ids, _, _ = ctc_beam_search_decode(logits, logit_lengths, beam_width, blank_index)
    return ids_to_strings(ids, alphabet)
