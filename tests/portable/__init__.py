"""Tests of the LiteRT/ONNX exports and their numpy runners."""


def runner_script(body: str, blocked: tuple[str, ...] = ()) -> str:
    """A Python program for `python -c` that loads an export's own runner (`seqtasks_portable.py` in the folder
    `sys.argv[1]`) as `runner`, with TensorFlow, Keras, tf2onnx, seqtasks and `blocked` unimportable, binds the
    loaded model to `model` (and `folder`, `np`, `json`, `sys`), then runs `body`."""
    names = ("tensorflow", "keras", "seqtasks", "tf2onnx", *blocked)
    return f"""
import importlib.util, json, sys
for name in {names!r}:
    sys.modules[name] = None
import numpy as np
folder = sys.argv[1]
spec = importlib.util.spec_from_file_location("seqtasks_portable", folder + "/seqtasks_portable.py")
runner = importlib.util.module_from_spec(spec)
spec.loader.exec_module(runner)
model = runner.load(folder)
{body}"""
