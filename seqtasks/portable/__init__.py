"""LiteRT (TFLite) and ONNX exports: what a task hands over (`spec`), the conversion and its check in the target
runtime (`convert`), and the numpy-only runner copied next to every converted model (`standalone`)."""

from seqtasks.portable.spec import (
    FORMATS,
    QUANTIZATIONS,
    PortableExport,
    PortableFunction,
    sentencepiece_settings,
)

__all__ = [
    "FORMATS", "QUANTIZATIONS", "PortableExport", "PortableFunction", "sentencepiece_settings",
]
