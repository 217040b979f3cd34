"""The SavedModel: `tf.saved_model.load("RUN/export").signatures["serving_default"](text=tf.constant(["Bonjour"]))`
gives `{"language": labels, "probabilities": (batch, languages)}`, without seqtasks installed."""

from __future__ import annotations

from typing import Any

import keras
import tensorflow as tf

from seqtasks.runtime.export import ServingModule
from seqtasks.tasks.language_identification.preprocessor import PAD_ID, UNKNOWN_ID


class LanguageIdentificationServing(ServingModule):
    """Character lookup in the graph (code point -> id table), the model, and the label names."""

    def __init__(self, model: keras.Model, preprocessor):
        super().__init__(name="language_identification_serving")
        self.model = model
        codes = tf.constant([ord(c) for c in preprocessor.chars] or [-1], tf.int32)
        ids = tf.constant(list(range(2, len(preprocessor.chars) + 2)) or [UNKNOWN_ID], tf.int32)
        self.table = tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(codes, ids), UNKNOWN_ID)
        self.labels = tf.constant(preprocessor.labels)
        self.classify = tf.function(self._classify, input_signature=[tf.TensorSpec([None], tf.string, name="text")])

    def _classify(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        codes = tf.strings.unicode_decode(text, "UTF-8", errors="replace")
        ids = tf.ragged.map_flat_values(self.table.lookup, codes)
        # An empty string is one unknown character, as in `LanguageIdentificationPreprocessor.encode`.
        empty = tf.cast(ids.row_lengths() == 0, tf.int64)
        filler = tf.RaggedTensor.from_row_lengths(tf.fill([tf.reduce_sum(empty)], UNKNOWN_ID), empty)
        ids = tf.concat([ids, filler], axis=1).to_tensor(PAD_ID)
        probabilities = tf.nn.softmax(tf.cast(self.model(ids, training=False), tf.float32))
        return {"language": tf.gather(self.labels, tf.argmax(probabilities, -1)), "probabilities": probabilities}

    def signatures(self) -> dict[str, Any]:
        return {"serving_default": self.classify}
