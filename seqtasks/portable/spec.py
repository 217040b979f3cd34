"""What a task exports to LiteRT/ONNX: plain numeric functions of its model plus what runs around them.

A converted model holds numbers in and numbers out. Whatever a format cannot hold (string tokenization, label
names, sampling, CTC decoding) stays outside it, in the runner `seqtasks_portable.py` written next to the model,
which reads `export.json` (written from `PortableExport.description`) and the files under `assets/`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

FORMATS = ("saved_model", "litert", "onnx")
QUANTIZATIONS = ("none", "float16", "dynamic_int8")


@dataclass
class PortableFunction:
    """One signature of the converted model.

    Args:
        function: A Python function of the model (traced afresh for each converter, with `training=False` inside)
            returning a dict of named tensors. Output names must differ from input names (tf2onnx).
        input_signature: Its named `tf.TensorSpec`s (batch and time may be None).
        example: Inputs (name -> array) the export runs through TensorFlow and through the converted model to
            check the conversion; use sizes other than 1 where the signature is dynamic.
    """

    function: Callable[..., dict[str, tf.Tensor]]
    input_signature: list[tf.TensorSpec]
    example: dict[str, np.ndarray]

    def input_specs(self) -> list[tf.TensorSpec]:
        return list(self.input_signature)


@dataclass
class PortableExport:
    """A task's LiteRT/ONNX export.

    Args:
        model: The Keras model whose variables the functions read (tracked for the conversion).
        pipeline: Which runner pipeline of `seqtasks_portable.py` drives the model: `"classifier"`,
            `"char_generator"`, `"translator"`, `"ctc_recognizer"` or `"memory"`.
        functions: Signature name -> function; `"serving_default"` is the main one (ONNX: `model.onnx`; others
            `<name>.onnx`).
        settings: JSON-able values the pipeline needs (alphabet, label names, special ids, sample rate, ...).
        assets: File name -> bytes, written under `assets/` (e.g. the SentencePiece model).
        in_model: One line: what runs inside the converted model.
        outside_model: The steps that run in the runner instead, each one line saying why.
    """

    model: keras.Model
    pipeline: str
    functions: dict[str, PortableFunction]
    settings: dict[str, Any] = field(default_factory=dict)
    assets: dict[str, bytes] = field(default_factory=dict)
    in_model: str = ""
    outside_model: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if "serving_default" not in self.functions:
            raise ValueError("A PortableExport needs a 'serving_default' function.")
        for name, fn in self.functions.items():
            inputs = {spec.name for spec in fn.input_specs()}
            if None in inputs:
                raise ValueError(f"Every input of portable function {name!r} needs a name.")
            if set(fn.example) != inputs:
                raise ValueError(f"The example of portable function {name!r} must give exactly {sorted(inputs)}.")


def sentencepiece_settings(spm_model: bytes) -> dict[str, Any]:
    """What the runner's `SentencePieceIds` needs to know about a sentencepiece model besides what
    the `sentencepiece` package tells it, for ids equal to tensorflow-text's.

    Args:
        spm_model: The serialized sentencepiece model.

    Returns:
        `{"model_type": "unigram" | "bpe" | ..., "byte_fallback": bool, "user_defined_ids": [int]}`.
    """
    from sentencepiece import sentencepiece_model_pb2 as pb

    proto = pb.ModelProto()
    proto.ParseFromString(spm_model)
    model_type = pb.TrainerSpec.ModelType.Name(proto.trainer_spec.model_type).lower()
    user_defined = [i for i, piece in enumerate(proto.pieces)
                    if piece.type == pb.ModelProto.SentencePiece.USER_DEFINED]
    return {"model_type": model_type, "byte_fallback": bool(proto.trainer_spec.byte_fallback),
            "user_defined_ids": user_defined}


__all__ = [
    "FORMATS", "QUANTIZATIONS", "PortableExport", "PortableFunction", "sentencepiece_settings",
]
