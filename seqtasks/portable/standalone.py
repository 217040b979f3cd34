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


# "Impossible" in the lexicon decoder's log space (finite: sums never turn into NaN).
_CTC_NEG = -1e30


def _ctc_log_softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def resample_fft(waveform: np.ndarray, orig_sample_rate: int, sample_rate: int) -> np.ndarray:
    """FFT-method resampling (`scipy.signal.resample`), as the SavedModel's `transcribe` does in its
    graph: the spectrum is cut or zero-extended to `round(n * sample_rate / orig_sample_rate)`
    samples."""
    waveform = np.asarray(waveform, np.float32).reshape(-1)
    if orig_sample_rate <= 0:
        raise ValueError(f"sample_rate must be a positive number of Hz, got {orig_sample_rate}")
    n = waveform.size
    if orig_sample_rate == sample_rate or n == 0:
        return waveform
    m = int(np.round(n * (sample_rate / orig_sample_rate)))
    spectrum = np.fft.rfft(waveform.astype(np.float64), n)
    keep = min(spectrum.size, m // 2 + 1)
    spectrum = spectrum[:keep].copy()
    # An even shorter length's Nyquist bin stands for both signs of its frequency (split / folded).
    shorter = min(n, m)
    if shorter % 2 == 0 and shorter // 2 < keep:
        spectrum[shorter // 2] *= 2.0 if m < n else 0.5
    spectrum = np.pad(spectrum, (0, m // 2 + 1 - keep))
    return (np.fft.irfft(spectrum, m) * (m / n)).astype(np.float32)


def ctc_greedy(logits: np.ndarray, blank: int) -> list[int]:
    """Best path: arg-max class per frame, repeats merged, blanks dropped (as TensorFlow's
    `ctc_greedy_decoder`)."""
    best = np.asarray(logits).argmax(-1)
    changed = np.concatenate([[True], best[1:] != best[:-1]]) if best.size else np.zeros(0, bool)
    return [int(c) for c in best[changed & (best != blank)]]


def ctc_prefix_beam(logits: np.ndarray, blank: int, beam_width: int) -> list[int]:
    """Textbook CTC prefix beam search without a language model, every class expanded."""
    log_probs = _ctc_log_softmax(np.asarray(logits, np.float64))
    # prefix -> (log p(frames so far, ending in blank), log p(..., ending in its last class))
    beams: dict[tuple[int, ...], tuple[float, float]] = {(): (0.0, -np.inf)}
    classes = [c for c in range(log_probs.shape[-1]) if c != blank]
    for frame in log_probs:
        grown: dict[tuple[int, ...], list[float]] = {}
        for prefix, (p_b, p_nb) in beams.items():
            total = np.logaddexp(p_b, p_nb)
            same = grown.setdefault(prefix, [-np.inf, -np.inf])
            same[0] = np.logaddexp(same[0], total + frame[blank])
            if prefix:  # the last class repeated without a blank collapses into the same prefix
                same[1] = np.logaddexp(same[1], p_nb + frame[prefix[-1]])
            for c in classes:
                # Writing the last class again needs a blank in between.
                source = p_b if prefix and prefix[-1] == c else total
                longer = grown.setdefault(prefix + (c,), [-np.inf, -np.inf])
                longer[1] = np.logaddexp(longer[1], source + frame[c])
        ranked = sorted(grown.items(), key=lambda item: -np.logaddexp(*item[1]))[:beam_width]
        beams = {prefix: (p[0], p[1]) for prefix, p in ranked}
    return list(max(beams.items(), key=lambda item: np.logaddexp(*item[1]))[0])


class CTCLexiconDecoder:
    """The best CTC path spelling only `words` joined by `separator`: the numpy twin of the
    SavedModel's in-graph lexicon decoder (states: each word's blank-interleaved characters and one
    separator state; Viterbi, ties to the lowest state as in TensorFlow's arg-max)."""

    def __init__(self, words: list[list[int]], separator: int, blank: int):
        labels: list[int] = []
        starts: list[int] = []
        ends: list[int] = []
        moves: list[tuple[int, int]] = []
        for word in dict.fromkeys(tuple(w) for w in words):
            base = len(labels)
            for c in word:
                labels += [blank, c]
            labels.append(blank)
            size = 2 * len(word) + 1
            for s in range(size):
                moves.append((base + s, base + s))
                if s + 1 < size:
                    moves.append((base + s, base + s + 1))
                if s % 2 == 1 and s + 2 < size and labels[base + s] != labels[base + s + 2]:
                    moves.append((base + s, base + s + 2))
            starts += [base, base + 1]
            ends += [base + size - 2, base + size - 1]
        sep = len(labels)
        labels.append(separator)
        moves += [(sep, sep)] + [(e, sep) for e in ends] + [(sep, s) for s in starts]
        self.labels = np.array(labels, np.int64)
        self.transition = np.full((len(labels), len(labels)), _CTC_NEG, np.float32)  # [from, to]
        self.transition[tuple(np.array(moves).T)] = 0.0
        self.start = np.full(len(labels), _CTC_NEG, np.float32)
        self.start[starts] = 0.0
        self.final = np.full(len(labels), _CTC_NEG, np.float32)
        self.final[ends] = 0.0
        self.writes = self.labels != blank

    def __call__(self, logits: np.ndarray) -> list[int]:
        if len(logits) == 0:
            return []
        emit = _ctc_log_softmax(np.asarray(logits, np.float32))[:, self.labels]
        delta = emit[0] + self.start
        columns = np.arange(len(self.labels))
        pointers = []
        for t in range(1, len(emit)):
            scores = delta[:, None] + self.transition
            previous = scores.argmax(0)
            pointers.append(previous)
            delta = scores[previous, columns] + emit[t]
        final = delta + self.final
        if final.max() <= _CTC_NEG / 2:  # too few frames to spell any word
            return []
        path = [int(final.argmax())]
        for previous in reversed(pointers):
            path.append(int(previous[path[-1]]))
        path = np.array(path[::-1])
        changed = np.concatenate([[True], path[1:] != path[:-1]])
        return [int(c) for c in self.labels[path[changed & self.writes[path]]]]


class CTCRecognizerPipeline(Pipeline):
    """Speech recognition: waveform at any sample rate -> transcript.

    The converted model holds the features (log-mel or MFCC), the conv front end, the bidirectional
    recurrent stack and the output layer: `serving_default(waveforms float32 (batch, samples)
    zero-padded at settings["sample_rate"], lengths int32 (batch,)) -> logits (batch, frames,
    classes; blank last), logit_lengths (batch,)`. Here: resampling to the model's rate (FFT method,
    as the SavedModel's `transcribe`) and CTC decoding as export.json's `settings.decoder` says:
    `greedy`, `beam` (prefix beam search without an LM) or `lexicon` (the best path through
    `settings.lexicon`'s words), the decoders of the SavedModel.

    Methods (stable; the benchmark calls them):
        transcribe(waveform (samples,), sample_rate) -> str     (the SavedModel's `transcribe`)
        transcribe_batch([waveform, ...], sample_rate) -> [str, ...]
        logits_batch([waveform, ...], sample_rate) -> [logits (frames, classes) float32, ...]
        decode(logits (frames, classes)) -> str

    `transcribe`, `transcribe_batch` and `decode` take `decoder="greedy" | "beam" | "lexicon"` to
    override the configured decoder.
    """

    def __init__(self, session: Session, batch_size: int = 16):
        super().__init__(session)
        self.sample_rate = int(self.settings["sample_rate"])
        self.alphabet = self.settings["alphabet"]
        self.blank = int(self.settings["blank_index"])
        self.decoder = self.settings["decoder"]
        self.beam_width = int(self.settings["beam_width"])
        self.batch_size = batch_size
        self._lexicon = None
        if self.settings.get("lexicon"):
            index = {c: i for i, c in enumerate(self.alphabet)}
            words = [[index[c] for c in word] for word in self.settings["lexicon"]]
            self._lexicon = CTCLexiconDecoder(words, index[" "], self.blank)

    def logits_batch(self, waveforms: list[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        """Each waveform's logits `(frames, classes)` (its own frames), run in padded batches."""
        audio = [resample_fft(w, int(sample_rate), self.sample_rate) for w in waveforms]
        out: list[np.ndarray] = [np.zeros((0, 0), np.float32)] * len(audio)
        order = sorted(range(len(audio)), key=lambda i: audio[i].size)  # little padding per batch
        for start in range(0, len(order), self.batch_size):
            chunk = order[start:start + self.batch_size]
            lengths = np.array([audio[i].size for i in chunk], np.int32)
            padded = np.zeros((len(chunk), max(1, int(lengths.max()))), np.float32)
            for row, i in enumerate(chunk):
                padded[row, :lengths[row]] = audio[i]
            result = self.session.run("serving_default", waveforms=padded, lengths=lengths)
            for row, i in enumerate(chunk):
                out[i] = result["logits"][row, :int(result["logit_lengths"][row])]
        return out

    def decode(self, logits: np.ndarray, decoder: str | None = None) -> str:
        """The transcript of one utterance's logits `(frames, classes)`."""
        method = decoder or self.decoder
        if method == "greedy":
            ids = ctc_greedy(logits, self.blank)
        elif method == "beam":
            ids = ctc_prefix_beam(logits, self.blank, self.beam_width)
        elif method == "lexicon":
            if self._lexicon is None:
                raise ValueError("this export has no lexicon (settings.lexicon); "
                                 "use decoder='greedy' or 'beam'")
            ids = self._lexicon(logits)
        else:
            raise ValueError(f"unknown decoder {method!r} (expected 'greedy', 'beam' or 'lexicon')")
        return "".join(self.alphabet[i] for i in ids)

    def transcribe_batch(self, waveforms: list[np.ndarray], sample_rate: int,
                         decoder: str | None = None) -> list[str]:
        """Transcripts of waveforms at `sample_rate` (resampled to the model's rate here)."""
        return [self.decode(x, decoder) for x in self.logits_batch(waveforms, sample_rate)]

    def transcribe(self, waveform: np.ndarray, sample_rate: int, decoder: str | None = None) -> str:
        """The transcript of one waveform `(samples,)` at `sample_rate`."""
        return self.transcribe_batch([waveform], sample_rate, decoder)[0]


PIPELINES: dict[str, type[Pipeline]] = {
    "memory": MemoryPipeline,
    "ctc_recognizer": CTCRecognizerPipeline,
}


def load(folder: str | os.PathLike, num_threads: int | None = None) -> Pipeline:
    """The pipeline of the export in `folder` (named by export.json's `pipeline`)."""
    session = Session(folder, num_threads)
    kind = session.description["pipeline"]
    if kind not in PIPELINES:
        raise ValueError(f"{Path(folder) / 'export.json'}: unknown pipeline {kind!r} (known: {sorted(PIPELINES)})")
    return PIPELINES[kind](session)
