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
import numpy as np
import tensorflow as tf

from seqtasks.portable import PortableExport, PortableFunction, sentencepiece_settings
from seqtasks.runtime.export import ServingModule
from seqtasks.tasks.sentiment.data import PAD_ID
from seqtasks.tasks.sentiment.preprocessor import SPM_ASSET, SentimentTokenizer


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


def sentiment_portable(
    model: keras.Model,
    spm_model: bytes,
    class_names: Sequence[str],
    max_length: int,
    truncate: str,
    clean: bool,
) -> PortableExport:
    """The LiteRT/ONNX export: padded token ids in, logits and probabilities out.

    Inside the model: embedding (id 0 = padding, masked) -> recurrent encoder -> pooling ->
    classifier -> softmax. In the runner (`seqtasks_portable.ClassifierPipeline`): the cleaning of
    `clean_text_tf`, sentencepiece (the model file is the asset `spm.model`), truncation, padding
    and the label names; neither format has string or sentencepiece ops among its builtins.

    Args:
        model: The classifier (token ids -> logits).
        spm_model: The run's serialized sentencepiece model.
        class_names: The class names in class-id order.
        max_length: The run's `data.max_length`.
        truncate: The run's `data.truncate`.
        clean: The run's `data.clean_html`.
    """

    def serve(token_ids: tf.Tensor) -> dict[str, tf.Tensor]:
        logits = tf.cast(model(token_ids, training=False), tf.float32)
        return {"logits": logits, "probabilities": tf.nn.softmax(logits, axis=-1)}

    vocab_size = int(model.get_layer("embedding").input_dim)
    rng = np.random.default_rng(0)
    # Rows of different lengths (the last one padding after one step), as the runner batches them.
    example = rng.integers(1, vocab_size, (3, 7)).astype(np.int32)
    example[1, 4:] = PAD_ID
    example[2, 1:] = PAD_ID
    spec = tf.TensorSpec([None, None], tf.int32, name="token_ids")
    return PortableExport(
        model=model,
        pipeline="classifier",
        functions={"serving_default": PortableFunction(serve, [spec], {"token_ids": example})},
        settings={
            "class_names": [str(c) for c in class_names],
            "max_length": int(max_length),
            "truncate": truncate,
            "clean_html": bool(clean),
            "pad_id": PAD_ID,
            "tokenizer": {"file": SPM_ASSET, **sentencepiece_settings(spm_model)},
        },
        assets={SPM_ASSET: bytes(spm_model)},
        in_model="token_ids (batch, T) int32, 0 = padding, T >= 1 -> logits, probabilities",
        outside_model=[
            "text cleaning (<br /> and ASCII whitespace runs -> one space): no string ops",
            "sentencepiece tokenization (assets/spm.model): no sentencepiece builtin op",
            "truncation to max_length and padding with id 0: on the token lists",
            "label names: strings stay outside the model",
        ],
    )


__all__ = ["SentimentServing", "sentiment_portable"]
