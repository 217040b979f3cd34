"""SavedModel export of a CTC speech model: waveform + sample rate in, transcript out, all in the graph.

Signatures (both load with `tf.saved_model.load` in a process that never imports seqtasks):

* `transcribe(waveform: float32 [samples], sample_rate: int32 []) -> {"transcript": string []}` — the
  waveform is resampled to the model's rate inside the graph (FFT method, `seqtasks.audio.resample`), features,
  network and CTC decoding (greedy or beam search, as configured) follow.
* `transcribe_batch(waveforms: float32 [batch, samples] zero-padded, lengths: int32 [batch]) ->
  {"transcripts": string [batch]}` — waveforms already at the model's rate (`sample_rate` in the exported
  `assets/speech_model.json`).

Example (no seqtasks needed)::

    import soundfile, tensorflow as tf
    model = tf.saved_model.load("runs/speech/export")
    audio, rate = soundfile.read("digits.wav", dtype="float32")
    print(model.transcribe(waveform=audio, sample_rate=rate)["transcript"].numpy().decode())
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import tensorflow as tf

from seqtasks.audio.resample import resample
from seqtasks.decoding.ctc import ctc_decode
from seqtasks.tasks.speech_recognition.data import Alphabet


class SpeechTranscriber(tf.Module):
    """The exported module: a trained `CTCSpeechModel` + alphabet + decoder settings."""

    def __init__(self, model, alphabet: Alphabet, decoder: str = "greedy", beam_width: int = 8):
        super().__init__(name="speech_transcriber")
        self.model = model
        self.characters = list(alphabet.characters)
        self.decoder = decoder
        self.beam_width = beam_width
        self.model_sample_rate = int(model.sample_rate)
        self.sample_rate = tf.Variable(self.model_sample_rate, trainable=False, dtype=tf.int32, name="sample_rate")
        self.alphabet = tf.Variable("".join(self.characters), trainable=False, dtype=tf.string, name="alphabet")

    def _decode(self, waveforms, lengths):
        out = self.model({"waveform": waveforms, "waveform_length": lengths}, training=False)
        return ctc_decode(
            out["logits"], out["logit_lengths"], self.characters, method=self.decoder, beam_width=self.beam_width
        )

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="waveform"),
            tf.TensorSpec([], tf.int32, name="sample_rate"),
        ]
    )
    def transcribe(self, waveform, sample_rate):
        audio = resample(waveform, sample_rate, self.model_sample_rate)
        text = self._decode(audio[None, :], tf.shape(audio)[:1])
        return {"transcript": text[0]}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.float32, name="waveforms"),
            tf.TensorSpec([None], tf.int32, name="lengths"),
        ]
    )
    def transcribe_batch(self, waveforms, lengths):
        return {"transcripts": self._decode(waveforms, lengths)}


def export_transcriber(
    model, alphabet: Alphabet, export_dir: str | os.PathLike, decoder: str = "greedy", beam_width: int = 8
) -> Path:
    """Writes the SavedModel (see the module docstring) and `assets/speech_model.json` to `export_dir`."""
    export_dir = Path(export_dir)
    module = SpeechTranscriber(model, alphabet, decoder, beam_width)
    signatures = {
        "transcribe": module.transcribe.get_concrete_function(),
        "transcribe_batch": module.transcribe_batch.get_concrete_function(),
        "serving_default": module.transcribe.get_concrete_function(),
    }
    tf.saved_model.save(module, str(export_dir), signatures=signatures)
    info = {
        "sample_rate": module.model_sample_rate, "alphabet": "".join(alphabet.characters),
        "blank_index": alphabet.blank_index, "decoder": decoder, "beam_width": beam_width,
    }
    (export_dir / "assets").mkdir(parents=True, exist_ok=True)
    (export_dir / "assets" / "speech_model.json").write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
    return export_dir
