"""SavedModel export of a char-RNN: `generate`, `generate_batch` and `score` signatures, all in the graph.

The exported model needs only TensorFlow to run: the vocabulary is a lookup table inside the graph, and the
whole sampling loop is a `tf.while_loop` that carries the recurrent state from step to step.

Usage without seqtasks::

    m = tf.saved_model.load("runs/text_generation/export")
    m.generate(prompt=tf.constant("ROMEO:"), num_chars=tf.constant(200), temperature=tf.constant(0.8))["text"]
    m.score(text=tf.constant("To be, or not to be"))["bits_per_char"]
    m.signatures["generate"](prompt=..., num_chars=..., temperature=...)   # same, for TF Serving

`generate` returns the continuation only (not the prompt); `temperature <= 0` means greedy decoding.
`score` returns the bits (and nats) per character of `text[1:]` given the preceding characters. The vocabulary
file travels with the export as the SavedModel asset `assets/vocabulary.json` (`m.vocabulary.asset_path`).
"""

from __future__ import annotations

import inspect
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from seqtasks.decoding.generation import batch_major_ids
from seqtasks.decoding.samplers import GreedySampler, TemperatureSampler, TopKSampler, TopPSampler
from seqtasks.portable import PortableExport, PortableFunction
from seqtasks.runtime.export import ServingModule
from seqtasks.tasks.text_generation.model import CharLanguageModel
from seqtasks.tasks.text_generation.preprocessor import UNKNOWN_ID, VOCABULARY_FILE, CharVocabulary

_STRING = tf.TensorSpec([], tf.string)
_INT = tf.TensorSpec([], tf.int32)
_FLOAT = tf.TensorSpec([], tf.float32)


class TextGenerationServing(ServingModule):
    """The exported object: the model's variables, the vocabulary table (and file) and the signature functions
    `generate` (also `serving_default`), `generate_batch` and `score`.

    Args:
        model: The trained `CharLanguageModel`.
        vocab: Its `CharVocabulary`.
    """

    def __init__(self, model: CharLanguageModel, vocab: CharVocabulary):
        super().__init__(name="text_generation")
        self.model = model
        # The asset is copied into the SavedModel when it is saved; until then it lives in a folder of our own.
        self._asset_dir = tempfile.TemporaryDirectory(prefix="seqtasks-vocab-")
        self.vocabulary = tf.saved_model.Asset(str(vocab.save(Path(self._asset_dir.name) / VOCABULARY_FILE)))
        codepoints = [ord(c) for c in vocab.chars]
        self.char_table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(codepoints, tf.int32), tf.range(1, vocab.size, dtype=tf.int32)
            ),
            default_value=UNKNOWN_ID,
        )
        self.id_to_codepoint = tf.constant([0xFFFD, *codepoints], tf.int32)
        self.start_id = tf.constant(vocab.index.get("\n", UNKNOWN_ID), tf.int32)
        self.unknown_mask = tf.one_hot(UNKNOWN_ID, vocab.size, on_value=-1e9, off_value=0.0)

    def _encode(self, text):
        codepoints = tf.strings.unicode_decode(text, "UTF-8", errors="replace")
        return self.char_table.lookup(codepoints)

    def _decode(self, ids):
        return tf.strings.unicode_encode(tf.gather(self.id_to_codepoint, ids), "UTF-8")

    def _sample(self, prompt, num_chars, num_samples, pick):
        ids = self._encode(prompt)
        ids = tf.cond(tf.size(ids) > 0, lambda: ids, lambda: self.start_id[None])
        batch = tf.tile(ids[None, :], [num_samples, 1])
        logits, states = self.model.step(batch, self.model.initial_states(num_samples))
        logits = logits[:, -1, :] + self.unknown_mask
        chosen = tf.TensorArray(tf.int32, size=num_chars, element_shape=tf.TensorShape([None]))

        def body(i, logits, states, chosen):
            next_ids = pick(logits)
            new_logits, new_states = self.model.step(next_ids[:, None], states)
            return i + 1, new_logits[:, -1, :] + self.unknown_mask, new_states, chosen.write(i, next_ids)

        _, _, _, chosen = tf.while_loop(
            lambda i, *_: i < num_chars, body, (tf.constant(0), logits, states, chosen)
        )
        ids = tf.reshape(batch_major_ids(chosen.stack()), [num_samples, num_chars])
        return self._decode(ids)

    @tf.function(input_signature=[_STRING, _INT, _FLOAT])
    def generate(self, prompt, num_chars, temperature):
        """`num_chars` characters after `prompt`, sampled at `temperature` (<= 0: greedy)."""

        def pick(logits):
            return tf.cond(
                temperature > 0,
                lambda: TemperatureSampler(tf.maximum(temperature, 1e-6))(logits),
                lambda: GreedySampler()(logits),
            )

        return {"text": self._sample(prompt, tf.maximum(num_chars, 0), 1, pick)[0]}

    @tf.function(input_signature=[_STRING, _INT, _FLOAT, _INT, _INT, _FLOAT])
    def generate_batch(self, prompt, num_chars, temperature, num_samples, top_k, top_p):
        """`num_samples` continuations in one batch; `top_k > 0` or `top_p < 1` restrict the sampling."""
        t = tf.maximum(temperature, 1e-6)

        def pick(logits):
            def sample():
                return tf.cond(
                    top_k > 0,
                    lambda: TopKSampler(top_k, t)(logits),
                    lambda: tf.cond(
                        top_p < 1.0, lambda: TopPSampler(top_p, t)(logits), lambda: TemperatureSampler(t)(logits)
                    ),
                )

            return tf.cond(temperature > 0, sample, lambda: GreedySampler()(logits))

        return {"texts": self._sample(prompt, tf.maximum(num_chars, 0), tf.maximum(num_samples, 1), pick)}

    @tf.function(input_signature=[_STRING])
    def score(self, text):
        """Bits and nats per character of `text[1:]` given the preceding characters."""
        ids = self._encode(text)
        n = tf.size(ids) - 1

        def nll():
            logits = self.model(ids[None, :-1], training=False)
            losses = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=ids[None, 1:], logits=logits)
            return tf.reduce_sum(losses)

        total = tf.cond(n > 0, nll, lambda: tf.constant(0.0))
        nats = total / tf.cast(tf.maximum(n, 1), tf.float32)
        return {
            "bits_per_char": nats / math.log(2.0),
            "nats_per_char": nats,
            "num_chars": tf.maximum(n, 0),
            "unknown_chars": tf.reduce_sum(tf.cast(tf.equal(ids[1:], UNKNOWN_ID), tf.int32)),
        }

    def signatures(self) -> dict[str, Any]:
        return {
            "serving_default": self.generate.get_concrete_function(),
            "generate": self.generate.get_concrete_function(),
            "generate_batch": self.generate_batch.get_concrete_function(),
            "score": self.score.get_concrete_function(),
        }


def text_generation_portable(model: CharLanguageModel, vocab: CharVocabulary) -> PortableExport:
    """The LiteRT/ONNX export: two signatures of the char-RNN, state in and state out.

    * `serving_default`: `ids` (batch, T) int32 from zero states -> `logits` (batch, T, vocab) and
      the states after the last step (`next_state_<layer>_<k>`): scoring a text, reading a prompt.
    * `step`: `ids` (batch,) int32 and the states (`state_<layer>_<k>`, (batch, units) float32) ->
      `logits` (batch, vocab) and the next states, so generating costs one step per character.

    In the runner (`seqtasks_portable.CharGeneratorPipeline`): characters <-> ids (the asset
    `vocabulary.json`, the SavedModel's file), the sampling loop (greedy, temperature, top-k,
    top-p with numpy's random generator) and the bits-per-character sum of `score`.
    """
    template = model.initial_states(1)
    names = [f"{layer}_{k}" for layer, states in enumerate(template) for k in range(len(states))]
    units = model.backbone.units
    state_specs = [tf.TensorSpec([None, units], tf.float32, name=f"state_{n}") for n in names]

    def named_states(states: Any) -> dict[str, tf.Tensor]:
        flat = tf.nest.flatten(states)
        return {f"next_state_{n}": tf.cast(s, tf.float32) for n, s in zip(names, flat, strict=True)}

    def sequence(ids: tf.Tensor) -> dict[str, tf.Tensor]:
        logits, states = model.step(ids, model.initial_states(tf.shape(ids)[0]))
        return {"logits": tf.cast(logits, tf.float32), **named_states(states)}

    def step(ids: tf.Tensor, *states: tf.Tensor) -> dict[str, tf.Tensor]:
        flat = [tf.cast(s, model.backbone.compute_dtype) for s in states]
        logits, new_states = model.step(ids[:, None], tf.nest.pack_sequence_as(template, flat))
        return {"logits": tf.cast(logits[:, 0], tf.float32), **named_states(new_states)}

    # The converters call the function with one named argument per input (as many as the cell type
    # has states), so it gets a signature naming them.
    step.__signature__ = inspect.Signature(
        [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
         for name in ["ids", *(spec.name for spec in state_specs)]])

    rng = np.random.default_rng(0)
    sequence_example = {"ids": rng.integers(0, vocab.size, (2, 9)).astype(np.int32)}
    step_example = {"ids": rng.integers(0, vocab.size, (2,)).astype(np.int32)}
    step_example.update({f"state_{n}": rng.normal(0.0, 0.5, (2, units)).astype(np.float32)
                         for n in names})
    return PortableExport(
        model=model,
        pipeline="char_generator",
        functions={
            "serving_default": PortableFunction(
                sequence, [tf.TensorSpec([None, None], tf.int32, name="ids")], sequence_example),
            "step": PortableFunction(
                step, [tf.TensorSpec([None], tf.int32, name="ids"), *state_specs], step_example),
        },
        settings={
            "vocabulary": VOCABULARY_FILE,
            "unknown_id": UNKNOWN_ID,
            "start_id": vocab.index.get("\n", UNKNOWN_ID),
            "states": names,
            "units": units,
            "cell_type": model.backbone.cell_type,
        },
        assets={VOCABULARY_FILE: vocab.to_json().encode("utf-8")},
        in_model="serving_default: ids (batch, T) -> logits (batch, T, vocab), final states; "
                 "step: ids (batch,), states -> logits (batch, vocab), next states",
        outside_model=[
            "characters <-> ids (assets/vocabulary.json): no string ops in the formats",
            "the sampling loop (greedy, temperature, top-k, top-p): one step call per character",
            "score: log-softmax and the mean over the characters, in numpy",
        ],
    )
