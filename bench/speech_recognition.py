"""Speech recognition inference speed: real-time factor (RTF) of the exported `transcribe` SavedModel on CPU.

RTF = seconds of computation / seconds of audio, one utterance per call (as a service transcribing requests
would run it); the target is RTF <= 0.05. The baseline, timed in the same process on the same utterances, is the
in-process path (`SpeechRecognitionTask.transcribe`: the Keras model + the same CTC decoder in a tf.function).

The model is the default config (`recipes/configs/speech_recognition.yaml`) with fresh weights (speed does not
depend on the weights), or a trained run's model with `--run RUN`. Utterances are FSDD connected digits from the
test recordings when FSDD is found (`--data-dir` / $SEQTASKS_DATA_DIR, `fsdd/recordings`), else noise of the
same lengths.

    python bench/speech_recognition.py
    python bench/speech_recognition.py --data-dir ../shared/data --utterances 50
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import seqtasks  # noqa: F401, E402 - before TensorFlow: keeps its start-up notices quiet

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

from seqtasks.config import load_config  # noqa: E402
from seqtasks.data.fsdd import DIGIT_WORDS  # noqa: E402
from seqtasks.errors import DataError  # noqa: E402
from seqtasks.runtime import RunDir, load_trained  # noqa: E402
from seqtasks.runtime.export import save_serving_module  # noqa: E402
from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig  # noqa: E402
from seqtasks.tasks.speech_recognition.preprocessor import SpeechRecognitionPreprocessor  # noqa: E402
from seqtasks.tasks.speech_recognition.task import SpeechRecognitionTask  # noqa: E402

CONFIG = Path(__file__).resolve().parents[1] / "recipes" / "configs" / "speech_recognition.yaml"


def _utterances(task: SpeechRecognitionTask, count: int) -> list[np.ndarray]:
    try:
        task._read_sources()
        digits = task._digits("test", count, seed=7)
        return [digits[i].audio for i in range(count)]
    except DataError:
        rng = np.random.default_rng(0)
        rate = task.sample_rate
        return [0.05 * rng.standard_normal(int(rate * s)).astype(np.float32) for s in rng.uniform(0.8, 5.0, count)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="a trained run directory (default: fresh default-config model)")
    parser.add_argument("--data-dir", help="local folder with fsdd/recordings (else $SEQTASKS_DATA_DIR)")
    parser.add_argument("--utterances", type=int, default=30)
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-speech-"))
    if args.run:
        task, model = load_trained(args.run)
    else:
        config = load_config(SpeechRecognitionConfig, [CONFIG])
        config.data.data_dir = args.data_dir or ""
        task = SpeechRecognitionTask(config, RunDir.at(tmp / "run"))
        task.preprocessor = SpeechRecognitionPreprocessor.build(config, [" ".join(DIGIT_WORDS)])
        model = task.build_model()
    if args.data_dir:
        task.config.data.data_dir = args.data_dir
    waves = _utterances(task, args.utterances)
    audio_seconds = sum(w.size for w in waves) / task.sample_rate
    exported = tf.saved_model.load(str(save_serving_module(task.serving_module(model), tmp / "export")))
    rate = tf.constant(task.sample_rate, tf.int32)

    def run_exported():
        return [exported.transcribe(waveform=tf.constant(w), sample_rate=rate)["transcript"] for w in waves]

    def run_in_process():
        return [task.transcribe(model, [w])[0] for w in waves]

    timings = {}
    for name, fn in (("exported transcribe", run_exported), ("in-process (Keras)", run_in_process)):
        fn()  # warm-up: traces every shape bucket once
        start = time.perf_counter()
        fn()
        timings[name] = time.perf_counter() - start
    print(f"{len(waves)} utterances, {audio_seconds:.1f} s of audio at {task.sample_rate} Hz, decoder "
          f"{task.config.eval.decoder} (beam {task.config.eval.beam_width}), one utterance per call")
    for name, seconds in timings.items():
        print(f"{name:>22}: RTF {seconds / audio_seconds:.4f} ({audio_seconds / seconds:.1f}x real time)")
    ratio = timings["in-process (Keras)"] / timings["exported transcribe"]
    rtf = timings["exported transcribe"] / audio_seconds
    print(f"exported vs in-process speed: {ratio:.2f}x; target RTF <= 0.05: {'met' if rtf <= 0.05 else 'NOT met'}")


if __name__ == "__main__":
    main()
