"""CTC decoding constrained to a lexicon: the best path through a graph that spells only words of a closed
vocabulary, separated by a word separator (Viterbi decoding over the CTC topology of the word loop).

A free CTC decoder can spell non-words ("tewo", "zewro") when an unseen speaker or noise blurs a frame; a task
with a closed vocabulary (spoken digits, commands) knows every word it may output. This decoder searches, in
TensorFlow ops (so it runs inside an exported SavedModel), for the single most probable frame alignment among
those whose collapsed output is `word (separator word)*` with every word from the lexicon:

    states:   for each word w = c1..cn: blank, c1, blank, c2, ..., cn, blank   (CTC's blank-interleaved form)
              plus one separator state between words
    moves:    stay; next state; skip a blank between two different characters; from the end of a word (its
              last character or trailing blank) to the separator; from the separator to the start of any word
    score:    sum over frames of the log-probability of the state's label (best path, not the sum over paths)

The dynamic programme compares every pair of states at every frame, so its cost is `frames x states^2`: right for
vocabularies of up to a few hundred words (ten digits: 91 states), not for open-vocabulary dictation (use the
language-model beam search of `seqtasks.decoding.ctc_lm` there).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from seqtasks.losses.ctc import PAD_LABEL

_NEG = -1e30  # "impossible" in log space: finite, so sums never turn into NaN


class LexiconCTCDecoder:
    """Best-path CTC decoding that outputs only words of `lexicon`, joined by `separator`.

    Args:
        lexicon: The words, each a sequence of label ids (no blank, no separator inside a word).
        separator: The label id written between words (the space character of the alphabet).
        blank: The blank label id.

    Example:

    >>> decoder = LexiconCTCDecoder([[1, 2], [2, 3]], separator=0, blank=4)
    >>> logits = tf.one_hot([[1, 4, 2, 0, 2, 3]], 5) * 5.0
    >>> ids, lengths = decoder.decode(logits, tf.constant([6]))
    >>> ids.numpy().tolist(), lengths.numpy().tolist()
    ([[1, 2, 0, 2, 3]], [5])
    """

    def __init__(self, lexicon: Sequence[Sequence[int]], separator: int, blank: int):
        words = [tuple(int(i) for i in w) for w in lexicon]
        if not words or any(len(w) == 0 for w in words):
            raise ValueError("Received an invalid value for argument `lexicon`, expected non-empty words.")
        if any(separator in w or blank in w for w in words):
            raise ValueError("Received an invalid value for argument `lexicon`: a word contains the separator or blank.")
        self.words, self.separator, self.blank = list(dict.fromkeys(words)), int(separator), int(blank)
        labels, starts, ends, moves = [], [], [], []
        for word in self.words:
            base = len(labels)
            for c in word:
                labels += [self.blank, c]
            labels.append(self.blank)
            size = 2 * len(word) + 1
            for s in range(size):
                moves.append((base + s, base + s))
                if s + 1 < size:
                    moves.append((base + s, base + s + 1))
                if s % 2 == 1 and s + 2 < size and labels[base + s] != labels[base + s + 2]:
                    moves.append((base + s, base + s + 2))  # skip the blank between two different characters
            starts += [base, base + 1]
            ends += [base + size - 2, base + size - 1]
        sep = len(labels)
        labels.append(self.separator)
        moves.append((sep, sep))
        moves += [(e, sep) for e in ends] + [(sep, s) for s in starts]
        self.num_states = len(labels)
        allowed = np.zeros((self.num_states, self.num_states), bool)
        allowed[tuple(np.array(moves).T)] = True
        self.state_labels = np.array(labels, np.int32)
        self.transition_bias = np.where(allowed, 0.0, _NEG).astype(np.float32)  # [from, to]
        self.start_bias = np.full(self.num_states, _NEG, np.float32)
        self.start_bias[starts] = 0.0
        self.final_bias = np.full(self.num_states, _NEG, np.float32)
        self.final_bias[ends] = 0.0
        # A frame that enters a character (or separator) state from another state writes its label.
        self.writes = np.array([label != self.blank for label in labels])

    def decode(self, logits: tf.Tensor, logit_lengths: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Decodes a batch.

        Args:
            logits: float `(batch, frames, num_classes)` (log-softmax is applied here).
            logit_lengths: int `(batch,)` valid frames.

        Returns:
            `(ids, lengths)`: int32 `(batch, max_length)` padded with `PAD_LABEL`, and int32 `(batch,)`. A row
            too short to spell any word (fewer frames than the shortest word's characters) decodes to nothing.
        """
        log_probs = tf.nn.log_softmax(tf.cast(logits, tf.float32), axis=-1)
        lengths = tf.cast(logit_lengths, tf.int32)
        emit = tf.gather(log_probs, self.state_labels, axis=2)  # (batch, frames, states)
        emit = tf.pad(emit, [[0, 0], [0, 2], [0, 0]])  # frames beyond every length: no empty TensorArray below
        batch, frames = tf.shape(emit)[0], tf.shape(emit)[1]
        transition = tf.constant(self.transition_bias)
        identity = tf.broadcast_to(tf.range(self.num_states), [batch, self.num_states])

        def step(t, delta, pointers):
            scores = delta[:, :, None] + transition[None]  # (batch, from, to)
            best, previous = tf.reduce_max(scores, axis=1), tf.argmax(scores, axis=1, output_type=tf.int32)
            valid = (t < lengths)[:, None]
            delta = tf.where(valid, best + emit[:, t], delta)
            return t + 1, delta, pointers.write(t - 1, tf.where(valid, previous, identity))

        delta = emit[:, 0] + self.start_bias
        pointers = tf.TensorArray(tf.int32, size=tf.maximum(frames - 1, 0), element_shape=[None, self.num_states])
        _, delta, pointers = tf.while_loop(lambda t, *_: t < frames, step, (tf.constant(1), delta, pointers))
        final = delta + self.final_bias
        state = tf.argmax(final, axis=1, output_type=tf.int32)
        reachable = (tf.reduce_max(final, axis=1) > _NEG / 2) & (lengths > 0)
        pointers = pointers.stack()  # (frames - 1, batch, states)

        def back(t, state, path):
            path = path.write(t, state)
            previous = tf.gather(pointers[t - 1], state[:, None], batch_dims=1)[:, 0]
            return t - 1, previous, path

        path = tf.TensorArray(tf.int32, size=frames)
        t, state, path = tf.while_loop(lambda t, *_: t > 0, back, (frames - 1, state, path))
        path = tf.transpose(path.write(0, state).stack())  # (batch, frames) best state per frame
        changed = tf.concat([tf.ones([batch, 1], tf.bool), path[:, 1:] != path[:, :-1]], axis=1)
        in_length = tf.range(frames)[None] < lengths[:, None]
        keep = changed & tf.gather(tf.constant(self.writes), path) & in_length & reachable[:, None]
        ids = tf.ragged.boolean_mask(tf.gather(tf.constant(self.state_labels), path), keep)
        return ids.to_tensor(PAD_LABEL), tf.cast(ids.row_lengths(), tf.int32)


__all__ = ["LexiconCTCDecoder"]
