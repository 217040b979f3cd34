"""Converting a task's `PortableExport` to LiteRT or ONNX, and checking the result in the format's own runtime.

LiteRT: Keras' `ExportArchive` (every signature, weights tracked) -> `tf.lite.TFLiteConverter.from_saved_model`
with builtin ops only, because `ai-edge-litert`'s interpreter has no Flex delegate (a model needing
`SELECT_TF_OPS` converts and then cannot run). ONNX: `tf2onnx.convert.from_function` at opset 17 (tf2onnx 1.17
accepts at most 18), one file per signature. Both trace the functions inside `portable_tracing(format)`.

Every conversion is then run through `seqtasks_portable.Session` on the task's examples and compared with
TensorFlow: a float32 model must agree to `FLOAT32_TOLERANCE` (relative to the output's scale) and integer outputs
exactly, or the export fails; a quantized one records its differences in `export.json` (`verification`).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from seqtasks.errors import ConfigError
from seqtasks.layers.tracing import portable_tracing
from seqtasks.portable import standalone
from seqtasks.portable.spec import QUANTIZATIONS, PortableExport, PortableFunction

ONNX_OPSET = 17
FLOAT32_TOLERANCE = 1e-4
RUNNER = "seqtasks_portable.py"
# Entries a converted export folder holds (what `seqtasks.runtime.export` may replace).
ENTRIES = frozenset({"model.tflite", "export.json", "assets", RUNNER})


def _require(module: str, package: str) -> Any:
    try:
        return __import__(module, fromlist=["_"])
    except ImportError:
        raise ConfigError(
            f"this export format needs the `{package}` package, which is not installed; "
            "pip install 'seqtasks[export]'"
        ) from None


def _traced(fn: PortableFunction) -> Any:
    return tf.function(fn.function, input_signature=fn.input_specs(), autograph=False)


def to_litert(export: PortableExport, quantize: str) -> bytes:
    """The `.tflite` flatbuffer holding every signature of `export` (builtin ops only)."""
    from keras.export import ExportArchive

    with portable_tracing("litert"), tempfile.TemporaryDirectory(prefix="seqtasks-litert-") as tmp:
        archive = ExportArchive()
        archive.track(export.model)
        for name, fn in export.functions.items():
            archive.add_endpoint(name, _traced(fn))
        archive.write_out(tmp, verbose=False)
        converter = tf.lite.TFLiteConverter.from_saved_model(tmp, signature_keys=list(export.functions))
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
        if quantize != "none":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
        if quantize == "float16":
            converter.target_spec.supported_types = [tf.float16]
        try:
            return converter.convert()
        except Exception as e:  # the converter's own error names the op that has no builtin kernel
            first = next((line.strip() for line in str(e).splitlines() if "error:" in line), str(e).splitlines()[0])
            raise ConfigError(f"LiteRT conversion failed (builtin ops only): {first}") from None


def to_onnx(export: PortableExport, quantize: str) -> dict[str, bytes]:
    """Signature name -> serialized ONNX model (opset `ONNX_OPSET`)."""
    tf2onnx = _require("tf2onnx", "tf2onnx")
    out = {}
    with portable_tracing("onnx"):
        for name, fn in export.functions.items():
            proto, _ = tf2onnx.convert.from_function(_traced(fn), input_signature=fn.input_specs(), opset=ONNX_OPSET)
            out[name] = _quantize_onnx(proto, quantize)
    return out


def _quantize_onnx(proto: Any, quantize: str) -> bytes:
    if quantize == "none":
        return proto.SerializeToString()
    if quantize == "float16":
        return _float16_weights(proto).SerializeToString()
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(prefix="seqtasks-onnx-") as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        src.write_bytes(proto.SerializeToString())
        quantize_dynamic(str(src), str(dst), weight_type=QuantType.QInt8)
        return dst.read_bytes()


def _float16_weights(proto: Any, min_elements: int = 1024) -> Any:
    """Stores the float32 weights of at least `min_elements` values as float16, each cast back to float32 where
    the graph reads it: half the weight bytes, float32 arithmetic. (onnxconverter-common's full float16
    conversion, `convert_float_to_float16`, breaks the recurrent `Loop` bodies: "Node input 'Cast__643:0' is not
    a graph input".)"""
    from onnx import helper, numpy_helper

    graph = proto.graph
    casts = []
    for init in graph.initializer:
        if init.data_type != 1:  # FLOAT
            continue
        value = numpy_helper.to_array(init)
        if value.size < min_elements:
            continue
        name = init.name
        init.CopyFrom(numpy_helper.from_array(value.astype(np.float16), name=f"{name}__float16"))
        casts.append(helper.make_node("Cast", [f"{name}__float16"], [name], to=1, name=f"{name}__to_float32"))
    nodes = list(graph.node)
    del graph.node[:]
    graph.node.extend(casts + nodes)
    return proto


def onnx_file(signature: str) -> str:
    return "model.onnx" if signature == "serving_default" else f"{signature}.onnx"


def _spec_json(spec: tf.TensorSpec) -> dict[str, Any]:
    return {"name": spec.name, "dtype": spec.dtype.as_numpy_dtype().dtype.name, "shape": spec.shape.as_list()}


def _output_json(traced: Any, references: dict[str, np.ndarray]) -> list[dict[str, Any]]:
    """Each output's name, dtype (of TensorFlow's reference output) and shape: TensorFlow's static
    shape of the traced signature, None on the axes that depend on the inputs' dynamic sizes."""
    structured = traced.get_concrete_function().structured_outputs
    out = []
    for key in sorted(references):
        ref = references[key]
        static = structured[key].shape
        shape = static.as_list() if static.rank is not None else [None] * ref.ndim
        out.append({"name": key, "dtype": ref.dtype.name, "shape": shape})
    return out


def write_portable(export: PortableExport, folder: Path, fmt: str, quantize: str, task_name: str) -> dict[str, Any]:
    """Converts `export` into `folder` (which must not exist): the model file(s), `assets/`, the runner and
    `export.json`; then checks the converted model against TensorFlow. Returns the export.json description."""
    if fmt not in ("litert", "onnx"):
        raise ValueError(f"Received an invalid value for argument `fmt`, expected 'litert' or 'onnx', got {fmt!r}.")
    if quantize not in QUANTIZATIONS:
        raise ValueError(f"Received an invalid value for argument `quantize`, expected one of {QUANTIZATIONS}, got {quantize!r}.")
    if fmt == "litert":
        _require("ai_edge_litert.interpreter", "ai-edge-litert")
    else:
        _require("onnxruntime", "onnxruntime")
    traced = {name: _traced(fn) for name, fn in export.functions.items()}
    references = {name: {k: v.numpy() for k, v in traced[name](**fn.example).items()}
                  for name, fn in export.functions.items()}
    folder.mkdir(parents=True)
    signatures = {}
    for name, fn in export.functions.items():
        signatures[name] = {"inputs": [_spec_json(s) for s in fn.input_specs()],
                            "outputs": _output_json(traced[name], references[name])}
    if fmt == "litert":
        (folder / "model.tflite").write_bytes(to_litert(export, quantize))
        model_file = "model.tflite"
    else:
        for name, blob in to_onnx(export, quantize).items():
            (folder / onnx_file(name)).write_bytes(blob)
            signatures[name]["file"] = onnx_file(name)
        model_file = "model.onnx"
    if export.assets:
        (folder / "assets").mkdir()
        for file_name, blob in export.assets.items():
            (folder / "assets" / file_name).write_bytes(blob)
    shutil.copyfile(standalone.__file__, folder / RUNNER)
    description = {
        "format": fmt,
        "quantize": quantize,
        "task": task_name,
        "pipeline": export.pipeline,
        "model": model_file,
        "runner": RUNNER,
        "in_model": export.in_model,
        "outside_model": export.outside_model,
        "signatures": signatures,
        "assets": sorted(export.assets),
        "settings": export.settings,
    }
    (folder / "export.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    description["verification"] = verify(folder, export, references, quantize)
    (folder / "export.json").write_text(json.dumps(description, indent=2) + "\n", encoding="utf-8")
    return description


def verify(folder: Path, export: PortableExport, references: dict[str, dict[str, np.ndarray]],
           quantize: str) -> dict[str, Any]:
    """Runs the converted model on the examples; raises ConfigError when a float32 conversion disagrees."""
    session = standalone.Session(folder)
    report: dict[str, Any] = {"tolerance": FLOAT32_TOLERANCE if quantize == "none" else None, "outputs": {}}
    problems = []
    for name, fn in export.functions.items():
        got = session.run(name, **fn.example)
        for key, ref in references[name].items():
            value = got[key]
            where = f"{name}/{key}"
            if value.shape != ref.shape:
                problems.append(f"{where}: shape {value.shape} instead of {ref.shape}")
                continue
            if np.issubdtype(ref.dtype, np.floating):
                if not np.all(np.isfinite(value) == np.isfinite(ref)):
                    problems.append(f"{where}: non-finite values where TensorFlow has none")
                    continue
                finite = np.isfinite(ref)
                diff = float(np.max(np.abs(value[finite] - ref[finite]), initial=0.0))
                scale = float(np.max(np.abs(ref[finite]), initial=0.0))
                report["outputs"][where] = {"max_abs_diff": diff, "scale": scale}
                if quantize == "none" and diff > FLOAT32_TOLERANCE * max(1.0, scale):
                    problems.append(f"{where}: differs from TensorFlow by {diff:.3g} (scale {scale:.3g})")
            else:
                agreement = float(np.mean(value == ref)) if ref.size else 1.0
                report["outputs"][where] = {"agreement": agreement}
                if quantize == "none" and agreement < 1.0:
                    problems.append(f"{where}: {agreement:.1%} of the values equal TensorFlow's")
    if problems:
        raise ConfigError(f"the {session.format} model does not compute what the TensorFlow model does: {problems[0]}")
    return report


__all__ = ["ENTRIES", "ONNX_OPSET", "onnx_file", "to_litert", "to_onnx", "verify", "write_portable"]
