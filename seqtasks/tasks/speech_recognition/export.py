"""SavedModel export of a CTC speech model: waveform + sample rate in, transcript out, all in the graph.

Signatures (both load with `tf.saved_model.load` in a process that never imports seqtasks):

* `transcribe(waveform: float32 [samples], sample_rate: int32 []) -> {"transcript": string []}` — the
  waveform is resampled to the model's rate inside the graph (FFT method, `seqtasks.audio.resample`), features,
  network and CTC decoding (greedy, beam search or lexicon-constrained, as configured) follow. Also the `serving_default`.
* `transcribe_batch(waveforms: float32 [batch, samples] zero-padded, lengths: int32 [batch]) ->
  {"transcripts": string [batch]}` — waveforms already at the model's rate (`sample_rate` in the exported
  `assets/speech_model.json`, which also records the alphabet, the blank index and the decoder).

The runtime saves the module (`seqtasks.runtime.export.export_atomically`).

LiteRT / ONNX (`speech_portable`, `seqtasks export --format litert|onnx`): the converted model takes padded
waveforms at the model's rate and returns CTC logits (features, conv front end and recurrent stack inside it);
resampling and CTC decoding run in the numpy runner (`seqtasks_portable.CTCRecognizerPipeline`).

Example (no seqtasks needed)::

    import soundfile, tensorflow as tf
    model = tf.saved_model.load("runs/speech/export")
    audio, rate = soundfile.read("digits.wav", dtype="float32")
    print(model.transcribe(waveform=audio, sample_rate=rate)["transcript"].numpy().decode())
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from seqtasks.audio.resample import resample
from seqtasks.data.transcripts import Alphabet
from seqtasks.decoding.ctc import ctc_decode
from seqtasks.decoding.lexicon import Lexicon
from seqtasks.portable import PortableExport, PortableFunction
from seqtasks.runtime.export import ServingModule

INFO_FILE = "speech_model.json"


def lexicon_settings(lexicon: Lexicon | None) -> dict[str, Any]:
    """The lexicon as export settings (speech_model.json, the portable runner's export.json)."""
    return {
        "lexicon": list(lexicon.words) if lexicon else None,
        "lexicon_counts": list(lexicon.counts) if lexicon and lexicon.counts else None,
        "lexicon_lm_weight": lexicon.lm_weight if lexicon else None,
        "lexicon_word_bonus": lexicon.word_bonus if lexicon else None,
        # Phoneme models: each word's pronunciation in the alphabet's code characters (the graph is built over
        # these; the words are what it outputs).
        "lexicon_spellings": list(lexicon.spellings) if lexicon and lexicon.spellings is not None else None,
        # A bigram LM over the words: [previous, word, count] (indices into lexicon, -1: the sentence start).
        "lexicon_bigrams": [list(b) for b in lexicon.bigrams] if lexicon and lexicon.bigrams is not None else None,
        "lexicon_sentences": lexicon.sentences if lexicon and lexicon.bigrams is not None else None,
    }


class SpeechRecognitionServing(ServingModule):
    """The exported module: a trained `CTCSpeechModel` + alphabet + decoder settings.

    Args:
        model: The trained `CTCSpeechModel`.
        alphabet: Its output characters.
        decoder: `"greedy"`, `"beam"` (`eval.decoder`) or `"lexicon"` (`eval.lexicon`).
        beam_width: Beams of the beam search (`eval.beam_width`).
        lexicon: The words of lexicon decoding (with their unigram counts and weights).
    """

    def __init__(
        self, model: Any, alphabet: Alphabet, decoder: str = "greedy", beam_width: int = 8,
        lexicon: Lexicon | None = None,
    ) -> None:
        super().__init__(name="speech_transcriber")
        self.model = model
        self.characters = list(alphabet.characters)
        self.decoder = decoder
        self.beam_width = beam_width
        self.lexicon = lexicon
        self.model_sample_rate = int(model.sample_rate)
        self.sample_rate = tf.Variable(self.model_sample_rate, trainable=False, dtype=tf.int32, name="sample_rate")
        self.alphabet = tf.Variable("".join(self.characters), trainable=False, dtype=tf.string, name="alphabet")
        info = {
            "sample_rate": self.model_sample_rate, "alphabet": "".join(alphabet.characters),
            "blank_index": alphabet.blank_index, "decoder": decoder, "beam_width": beam_width,
            **lexicon_settings(lexicon),
        }
        # Written outside the run; saving the module copies it to the export's assets/speech_model.json.
        self._info_dir = tempfile.TemporaryDirectory(prefix="seqtasks-speech-export-")
        info_path = Path(self._info_dir.name) / INFO_FILE
        info_path.write_text(json.dumps(info, indent=2) + "\n", encoding="utf-8")
        self.info = tf.saved_model.Asset(str(info_path))

    def _decode(self, waveforms: tf.Tensor, lengths: tf.Tensor) -> tf.Tensor:
        out = self.model({"waveform": waveforms, "waveform_length": lengths}, training=False)
        return ctc_decode(
            out["logits"], out["logit_lengths"], self.characters, method=self.decoder, beam_width=self.beam_width,
            lexicon=self.lexicon,
        )

    @tf.function(
        input_signature=[
            tf.TensorSpec([None], tf.float32, name="waveform"),
            tf.TensorSpec([], tf.int32, name="sample_rate"),
        ]
    )
    def transcribe(self, waveform: tf.Tensor, sample_rate: tf.Tensor) -> dict[str, tf.Tensor]:
        audio = resample(waveform, sample_rate, self.model_sample_rate)
        text = self._decode(audio[None, :], tf.shape(audio)[:1])
        return {"transcript": text[0]}

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, None], tf.float32, name="waveforms"),
            tf.TensorSpec([None], tf.int32, name="lengths"),
        ]
    )
    def transcribe_batch(self, waveforms: tf.Tensor, lengths: tf.Tensor) -> dict[str, tf.Tensor]:
        return {"transcripts": self._decode(waveforms, lengths)}

    def signatures(self) -> dict[str, Any]:
        return {
            "transcribe": self.transcribe.get_concrete_function(),
            "transcribe_batch": self.transcribe_batch.get_concrete_function(),
            "serving_default": self.transcribe.get_concrete_function(),
        }


def _example_waveforms(sample_rate: int) -> tuple[np.ndarray, np.ndarray]:
    """Three zero-padded utterances of different lengths (tone sweeps in noise), for the conversion
    check."""
    rng = np.random.default_rng(0)
    lengths = np.array([sample_rate * 3 // 5, sample_rate * 9 // 20, sample_rate * 3 // 10], np.int32)
    waveforms = np.zeros((lengths.size, int(lengths.max())), np.float32)
    for row, n in enumerate(lengths):
        t = np.arange(n) / sample_rate
        sweep = np.sin(2 * np.pi * (200.0 + 400.0 * (row + 1) * t) * t)
        waveforms[row, :n] = 0.3 * sweep + 0.02 * rng.standard_normal(n)
    return waveforms, lengths


def speech_portable(
    model: Any,
    alphabet: Alphabet,
    decoder: str = "greedy",
    beam_width: int = 8,
    lexicon: Lexicon | None = None,
) -> PortableExport:
    """The LiteRT/ONNX export of a trained `CTCSpeechModel`.

    Inside the converted model: waveforms `(batch, samples)` float32 at the model's rate, zero-padded,
    and `lengths` `(batch,)` -> features (log-mel or MFCC: framing, window, RFFT, mel matrix, log,
    normalisation) -> conv front end -> bidirectional recurrent stack -> `logits`
    `(batch, frames, classes)` (blank last) and `logit_lengths`. Both converters hold the features
    (LiteRT's builtin RFFT2D; tf2onnx's RFFT as a product with DFT constants; see
    `seqtasks.audio.features`). In the runner (`seqtasks_portable.CTCRecognizerPipeline`): resampling,
    whose inverse FFT neither converter holds (LiteRT: `tf.IRFFT` is no builtin; tf2onnx: IRFFT
    unsupported), and CTC decoding, whose output is a string.

    Args:
        model: The trained `CTCSpeechModel`.
        alphabet: Its output characters.
        decoder: `"greedy"`, `"beam"` or `"lexicon"`: the decoder of the SavedModel's `transcribe`.
        beam_width: Beams of the beam search.
        lexicon: The words of lexicon decoding (with their unigram counts and weights).
    """
    rate = int(model.sample_rate)

    def serve(waveforms: tf.Tensor, lengths: tf.Tensor) -> dict[str, tf.Tensor]:
        out = model({"waveform": waveforms, "waveform_length": lengths}, training=False)
        return {
            "logits": tf.cast(out["logits"], tf.float32),
            "logit_lengths": tf.cast(out["logit_lengths"], tf.int32),
        }

    waveforms, lengths = _example_waveforms(rate)
    signature = [
        tf.TensorSpec([None, None], tf.float32, name="waveforms"),
        tf.TensorSpec([None], tf.int32, name="lengths"),
    ]
    example = {"waveforms": waveforms, "lengths": lengths}
    features = model.featurizer
    decoding = {
        "greedy": "greedy (best path)",
        "beam": f"prefix beam search, width {beam_width}, no LM (the textbook search: TensorFlow's "
        "differs on a few utterances, see seqtasks.decoding.ctc_lm)",
        "lexicon": "best path through the lexicon's words, weighted by their counts if it has any (as the SavedModel)",
    }[decoder]
    return PortableExport(
        model=model,
        pipeline="ctc_recognizer",
        functions={"serving_default": PortableFunction(serve, signature, example)},
        settings={
            "sample_rate": rate,
            "alphabet": "".join(alphabet.characters),
            "blank_index": alphabet.blank_index,
            "decoder": decoder,
            "beam_width": beam_width,
            **lexicon_settings(lexicon),
            "features": {
                "kind": features.kind, "n_fft": features.n_fft, "hop_length": features.hop_length,
                "n_mels": features.n_mels, "normalize": features.normalize,
            },
            "resample": "fft",
        },
        in_model=(
            f"waveforms (batch, samples) float32 at {rate} Hz, zero-padded, + lengths (batch,) int32 "
            f"-> {features.kind} features -> conv front end -> bidirectional {model.cell_type} stack "
            "-> logits (batch, frames, classes; blank last) + logit_lengths (batch,)"
        ),
        outside_model=[
            f"resampling to {rate} Hz (FFT method, as the SavedModel): neither converter holds its "
            "inverse FFT",
            f"CTC decoding in numpy, {decoding}: its output is a string",
        ],
    )


__all__ = ["INFO_FILE", "SpeechRecognitionServing", "speech_portable"]
