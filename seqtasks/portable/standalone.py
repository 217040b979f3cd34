"""seqtasks_portable: runs a seqtasks LiteRT or ONNX export with numpy and the format's own runtime.

This file is copied next to every converted model (`DIR/seqtasks_portable.py`) and imports neither TensorFlow nor
seqtasks: only numpy, `ai-edge-litert` (for `model.tflite`) or `onnxruntime` (for `model.onnx`), and
`sentencepiece` where the export's tokenizer is a SentencePiece model. It reads `DIR/export.json`, which says
what runs inside the model and what runs here (tokenization, label names, sampling, CTC decoding).

    import seqtasks_portable
    model = seqtasks_portable.load("DIR")           # the pipeline named in export.json
    model.session.run("serving_default", **arrays)  # the bare model: name -> array in, name -> array out
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Session", "load", "PIPELINES"]


class Session:
    """The converted model in its runtime: `run(signature, **inputs) -> {output name: array}`.

    Args:
        folder: The export folder (holding `export.json`).
        num_threads: CPU threads of the runtime (None = its default).
    """

    def __init__(self, folder: str | os.PathLike, num_threads: int | None = None):
        self.folder = Path(folder)
        self.description = json.loads((self.folder / "export.json").read_text(encoding="utf-8"))
        self.format = self.description["format"]
        self.signatures = self.description["signatures"]
        self._runners: dict[str, Any] = {}
        if self.format == "litert":
            try:
                from ai_edge_litert.interpreter import Interpreter
            except ImportError as e:
                raise ImportError("running model.tflite needs the `ai-edge-litert` package (pip install ai-edge-litert)") from e
            self._interpreter = Interpreter(model_path=str(self.folder / self.description["model"]),
                                            num_threads=num_threads)
        elif self.format == "onnx":
            try:
                import onnxruntime
            except ImportError as e:
                raise ImportError("running model.onnx needs the `onnxruntime` package (pip install onnxruntime)") from e
            options = onnxruntime.SessionOptions()
            if num_threads:
                options.intra_op_num_threads = num_threads
                options.inter_op_num_threads = 1
            for name, sig in self.signatures.items():
                self._runners[name] = onnxruntime.InferenceSession(
                    str(self.folder / sig["file"]), options, providers=["CPUExecutionProvider"])
        else:
            raise ValueError(f"{self.folder / 'export.json'}: unknown format {self.format!r} (expected litert or onnx)")

    def run(self, signature: str = "serving_default", **inputs: Any) -> dict[str, np.ndarray]:
        """Runs one signature; inputs are cast to the dtypes of export.json, outputs come back by name."""
        if signature not in self.signatures:
            raise KeyError(f"no signature {signature!r} in this export (it has {sorted(self.signatures)})")
        sig = self.signatures[signature]
        expected = [spec["name"] for spec in sig["inputs"]]
        if sorted(inputs) != sorted(expected):
            raise ValueError(f"signature {signature!r} takes inputs {expected}, got {sorted(inputs)}")
        arrays = {spec["name"]: np.ascontiguousarray(inputs[spec["name"]], dtype=spec["dtype"]) for spec in sig["inputs"]}
        if self.format == "litert":
            if signature not in self._runners:
                self._runners[signature] = self._interpreter.get_signature_runner(signature)
            out = self._runners[signature](**arrays)
            return {name: np.asarray(out[name]) for name in sig["outputs"]}
        session = self._runners[signature]
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, arrays)
        by_name = dict(zip(names, values, strict=True))
        return {name: np.asarray(by_name[name]) for name in sig["outputs"]}


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


class Pipeline:
    """Base of the pipelines: holds the session, the export description and its settings."""

    def __init__(self, session: Session):
        self.session = session
        self.settings = session.description.get("settings", {})
        self.assets = session.folder / "assets"


class MemoryPipeline(Pipeline):
    """The memory task: `predict(sequence (batch, T, features))` -> sums (adding) or recalled symbols (copy)."""

    def predict(self, sequence: np.ndarray) -> np.ndarray:
        out = self.session.run("serving_default", sequence=np.asarray(sequence, np.float32))
        if self.settings["problem"] == "adding":
            return out["sum"]
        return out["logits"][:, -self.settings["copy_length"]:].argmax(-1).astype(np.int32)


PIPELINES: dict[str, type[Pipeline]] = {"memory": MemoryPipeline}


def load(folder: str | os.PathLike, num_threads: int | None = None) -> Pipeline:
    """The pipeline of the export in `folder` (named by export.json's `pipeline`)."""
    session = Session(folder, num_threads)
    kind = session.description["pipeline"]
    if kind not in PIPELINES:
        raise ValueError(f"{Path(folder) / 'export.json'}: unknown pipeline {kind!r} (known: {sorted(PIPELINES)})")
    return PIPELINES[kind](session)
