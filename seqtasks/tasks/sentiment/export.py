"""The SavedModel of a sentiment classifier: raw strings in, probabilities and labels out.

The exported graph holds the whole path: `clean_text_tf` -> tensorflow-text `SentencepieceTokenizer` (the
run's model, embedded in the SavedModel) -> truncation -> padding -> the Keras model -> softmax. It loads
with `tf.saved_model.load` in a process that imports only `tensorflow` and `tensorflow_text`:

    import tensorflow as tf, tensorflow_text  # noqa: F401  (registers the sentencepiece ops)
    served = tf.saved_model.load("RUN/export")
    out = served.signatures["serving_default"](text=tf.constant(["A wonderful film."]))
    out["label"], out["probability"], out["probabilities"], served.class_names.numpy()
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import tensorflow as tf

from seqtasks.runtime.export import ServingModule
from seqtasks.tasks.sentiment.data import PAD_ID
from seqtasks.tasks.sentiment.preprocessor import SentimentTokenizer


class SentimentServing(ServingModule):
    """The exported module, with the `serving_default` signature (`text` -> `probabilities`, `label_id`,
    `label`, `probability`).

    Args:
        model: the classifier (token ids -> logits).
        tokenizer: the run's `SentimentTokenizer` (`SentimentPreprocessor.tokenizer`).
        class_names: the class names in class-id order.
    """

    def __init__(self, model: keras.Model, tokenizer: SentimentTokenizer, class_names: Sequence[str]):
        super().__init__(name="sentiment_serving")
        self.model = model
        self.preprocessor = tokenizer
        self.class_names = tf.Variable([str(c) for c in class_names], trainable=False, name="class_names")

    def token_ids(self, text: tf.Tensor) -> tf.Tensor:
        ids = self.preprocessor(text).to_tensor(default_value=PAD_ID)
        # At least one (masked) step, so a batch of empty texts still runs through the recurrent loop.
        return tf.pad(ids, [[0, 0], [0, tf.maximum(1 - tf.shape(ids)[1], 0)]], constant_values=PAD_ID)

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="text")], autograph=False)
    def serve(self, text: tf.Tensor) -> dict[str, tf.Tensor]:
        logits = self.model(self.token_ids(text), training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        return {
            "probabilities": probabilities,
            "label_id": label_id,
            "label": tf.gather(self.class_names, label_id),
            "probability": tf.reduce_max(probabilities, axis=-1),
        }

    def signatures(self) -> dict[str, Any]:
        return {"serving_default": self.serve}


__all__ = ["SentimentServing"]
