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
import math
import os
import re
import unicodedata
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["Session", "load", "PIPELINES"]


def _sentencepiece(purpose: str) -> Any:
    """The `sentencepiece` module (>= 0.2: its processors `normalize`), or one clear error."""
    try:
        import sentencepiece
    except ImportError as e:
        raise ImportError(f"{purpose} needs the `sentencepiece` package "
                          "(pip install 'sentencepiece>=0.2')") from e
    if not hasattr(sentencepiece.SentencePieceProcessor, "normalize"):
        version = getattr(sentencepiece, "__version__", "< 0.2")
        raise ImportError(f"{purpose} needs sentencepiece >= 0.2 (installed: {version}); "
                          "pip install -U sentencepiece")
    return sentencepiece


def _export_folder(path: str | os.PathLike) -> Path:
    """The export folder of `path`: the folder, or the folder of its export.json or model file."""
    path = Path(path)
    if path.is_file() and (path.name == "export.json" or path.suffix in (".tflite", ".onnx")):
        path = path.parent
    if not path.exists():
        raise FileNotFoundError(f"{path}: no such export folder")
    if not path.is_dir():
        raise ValueError(f"{path} is not an export folder (give the folder holding export.json)")
    if not (path / "export.json").is_file():
        if (path / "saved_model.pb").is_file():
            raise ValueError(f"{path} is a SavedModel, not a LiteRT/ONNX export: load it with "
                             "tf.saved_model.load (or export with --format litert|onnx)")
        raise FileNotFoundError(f"{path} holds no export.json: not a LiteRT/ONNX export folder")
    return path


def _output_names(outputs: list[Any]) -> list[str]:
    """Output names of an export.json signature (entries `{"name", "dtype", "shape"}` or names)."""
    return [o["name"] if isinstance(o, dict) else o for o in outputs]


def _positive_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


class Session:
    """The converted model in its runtime: `run(signature, **inputs) -> {output name: array}`.

    Args:
        folder: The export folder (holding `export.json`); its `export.json` or model file works
            too.
        num_threads: CPU threads of the runtime (None = its default).

    Raises:
        FileNotFoundError: When the folder, its export.json, the model file(s) or an asset listed
            in export.json is missing.
        ValueError: When the path is a SavedModel or export.json names an unknown format.
        ImportError: When the format's runtime is not installed.
    """

    def __init__(self, folder: str | os.PathLike, num_threads: int | None = None):
        self.folder = _export_folder(folder)
        where = self.folder / "export.json"
        try:
            self.description = json.loads(where.read_text(encoding="utf-8"))
        except ValueError as e:
            raise ValueError(f"{where} is not valid JSON ({e})") from None
        missing = [k for k in ("format", "pipeline", "model", "signatures")
                   if k not in self.description]
        if missing:
            raise ValueError(f"{where} lacks {', '.join(missing)}: not a complete seqtasks export")
        self.format = self.description["format"]
        self.signatures = self.description["signatures"]
        if self.format not in ("litert", "onnx"):
            raise ValueError(f"{where}: unknown format {self.format!r} (expected litert or onnx)")
        if num_threads is not None:
            num_threads = _positive_int("num_threads", num_threads)
        files = [self.description["model"]]
        if self.format == "onnx":
            files += [sig["file"] for sig in self.signatures.values()]
        files += [f"assets/{name}" for name in self.description.get("assets", [])]
        for name in dict.fromkeys(files):
            if not (self.folder / name).is_file():
                raise FileNotFoundError(f"{name} is missing from the export folder {self.folder} "
                                        "(export.json lists it)")
        self._runners: dict[str, Any] = {}
        if self.format == "litert":
            try:
                from ai_edge_litert.interpreter import Interpreter
            except ImportError as e:
                raise ImportError("running model.tflite needs the `ai-edge-litert` package "
                                  "(pip install ai-edge-litert)") from e
            self._interpreter = Interpreter(model_path=str(self.folder / self.description["model"]),
                                            num_threads=num_threads)
        else:
            try:
                import onnxruntime
            except ImportError as e:
                raise ImportError("running model.onnx needs the `onnxruntime` package "
                                  "(pip install onnxruntime)") from e
            options = onnxruntime.SessionOptions()
            if num_threads:
                options.intra_op_num_threads = num_threads
                options.inter_op_num_threads = 1
            for name, sig in self.signatures.items():
                self._runners[name] = onnxruntime.InferenceSession(
                    str(self.folder / sig["file"]), options, providers=["CPUExecutionProvider"])

    def run(self, signature: str = "serving_default", **inputs: Any) -> dict[str, np.ndarray]:
        """Runs one signature of the converted model.

        Args:
            signature: The signature's name (export.json's `signatures`).
            **inputs: Input name -> array; each is cast to the dtype export.json gives it.

        Returns:
            Output name -> numpy array, for every output export.json lists.

        Raises:
            KeyError: When the export has no such signature.
            ValueError: When the input names are not exactly the signature's, or an input's
                shape does not fit the one export.json gives.
        """
        if signature not in self.signatures:
            raise KeyError(f"no signature {signature!r} in this export "
                           f"(it has {sorted(self.signatures)})")
        sig = self.signatures[signature]
        expected = [spec["name"] for spec in sig["inputs"]]
        if sorted(inputs) != sorted(expected):
            raise ValueError(f"signature {signature!r} takes inputs {expected}, got {sorted(inputs)}")
        arrays = {spec["name"]: np.ascontiguousarray(inputs[spec["name"]], dtype=spec["dtype"])
                  for spec in sig["inputs"]}
        for spec in sig["inputs"]:
            shape, got = spec.get("shape"), arrays[spec["name"]].shape
            if shape is not None and (len(got) != len(shape) or any(
                    want is not None and want != n for want, n in zip(shape, got, strict=True))):
                wanted = "(" + ", ".join("any" if d is None else str(d) for d in shape) + ")"
                raise ValueError(f"input {spec['name']!r} of signature {signature!r} must have "
                                 f"shape {wanted}, got {got}")
        outputs = _output_names(sig["outputs"])
        if self.format == "litert":
            if signature not in self._runners:
                self._runners[signature] = self._interpreter.get_signature_runner(signature)
            out = self._runners[signature](**arrays)
            return {name: np.asarray(out[name]) for name in outputs}
        session = self._runners[signature]
        names = [o.name for o in session.get_outputs()]
        values = session.run(names, arrays)
        by_name = dict(zip(names, values, strict=True))
        return {name: np.asarray(by_name[name]) for name in outputs}


def softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax along `axis` (shifted by the maximum, so large logits do not overflow)."""
    z = logits - logits.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def log_softmax(logits: np.ndarray, axis: int = -1) -> np.ndarray:
    """Log-softmax along `axis`, in the dtype of `logits` (shifted by the maximum)."""
    z = logits - logits.max(axis=axis, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=axis, keepdims=True))


class Pipeline:
    """Base of the pipelines: holds the session, the export description and its settings."""

    def __init__(self, session: Session):
        self.session = session
        self.settings = session.description.get("settings", {})
        self.assets = session.folder / "assets"


class MemoryPipeline(Pipeline):
    """The memory task: `predict(sequence (batch, T, features))` -> sums (adding) or recalled symbols (copy)."""

    def predict(self, sequence: np.ndarray) -> np.ndarray:
        """Runs the model on a batch of sequences.

        Args:
            sequence: Float array `(batch, T, features)`.

        Returns:
            Adding: the sums `(batch,)` float32. Copy: the recalled symbols
            `(batch, copy_length)` int32.

        Raises:
            ValueError: in one line, for a sequence that is not `(batch, T, features)` with the
                model's number of features, or is shorter than the task needs (adding: 1 step;
                copy: `copy_length` steps), instead of a runtime error from deep inside the model.
        """
        x = np.asarray(sequence, np.float32)
        features = self.settings.get("num_features")
        shortest = self.settings["copy_length"] if self.settings["problem"] == "copy" else 1
        if x.ndim != 3 or (features is not None and x.shape[2] != int(features)):
            raise ValueError(f"sequence must be (batch, T, {features if features is not None else 'features'}), "
                             f"got shape {x.shape}")
        if x.shape[1] < shortest:
            raise ValueError(f"sequence must have at least {shortest} step(s) for the {self.settings['problem']} "
                             f"problem, got T={x.shape[1]}")
        out = self.session.run("serving_default", sequence=x)
        if self.settings["problem"] == "adding":
            return out["sum"]
        return out["logits"][:, -self.settings["copy_length"]:].argmax(-1).astype(np.int32)


class TranslatorPipeline(Pipeline):
    """The translation task: `translate(texts, max_length=None, beam_width=1) -> list[str]`.

    Mirrors the SavedModel's `translate_greedy` (`beam_width=1`) and `translate` (`beam_width` =
    the run's `eval.beam_size`, settings["beam_size"]) signatures: the same text normalisation (NFC,
    ASCII whitespace stripped, the run's punctuation-space policy), the run's sentencepiece models
    (`assets/source.model` tokenized by `SentencePieceIds`, so the ids equal tensorflow-text's;
    `assets/target.model` decoded by the `sentencepiece` package), sources truncated to
    `max_source_length` tokens, and the same greedy and beam search (GNMT length penalty, finished
    hypotheses kept with a frozen score) over the model's `decode_step` signature; the encoder is
    the `serving_default` signature. Any positive `beam_width` works; widths other than the run's
    have no SavedModel counterpart to compare with.

    `max_length=None` limits each output to `ceil(max_length_a * source_tokens + max_length_b)`
    tokens (at most `max_length_limit`), as the SavedModel does; an integer limits every output to
    that many tokens. Sentences are translated in batches of `batch_size`, sorted by length;
    results come back in input order.
    """

    _ASCII_SPACE = " \t\n\v\f\r"  # what TensorFlow's `tf.strings.strip` removes (Python's strip() removes more)
    _NEG = np.float32(-1e9)
    # TranslationServing.normalize's RE2 patterns, which mean the same in Python's `re`.
    _SPACE_BEFORE = re.compile("[ \u00a0\u202f\u2009]+([!?:;»])")
    _SPACE_AFTER = re.compile("«[ \u00a0\u202f\u2009]+")

    def __init__(self, session: Session):
        super().__init__(session)
        sentencepiece = _sentencepiece("the translator")
        s = self.settings
        tok = s.get("source_tokenizer", {"file": s["source_model"]})
        self.source_tokenizer = SentencePieceIds(
            self.assets / tok["file"], tok.get("model_type", "unigram"),
            tok.get("byte_fallback", False), tok.get("user_defined_ids", ()))
        self.source_sp = self.source_tokenizer.processor
        self.target_sp = sentencepiece.SentencePieceProcessor(
            model_file=str(self.assets / s["target_model"]))
        self.batch_size = _positive_int("settings.batch_size", s.get("batch_size", 64))
        self.pad_id, self.bos_id, self.eos_id = int(s["pad_id"]), int(s["bos_id"]), int(s["eos_id"])

    def normalize(self, text: str) -> str:
        """The SavedModel's input normalisation of one sentence.

        Args:
            text: One raw source sentence.

        Returns:
            The sentence in NFC, ASCII whitespace stripped, punctuation spaces as the run's policy.
        """
        text = unicodedata.normalize("NFC", text).strip(self._ASCII_SPACE)
        policy = self.settings["punctuation_spaces"]
        if policy != "keep":
            space = "\u202f" if policy == "narrow_nbsp" else " "
            text = self._SPACE_BEFORE.sub(space + r"\1", text)
            text = self._SPACE_AFTER.sub("«" + space, text)
        return text

    def source_ids(self, texts: list[str]) -> np.ndarray:
        """The source ids the model reads, equal to the SavedModel's tokenizer's.

        Args:
            texts: Raw source sentences.

        Returns:
            Zero-padded int32 ids `(len(texts), S)`, at least one column, each row truncated to
            `max_source_length`.
        """
        limit = self.settings["max_source_length"]
        rows = [self.source_tokenizer.encode(self.normalize(t))[:limit] for t in texts]
        ids = np.zeros((len(rows), max([1, *map(len, rows)])), np.int32)
        for i, row in enumerate(rows):
            ids[i, : len(row)] = row
        return ids

    def max_lengths(self, source_ids: np.ndarray, max_length: int | None = None) -> np.ndarray:
        """Output tokens allowed per sentence (the end token excluded).

        Args:
            source_ids: Zero-padded source ids `(batch, S)`.
            max_length: None for the run's rule `ceil(a * source_tokens + b)` (at most
                `max_length_limit`), or one positive limit for every sentence.

        Returns:
            int64 limits `(batch,)`.

        Raises:
            ValueError: When `max_length` is neither None nor a positive integer.
        """
        if max_length is not None:
            if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
                raise ValueError(f"max_length must be a positive integer or None, got {max_length!r}")
            return np.full(len(source_ids), max_length, np.int64)
        s = self.settings
        lengths = (source_ids != self.pad_id).sum(axis=1).astype(np.float32)
        limit = np.ceil(np.float32(s["max_length_a"]) * lengths + np.float32(s["max_length_b"]))
        return np.minimum(np.maximum(limit, 1.0).astype(np.int64), s["max_length_limit"])

    def translate(self, texts: list[str], max_length: int | None = None,
                  beam_width: int = 1) -> list[str]:
        """Translations of raw source sentences.

        Args:
            texts: Raw source sentences (a list; not one string).
            max_length: Output token limit (None: the run's length rule; see `max_lengths`).
            beam_width: 1 for greedy search (the SavedModel's `translate_greedy`), else beam search
                of that width (`settings["beam_size"]`: the SavedModel's `translate`).

        Returns:
            One translation per sentence, in input order.

        Raises:
            TypeError: When `texts` is one string.
            ValueError: When `beam_width` or `max_length` is not a positive integer.
        """
        ids, _ = self.translate_ids(texts, max_length, beam_width)
        return [self.target_sp.decode(row) for row in ids]

    def translate_ids(self, texts: list[str], max_length: int | None = None,
                      beam_width: int = 1) -> tuple[list[list[int]], np.ndarray]:
        """Target ids and scores of each sentence's translation (arguments as `translate`).

        Returns:
            The target ids of each translation (end token excluded) and float32 scores `(n,)`: the
            log-probability over the length penalty (greedy: the log-probability).
        """
        if isinstance(beam_width, bool) or not isinstance(beam_width, int) or beam_width < 1:
            raise ValueError("beam_width must be a positive integer (1 = greedy search), "
                             f"got {beam_width!r}")
        if isinstance(texts, (str, bytes)):
            raise TypeError("translate takes a list of sentences, not one string")
        texts = [_text(t, "source sentence") for t in texts]
        ids = self.source_ids(texts)
        out: list[list[int]] = [[] for _ in texts]
        scores = np.zeros(len(texts), np.float32)
        order = np.argsort((ids != self.pad_id).sum(axis=1), kind="stable")
        size = self.batch_size
        for start in range(0, len(order), size):
            rows = order[start : start + size]
            batch = ids[rows]
            batch = batch[:, : max(1, int((batch != self.pad_id).sum(axis=1).max()))]
            limits = self.max_lengths(batch, max_length)
            if beam_width == 1:
                tokens, batch_scores = self._greedy(batch, limits)
            else:
                tokens, batch_scores = self._beam(batch, limits, beam_width)
            for i, row in enumerate(rows):
                out[row] = tokens[i]
                scores[row] = batch_scores[i]
        return out, scores

    def _encode(self, source_ids: np.ndarray) -> dict[str, np.ndarray]:
        return self.session.run("serving_default", source_ids=source_ids)

    def _step(self, tokens: np.ndarray, state: np.ndarray, enc: dict[str, np.ndarray],
              source_ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        out = self.session.run("decode_step", tokens=tokens, state=state, memory=enc["memory"],
                               keys=enc["keys"], source_ids=source_ids)
        return out["log_probs"].astype(np.float32), out["new_state"]

    def _prepare(self, log_probs: np.ndarray, force_end: np.ndarray) -> np.ndarray:
        """No padding ever; only the end token once a hypothesis reaches its maximum length."""
        log_probs = log_probs.copy()
        log_probs[:, self.pad_id] = self._NEG
        forced = log_probs[force_end]
        forced[:, np.arange(log_probs.shape[1]) != self.eos_id] = self._NEG
        log_probs[force_end] = forced
        return log_probs

    def _greedy(self, source_ids: np.ndarray,
                max_lengths: np.ndarray) -> tuple[list[list[int]], np.ndarray]:
        enc = self._encode(source_ids)
        state = enc["state"]
        n = len(source_ids)
        tokens = np.full(n, self.bos_id, np.int32)
        log_prob = np.zeros(n, np.float32)
        out: list[list[int]] = [[] for _ in range(n)]
        live = np.arange(n)  # rows still decoding; finished rows no longer need the model
        t = 0
        while t <= max_lengths.max() and live.size:
            sub = {k: v[live] for k, v in enc.items() if k != "state"}
            log_probs, state = self._step(tokens[live], state, sub, source_ids[live])
            log_probs = self._prepare(log_probs, t >= max_lengths[live])
            chosen = log_probs.argmax(axis=-1).astype(np.int32)
            log_prob[live] += log_probs[np.arange(live.size), chosen]
            tokens[live] = chosen
            for row, token in zip(live, chosen, strict=True):
                if token != self.eos_id:
                    out[row].append(int(token))
            ended = chosen == self.eos_id
            live, state = live[~ended], state[~ended]
            t += 1
        return out, log_prob

    def _penalty(self, lengths: np.ndarray) -> np.ndarray:
        alpha = np.float32(self.settings["length_penalty"])
        return np.power((np.float32(5.0) + lengths.astype(np.float32)) / np.float32(6.0), alpha)

    def _normalise(self, log_probs: np.ndarray, lengths: np.ndarray) -> np.ndarray:
        if self.settings["length_penalty"] == 0:
            return log_probs
        return (log_probs / self._penalty(lengths)).astype(np.float32)

    def _beam(self, source_ids: np.ndarray, max_lengths: np.ndarray,
              k: int) -> tuple[list[list[int]], np.ndarray]:
        """Beam search exactly as the SavedModel's (seqtasks.decoding.search.beam_search), in float32."""
        enc = self._encode(source_ids)
        b = len(source_ids)
        tiled = {name: np.repeat(v, k, axis=0) for name, v in enc.items()}
        state = tiled.pop("state")
        tiled_ids = np.repeat(source_ids, k, axis=0)
        tokens = np.full(b * k, self.bos_id, np.int32)
        finished = np.zeros((b, k), bool)
        sequences = np.zeros((b, k, 0), np.int32)
        log_sum = np.tile(np.array([0.0] + [self._NEG] * (k - 1), np.float32), (b, 1))
        lengths = np.zeros((b, k), np.int64)
        beam_max = np.repeat(max_lengths, k)
        best_penalty = self._penalty(max_lengths + 1)[:, None]
        offsets = np.arange(b)[:, None] * k
        neg2 = np.float32(2) * self._NEG
        t = 0
        while t <= max_lengths.max():
            best_finished = np.where(finished, self._normalise(log_sum, lengths), neg2).max(axis=1)
            alive_bound = np.where(finished, neg2, (log_sum / best_penalty).astype(np.float32)).max(axis=1)
            if np.all(best_finished >= alive_bound):
                break
            log_probs, state = self._step(tokens, state, tiled, tiled_ids)
            log_probs = self._prepare(log_probs, t >= beam_max)
            vocab = log_probs.shape[-1]
            log_probs = log_probs.reshape(b, k, vocab)
            alive = log_sum[:, :, None] + log_probs
            is_pad = (np.arange(vocab) == self.pad_id)[None, None, :]
            ended = np.where(is_pad, log_sum[:, :, None], self._NEG).astype(np.float32)
            candidates = np.where(finished[:, :, None], ended, alive)
            candidate_lengths = np.where(finished, lengths, lengths + 1)
            ranking = self._normalise(candidates, candidate_lengths[:, :, None]).reshape(b, k * vocab)
            # tf.math.top_k puts the lower index first among equal values; a stable sort does too.
            flat = np.argsort(-ranking, axis=1, kind="stable")[:, :k]
            beam, next_tokens = flat // vocab, (flat % vocab).astype(np.int32)
            log_sum = np.take_along_axis(candidates.reshape(b, k * vocab), flat, axis=1)
            lengths = np.take_along_axis(candidate_lengths, beam, axis=1)
            finished = np.take_along_axis(finished, beam, axis=1) | (next_tokens == self.eos_id)
            sequences = np.concatenate([np.take_along_axis(sequences, beam[:, :, None], axis=1),
                                        next_tokens[:, :, None]], axis=2)
            state = state[(beam + offsets).reshape(-1)]
            tokens = next_tokens.reshape(-1)
            t += 1
        ranking = np.where(finished, self._normalise(log_sum, lengths), neg2)
        best = ranking.argmax(axis=1)
        rows = np.arange(b)
        scores = self._normalise(log_sum[rows, best], lengths[rows, best])
        out = [[int(i) for i in sequences[r, best[r]] if i not in (self.eos_id, self.pad_id)]
               for r in rows]
        return out, np.asarray(scores, np.float32)


# "Impossible" in the lexicon decoder's log space (finite: sums never turn into NaN).
_CTC_NEG = -1e30


def resample_fft(waveform: np.ndarray, orig_sample_rate: int, sample_rate: int) -> np.ndarray:
    """FFT-method resampling (`scipy.signal.resample`), as the SavedModel's `transcribe` does in its
    graph: the spectrum is cut or zero-extended to `round(n * sample_rate / orig_sample_rate)`
    samples."""
    waveform = np.asarray(waveform, np.float32)
    if waveform.ndim != 1:
        raise ValueError(f"resample_fft takes a 1-D waveform, got shape {waveform.shape}")
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
    log_probs = log_softmax(np.asarray(logits, np.float64))
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
    """The best CTC path spelling only `words` joined by `separator`, optionally weighted by unigram
    `counts`: the numpy twin of the SavedModel's in-graph lexicon decoder (a prefix tree of the words:
    per prefix a character state and a blank after it, plus the blank before a word and the
    separator; Viterbi over the sparse moves, ties to the lowest move and state as in the graph).
    Calling it gives the best path's labels; `words` gives the indices of the words on it: with
    `homophones` (a lexicon spelt in phonemes) words spelt alike are different words, each scored by
    its own count, and with `bigrams` (`(previous, word, count)`, previous -1: the sentence start) each
    word end adds the bigram LM's `lm_weight * (log P(w | h) - log P(w))` (absolute discounting,
    `BIGRAM_DISCOUNT`), `h` the previous word of the best path into the state."""

    BIGRAM_DISCOUNT = 0.7

    def __init__(self, words: list[list[int]], separator: int, blank: int,
                 counts: list[float] | None = None, lm_weight: float = 1.0, word_bonus: float = 0.0,
                 homophones: bool = False, bigrams: list | None = None, sentences: float = 0.0):
        children: list[dict[int, int]] = [{}]
        labels, parents, word_count = [-1], [-1], [0.0]
        node_word: dict[int, int] = {}
        node_words: dict[int, list[int]] = {}
        for k, word in enumerate(words):
            node = 0
            for c in word:
                child = children[node].get(c)
                if child is None:
                    child = len(labels)
                    children[node][c] = child
                    children.append({})
                    labels.append(int(c))
                    parents.append(node)
                    word_count.append(0.0)
                node = child
            count = 1.0 if counts is None else float(counts[k])
            word_count[node] += count
            best = node_word.get(node)
            if best is None or (counts is not None and count > float(counts[best])):
                node_word[node] = k
            node_words.setdefault(node, []).append(k)
        is_word = np.array(word_count) > 0
        if counts is None:
            log_mass = np.zeros(len(labels))
            log_end = np.zeros(len(labels))
        else:
            mass = np.array(word_count)
            for node in range(len(labels) - 1, 0, -1):
                mass[parents[node]] += mass[node]
            log_mass = np.log(mass / mass[0])
            with np.errstate(divide="ignore"):
                log_end = np.log(np.array(word_count) / mass[0])
        mass_total = float(sum(word_count))
        weight = float(lm_weight) if counts is not None else 0.0
        states = 2 * len(labels)  # 0: blank before a word, 1: separator, 2n / 2n+1: prefix n, blank
        moves: list[tuple[int, int, float]] = [(0, 0, 0.0), (1, 1, 0.0), (1, 0, 0.0)]
        ends: list[int] = [-1, -1, -1]
        self.start = np.full(states, _CTC_NEG, np.float32)
        self.final = np.full(states, _CTC_NEG, np.float32)
        self.start[0] = 0.0
        for node in range(1, len(labels)):
            parent = parents[node]
            enter = weight * (log_mass[node] - log_mass[parent])
            if parent == 0:
                enter += word_bonus
                moves += [(0, 2 * node, enter), (1, 2 * node, enter)]
                self.start[2 * node] = enter
            else:
                moves.append((2 * parent + 1, 2 * node, enter))
                if labels[parent] != labels[node]:
                    moves.append((2 * parent, 2 * node, enter))
            moves += [(2 * node, 2 * node, 0.0), (2 * node, 2 * node + 1, 0.0),
                      (2 * node + 1, 2 * node + 1, 0.0)]
            ends += [-1] * (len(moves) - len(ends))
            if is_word[node]:
                end = weight * (log_end[node] - log_mass[node])
                for k in node_words[node] if homophones else [node_word[node]]:
                    own = end
                    if homophones and len(node_words[node]) > 1 and counts is not None:
                        own = weight * (math.log(float(counts[k]) / mass_total) - log_mass[node])
                    moves += [(2 * node, 1, own), (2 * node + 1, 1, own)]
                    ends += [k, k]
                    best = max(float(self.final[2 * node]), own)
                    self.final[2 * node] = self.final[2 * node + 1] = best
        sources, targets, weights = (np.array(x) for x in zip(*moves, strict=True))
        order = np.argsort(targets, kind="stable")
        self.sources = sources[order].astype(np.int64)
        self.weights = weights[order].astype(np.float32)
        self.move_words = np.asarray(ends, np.int64)[order]
        self.offsets = np.searchsorted(targets[order], np.arange(states + 1))
        self.labels = np.full(states, blank, np.int64)
        self.labels[1] = separator
        self.labels[2::2] = labels[1:]
        self.writes = self.labels != blank
        self.lm_weight = float(lm_weight)
        self.num_words = len(words)
        self.bigrams = None
        if bigrams:
            self.bigrams = self._bigram_tables(counts, bigrams, sentences)

    def _bigram_tables(self, counts: list[float], bigrams: list, sentences: float
                       ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Sorted keys `(h + 1) * words + w` of the counted pairs, their `log P(w|h) - log P(w)`,
        and `log alpha(h)` per history (as seqtasks.decoding.lexicon.bigram_tables)."""
        if counts is None or not sentences > 0:
            raise ValueError("word pairs (settings.lexicon_bigrams) need word counts and a positive "
                             "settings.lexicon_sentences")
        counts = np.asarray(counts, np.float64)
        size = counts.size
        unigram = counts / counts.sum()
        pairs = np.asarray([(h, w) for h, w, _ in bigrams], np.int64).reshape(-1, 2)
        pair_counts = np.asarray([c for _, _, c in bigrams], np.float64)
        rows = pairs[:, 0] + 1
        history = np.maximum(np.concatenate([[float(sentences)], counts]),
                             np.bincount(rows, pair_counts, size + 1))
        kept = np.maximum(pair_counts - self.BIGRAM_DISCOUNT, 0.0) / history[rows]
        alpha = np.maximum(1.0 - np.bincount(rows, kept, size + 1), 1e-12)
        probability = kept + alpha[rows] * unigram[pairs[:, 1]]
        keys = rows * size + pairs[:, 1]
        order = np.argsort(keys, kind="stable")
        corrections = (np.log(probability) - np.log(unigram[pairs[:, 1]]))[order]
        return keys[order], corrections.astype(np.float32), np.log(alpha).astype(np.float32)

    def _path(self, logits: np.ndarray) -> np.ndarray | None:
        """The best path's state per frame, or None when no path spells words."""
        if len(logits) == 0:
            return None
        emit = log_softmax(np.asarray(logits, np.float32))[:, self.labels]
        deltas = [emit[0] + self.start]
        for t in range(1, len(emit)):
            scores = deltas[-1][self.sources] + self.weights
            deltas.append(np.maximum.reduceat(scores, self.offsets[:-1]) + emit[t])
        final = deltas[-1] + self.final
        if final.max() <= _CTC_NEG / 2:  # too few frames to spell any word
            return None
        path = [int(final.argmax())]
        for delta in reversed(deltas[:-1]):
            a, b = self.offsets[path[-1]], self.offsets[path[-1] + 1]
            scores = delta[self.sources[a:b]] + self.weights[a:b]
            path.append(int(self.sources[a + int(scores.argmax())]))
        return np.array(path[::-1])

    def __call__(self, logits: np.ndarray) -> list[int]:
        path = self._path(logits)
        if path is None:
            return []
        changed = np.concatenate([[True], path[1:] != path[:-1]])
        return [int(c) for c in self.labels[path[changed & self.writes[path]]]]

    def _into_separator(self, delta: np.ndarray, hist: np.ndarray) -> tuple[float, int]:
        a, b = self.offsets[1], self.offsets[2]
        sources, words = self.sources[a:b], self.move_words[a:b]
        scores = delta[sources] + self.weights[a:b]
        if self.bigrams is not None:
            keys, corrections, backoff = self.bigrams
            h = hist[sources]
            query = (h + 1) * self.num_words + np.maximum(words, 0)
            position = np.minimum(np.searchsorted(keys, query), keys.size - 1)
            value = np.where(keys[position] == query, corrections[position], backoff[h + 1])
            scores = scores + np.where(words >= 0, np.float32(self.lm_weight) * value, np.float32(0.0))
        move = int(scores.argmax())
        return float(scores[move]), a + move

    def words(self, logits: np.ndarray) -> list[int]:
        """The words of the best path (indices into `words`), each state carrying the previous word
        of the best path into it for the bigram LM (as the graph's `decode_text`)."""
        if len(logits) == 0:
            return []
        emit = log_softmax(np.asarray(logits, np.float32))[:, self.labels]
        states = self.labels.size
        rows = self.offsets[1:] - self.offsets[:-1]
        delta = emit[0] + self.start
        hist = np.full(states, -1, np.int64)
        pointers, ended = [], []
        for t in range(1, len(emit)):
            scores = delta[self.sources] + self.weights
            scores[self.offsets[1]:self.offsets[2]] = _CTC_NEG  # the separator is scored below
            best = np.maximum.reduceat(scores, self.offsets[:-1])
            # The first best move of each state (ties to the lowest move, as the graph).
            hits = scores >= np.repeat(best, rows)
            first = np.minimum.reduceat(np.where(hits, np.arange(scores.size), scores.size), self.offsets[:-1])
            previous = self.sources[first]
            carried = hist[previous]
            score, move = self._into_separator(delta, hist)
            word = int(self.move_words[move])
            best[1], previous[1] = score, self.sources[move]
            carried[1] = word if word >= 0 else hist[1]
            pointers.append(previous)
            ended.append(word)
            delta, hist = (best + emit[t]).astype(np.float32), carried
        delta = delta.copy()
        delta[1] = _CTC_NEG
        score, move = self._into_separator(delta, hist)
        if score <= _CTC_NEG / 2:
            return []
        out, state = [int(self.move_words[move])], int(self.sources[move])
        for t in range(len(emit) - 1, 0, -1):
            previous = int(pointers[t - 1][state])
            if state == 1 and previous != 1:
                out.append(ended[t - 1])
            state = previous
        return out[::-1]


def _sample_rate(value: Any) -> int:
    """`value` as a positive whole number of Hz, or one clear error."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"sample_rate must be a positive whole number of Hz, got {value!r}")
    if not (math.isfinite(float(value)) and float(value) == int(value) and value > 0):
        raise ValueError(f"sample_rate must be a positive whole number of Hz, got {value!r}")
    return int(value)


def _mono_float(waveform: Any) -> np.ndarray:
    """One waveform as float32 `(samples,)`: int16 / int32 PCM scaled to [-1, 1], `(samples,
    channels)` (channels <= 8, more samples than channels) averaged to mono."""
    if isinstance(waveform, (str, bytes, os.PathLike)):
        raise TypeError(f"a waveform is an array of samples, got {type(waveform).__name__} "
                        f"{waveform!r} (read the file first, e.g. with soundfile)")
    x = np.asarray(waveform)
    if x.dtype == np.int16:
        x = x.astype(np.float32) / np.float32(32768.0)
    elif x.dtype == np.int32:
        x = (x.astype(np.float64) / 2.0**31).astype(np.float32)
    elif x.dtype.kind in "iub":
        raise ValueError(f"integer waveforms must be int16 or int32 PCM, got {x.dtype}; "
                         "pass float32 samples in [-1, 1]")
    elif x.dtype.kind != "f":
        raise TypeError(f"a waveform is an array of numbers, got dtype {x.dtype}")
    if x.ndim == 2 and x.shape[1] <= 8 and x.shape[0] > x.shape[1]:
        x = x.astype(np.float64).mean(axis=1)
    elif x.ndim != 1:
        raise ValueError(f"a waveform is 1-D (samples,) or (samples, channels <= 8), "
                         f"got shape {x.shape}")
    return np.asarray(x, np.float32)


class CTCRecognizerPipeline(Pipeline):
    """Speech recognition: waveform at any sample rate -> transcript.

    The converted model holds the features (log-mel or MFCC), the conv front end, the bidirectional
    recurrent stack and the output layer: `serving_default(waveforms float32 (batch, samples)
    zero-padded at settings["sample_rate"], lengths int32 (batch,)) -> logits (batch, frames,
    classes; blank last), logit_lengths (batch,)`. Here: resampling to the model's rate (FFT method,
    as the SavedModel's `transcribe`) and CTC decoding as export.json's `settings.decoder` says:
    `greedy`, `beam` (prefix beam search without an LM) or `lexicon` (the best path through
    `settings.lexicon`'s words, weighted by `settings.lexicon_counts` if given), the decoders of the
    SavedModel.

    Waveforms: float samples in [-1, 1] (what the SavedModel takes), shape `(samples,)`; int16 and
    int32 PCM arrays are scaled to [-1, 1] here (divided by 32768 and 2**31), and a
    `(samples, channels)` array with at most 8 channels and more samples than channels (as
    soundfile reads a stereo file) is averaged to mono. Any other shape raises ValueError.

    Methods (stable; the benchmark calls them):
        transcribe(waveform (samples,), sample_rate) -> str     (the SavedModel's `transcribe`)
        transcribe_batch([waveform, ...], sample_rate) -> [str, ...]
        logits_batch([waveform, ...], sample_rate) -> [logits (frames, classes) float32, ...]
        decode(logits (frames, classes)) -> str

    `transcribe`, `transcribe_batch` and `decode` take `decoder="greedy" | "beam" | "lexicon"` to
    override the configured decoder.

    Args:
        session: The export's session.
        batch_size: Waveforms per model call in `logits_batch` (>= 1).
    """

    DECODERS = ("greedy", "beam", "lexicon")

    def __init__(self, session: Session, batch_size: int = 16):
        super().__init__(session)
        self.sample_rate = int(self.settings["sample_rate"])
        self.alphabet = self.settings["alphabet"]
        self.blank = int(self.settings["blank_index"])
        self.decoder = self.settings["decoder"]
        self.beam_width = int(self.settings["beam_width"])
        self.batch_size = _positive_int("batch_size", batch_size)
        self._lexicon = None
        # Phoneme models spell each word by its pronunciation (settings.lexicon_spellings); they and
        # lexicons with a bigram LM (settings.lexicon_bigrams) output the words of the best path.
        spellings = self.settings.get("lexicon_spellings")
        bigrams = self.settings.get("lexicon_bigrams")
        self._by_word = bool(spellings or bigrams)
        if self.settings.get("lexicon"):
            index = {c: i for i, c in enumerate(self.alphabet)}
            words = [[index[c] for c in word] for word in (spellings or self.settings["lexicon"])]
            self._lexicon = CTCLexiconDecoder(
                words, index[" "], self.blank, counts=self.settings.get("lexicon_counts"),
                lm_weight=float(self.settings.get("lexicon_lm_weight") or 0.0),
                word_bonus=float(self.settings.get("lexicon_word_bonus") or 0.0),
                homophones=self._by_word, bigrams=[tuple(b) for b in bigrams] if bigrams else None,
                sentences=float(self.settings.get("lexicon_sentences") or 0.0))

    def _method(self, decoder: str | None) -> str:
        method = self.decoder if decoder is None else decoder
        if method not in self.DECODERS:
            raise ValueError(f"unknown decoder {method!r} (expected 'greedy', 'beam' or 'lexicon')")
        if method == "lexicon" and self._lexicon is None:
            raise ValueError("this export has no lexicon (settings.lexicon); "
                             "use decoder='greedy' or 'beam'")
        return method

    def logits_batch(self, waveforms: list[np.ndarray], sample_rate: int) -> list[np.ndarray]:
        """Each waveform's logits, run in padded batches of `batch_size`.

        Args:
            waveforms: A list of waveforms (see the class docstring for dtypes and shapes).
            sample_rate: Their sample rate in Hz (a positive whole number); they are resampled to
                the model's `settings["sample_rate"]`.

        Returns:
            One float32 array `(frames, classes)` per waveform (its own frames), in input order.

        Raises:
            TypeError: When `waveforms` is one array rather than a list of them.
            ValueError: When a waveform's shape or dtype, or `sample_rate`, is not accepted.
        """
        if isinstance(waveforms, (np.ndarray, str, bytes)):
            shape = getattr(waveforms, "shape", None)
            raise TypeError(f"this takes a list of waveforms, got one {type(waveforms).__name__}"
                            + (f" of shape {shape}" if shape is not None else "")
                            + "; use transcribe for one waveform")
        rate = _sample_rate(sample_rate)
        audio = [resample_fft(_mono_float(w), rate, self.sample_rate) for w in waveforms]
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
        """The transcript of one utterance's logits.

        Args:
            logits: float32 `(frames, classes)`, blank last.
            decoder: `"greedy"`, `"beam"` or `"lexicon"`; None = `settings["decoder"]`.

        Returns:
            The transcript.

        Raises:
            ValueError: When the decoder is unknown, or `"lexicon"` and the export has none.
        """
        method = self._method(decoder)
        if method == "greedy":
            ids = ctc_greedy(logits, self.blank)
        elif method == "beam":
            ids = ctc_prefix_beam(logits, self.blank, self.beam_width)
        elif self._by_word:
            return " ".join(self.settings["lexicon"][k] for k in self._lexicon.words(logits))
        else:
            ids = self._lexicon(logits)
        return "".join(self.alphabet[i] for i in ids)

    def transcribe_batch(self, waveforms: list[np.ndarray], sample_rate: int,
                         decoder: str | None = None) -> list[str]:
        """Transcripts of several waveforms (arguments as `logits_batch` and `decode`).

        Returns:
            One transcript per waveform, in input order.

        Raises:
            TypeError: When `waveforms` is one array ("use transcribe for one").
            ValueError: As `logits_batch` and `decode`.
        """
        if isinstance(waveforms, np.ndarray):
            raise TypeError("transcribe_batch takes a list of waveforms; use transcribe for one "
                            f"(got an array of shape {waveforms.shape})")
        self._method(decoder)  # before the model runs
        return [self.decode(x, decoder) for x in self.logits_batch(waveforms, sample_rate)]

    def transcribe(self, waveform: np.ndarray, sample_rate: int, decoder: str | None = None) -> str:
        """The transcript of one waveform, as the SavedModel's `transcribe`.

        Args:
            waveform: `(samples,)` float in [-1, 1] (or int16/int32 PCM, or `(samples, channels)`:
                see the class docstring).
            sample_rate: Its sample rate in Hz (a positive whole number).
            decoder: `"greedy"`, `"beam"` or `"lexicon"`; None = `settings["decoder"]`.

        Returns:
            The transcript.

        Raises:
            ValueError: When the waveform's shape or dtype, `sample_rate` or `decoder` is not
                accepted.
        """
        return self.transcribe_batch([waveform], sample_rate, decoder)[0]


# The text cleaning of seqtasks' sentiment task (`clean_text_tf` in its exported graph): HTML line
# breaks and runs of ASCII whitespace become one space, then leading/trailing spaces go. ASCII only,
# as there: RE2's and Python's `\s` differ on Unicode spaces.
_BR = re.compile(r"<br[ \t\n\r\f\v]*/?>", re.IGNORECASE)
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


def _text(value: Any, what: str = "text") -> str:
    """A str as is; bytes decoded as UTF-8 (invalid sequences -> U+FFFD, as TensorFlow's
    `unicode_decode(errors="replace")`); anything else a TypeError."""
    if isinstance(value, str):
        return value
    if isinstance(value, (bytes, np.bytes_)):
        return bytes(value).decode("utf-8", errors="replace")
    raise TypeError(f"a {what} must be a str (or UTF-8 bytes), got {type(value).__name__}")


def clean_text(text: str) -> str:
    """`<br />` (any case, any spacing) and ASCII whitespace runs -> one space; trimmed."""
    return _WHITESPACE.sub(" ", _BR.sub(" ", text)).strip(" ")


class SentencePieceIds:
    """Text -> ids exactly as tensorflow-text's `SentencepieceTokenizer` in the SavedModel.

    tensorflow-text runs sentencepiece 0.1.96 (compiled in), whose unigram Viterbi compares path
    scores in double precision and stores them in float32; the `sentencepiece` wheel computes in
    float32 and so breaks near-ties ("..." + "." against "." + "...") the other way for about 3% of
    IMDB reviews. For unigram models the best path is therefore computed here, with that
    arithmetic, on the text as `sentencepiece` normalizes it (`sentencepiece` >= 0.2); other model
    types use `sentencepiece`'s own encoder.

    Args:
        model_file: The `.model` file.
        model_type: `"unigram"`, `"bpe"`, ... (export.json's `tokenizer.model_type`).
        byte_fallback: Whether unknown characters become byte pieces.
        user_defined_ids: Ids of the user-defined pieces (always preferred, as in sentencepiece).
    """

    _UNK_PENALTY = 10.0

    def __init__(self, model_file: str | os.PathLike, model_type: str = "unigram",
                 byte_fallback: bool = False, user_defined_ids: list[int] | tuple[int, ...] = ()):
        sentencepiece = _sentencepiece("tokenizing")
        self.processor = sentencepiece.SentencePieceProcessor(model_file=str(model_file))
        self.model_type = model_type
        self.byte_fallback = byte_fallback
        sp = self.processor
        self.unk_id = sp.unk_id()
        user_defined = set(user_defined_ids)
        self._pieces: dict[str, tuple[int, float, bool]] = {}  # piece -> (id, score, unused)
        normal_scores = []
        for i in range(sp.get_piece_size()):
            if sp.is_control(i) or sp.is_unknown(i) or sp.is_byte(i):
                continue
            score = float(np.float32(sp.get_score(i)))
            self._pieces[sp.id_to_piece(i)] = (i, score, bool(sp.is_unused(i)))
            if i not in user_defined and not sp.is_unused(i):
                normal_scores.append(score)
        # sentencepiece's min_score_/max_score_ start at FLT_MAX/FLT_MIN and run over normal pieces.
        limits = np.finfo(np.float32)
        max_score = float(np.float32(max(normal_scores + [float(limits.tiny)])))
        min_score = np.float32(min(normal_scores, default=float(limits.max)))
        self._unk_score = np.float32(min_score - np.float32(self._UNK_PENALTY))
        self._user_defined = {
            piece: float(np.float32(len(piece.encode("utf-8")) * max_score)) - 0.1
            for piece, (i, _, _) in self._pieces.items() if i in user_defined}
        self._longest = max((len(p) for p in self._pieces), default=1)
        # Every prefix of a piece: the search from a position stops at the first one that is none.
        self._prefixes = {piece[:k] for piece in self._pieces for k in range(1, len(piece) + 1)}

    def encode(self, text: str) -> list[int]:
        """Tokenizes one text as tensorflow-text's `SentencepieceTokenizer.tokenize`.

        Args:
            text: The text (already cleaned / normalized as the pipeline does).

        Returns:
            Its ids (no begin/end ids).
        """
        if self.model_type != "unigram":
            return list(self.processor.encode(text))
        normalized = self.processor.normalize(text)
        ids = self._viterbi(normalized)
        out: list[int] = []
        for piece_id, piece in ids:
            if piece_id == self.unk_id:
                if self.byte_fallback:
                    out.extend(self.processor.piece_to_id(f"<0x{b:02X}>")
                               for b in piece.encode("utf-8"))
                    continue
                if out and out[-1] == self.unk_id:  # sentencepiece merges runs of unknowns
                    continue
            out.append(piece_id)
        return out

    def _viterbi(self, s: str) -> list[tuple[int, str]]:
        # sentencepiece 0.1.96 `unigram::Model::EncodeOptimized`: best[end] = (float32 score,
        # start, id); the candidates for one end arrive by increasing start and replace the best
        # only when strictly greater. A piece's candidate is `double(score) + float32 prefix`,
        # compared in double (a user-defined piece's score is a double expression there); the
        # unknown-character candidate is a float32 sum.
        n = len(s)
        score = [np.float32(0.0)] * (n + 1)
        start = [-1] * (n + 1)
        ident = [-1] * (n + 1)
        pieces, user_defined, prefixes = self._pieces, self._user_defined, self._prefixes
        for i in range(n):
            prefix = score[i]
            prefix_d = float(prefix)
            single = False
            for end in range(i + 1, min(n, i + self._longest) + 1):
                piece = s[i:end]
                if piece not in prefixes:
                    break
                found = pieces.get(piece)
                if found is None or found[2]:
                    continue
                candidate = user_defined.get(piece, found[1]) + prefix_d
                if start[end] == -1 or candidate > float(score[end]):
                    score[end], start[end], ident[end] = np.float32(candidate), i, found[0]
                if end == i + 1:
                    single = True
            if not single:
                candidate32 = np.float32(self._unk_score + prefix)
                if start[i + 1] == -1 or candidate32 > score[i + 1]:
                    score[i + 1], start[i + 1], ident[i + 1] = candidate32, i, self.unk_id
        out = []
        end = n
        while end > 0:
            out.append((ident[end], s[start[end]:end]))
            end = start[end]
        out.reverse()
        return out


class ClassifierPipeline(Pipeline):
    """Text classification (the sentiment task); `predict` mirrors the SavedModel's serving_default.

    `predict(texts: list[str], batch_size=64) -> {"labels": list[str], "probabilities": (n, classes)
    float32, "label_ids": (n,) int32, "logits": (n, classes) float32}`, in input order. Each text is
    cleaned (`clean_text`, when the run cleaned), tokenized (`SentencePieceIds` on
    `assets/spm.model`), truncated to `max_length` ids as the run did (`head`, `tail` or
    `head_tail`: the first quarter and the last three quarters), and run in batches of similar
    length padded with id 0 (masked inside the model). Class names: `settings["class_names"]`.
    """

    def __init__(self, session: Session):
        super().__init__(session)
        tok = self.settings["tokenizer"]
        self.tokenizer = SentencePieceIds(self.assets / tok["file"], tok["model_type"],
                                          tok["byte_fallback"], tok["user_defined_ids"])
        self.class_names: list[str] = list(self.settings["class_names"])

    def token_ids(self, text: str) -> list[int]:
        """The ids the model reads for one text.

        Args:
            text: One raw text (str, or UTF-8 bytes).

        Returns:
            Its ids: cleaned, tokenized and truncated as the SavedModel does; not padded.
        """
        text = _text(text)
        if self.settings["clean_html"]:
            text = clean_text(text)
        ids = self.tokenizer.encode(text)
        max_length = self.settings["max_length"]
        if len(ids) <= max_length:
            return ids
        heads = {"head": max_length, "tail": 0, "head_tail": max_length // 4}
        head = heads[self.settings["truncate"]]
        tail = max_length - head
        return ids[:head] + (ids[len(ids) - tail:] if tail else [])

    def predict(self, texts: list[str], batch_size: int = 64) -> dict[str, Any]:
        """Classifies texts, as the SavedModel's `serving_default`.

        Args:
            texts: Raw texts (one str is taken as a list of one).
            batch_size: Texts per model call (>= 1).

        Returns:
            `{"labels": [str], "probabilities": (n, classes) float32, "label_ids": (n,) int32,
            "logits": (n, classes) float32}`, in input order.

        Raises:
            TypeError: When a text is not a str (or bytes).
            ValueError: When `batch_size` is not a positive integer.
        """
        batch_size = _positive_int("batch_size", batch_size)
        texts = [texts] if isinstance(texts, (str, bytes)) else list(texts)
        ids = [self.token_ids(t) for t in texts]
        k = len(self.class_names)
        logits = np.zeros((len(texts), k), np.float32)
        order = np.argsort([len(row) for row in ids], kind="stable")
        for begin in range(0, len(order), batch_size):
            rows = order[begin:begin + batch_size]
            # At least one (masked) step, as in the SavedModel.
            width = max(1, max(len(ids[r]) for r in rows))
            batch = np.full((len(rows), width), self.settings["pad_id"], np.int32)
            for j, r in enumerate(rows):
                batch[j, :len(ids[r])] = ids[r]
            logits[rows] = self.session.run("serving_default", token_ids=batch)["logits"]
        probabilities = softmax(logits).astype(np.float32)
        label_ids = probabilities.argmax(-1).astype(np.int32)
        return {"labels": [self.class_names[i] for i in label_ids], "probabilities": probabilities,
                "label_ids": label_ids, "logits": logits}


class CharGeneratorPipeline(Pipeline):
    """The char-RNN (text generation); `generate` and `score` mirror the SavedModel's signatures.

    `generate(prompt: str, num_chars: int, temperature=1.0, top_k=0, top_p=1.0, seed=None) -> str`:
    the continuation only (not the prompt). The prompt is read once (`serving_default`, which also
    returns the states), then each character is one `step` call carrying the states; the unknown
    character is never emitted. `temperature <= 0` is greedy (the argmax, as the SavedModel's
    `generate`); otherwise sampling at `temperature`, among the `top_k` likeliest characters when
    `top_k > 0`, else among those whose probabilities before them add up to less than `top_p` when
    `top_p < 1` (numpy's generator, seeded by `seed`: the same draws as TensorFlow's are not
    possible, so sampled text differs from the SavedModel's). An empty prompt starts from "\\n".

    `score(text: str) -> float`: bits per character of `text[1:]` given the characters before it,
    from a zero state (the SavedModel's `score` `bits_per_char`; 0.0 for texts shorter than 2).
    """

    def __init__(self, session: Session):
        super().__init__(session)
        vocabulary_file = self.assets / self.settings["vocabulary"]
        vocabulary = json.loads(vocabulary_file.read_text(encoding="utf-8"))
        self.chars: list[str] = list(vocabulary["chars"])
        self.unknown_id = int(self.settings["unknown_id"])
        self._index = {c: i + 1 for i, c in enumerate(self.chars)}
        self._table = ["\ufffd", *self.chars]

    def encode(self, text: str) -> np.ndarray:
        """Character ids of a text.

        Args:
            text: A str, or UTF-8 bytes (decoded as the SavedModel does).

        Returns:
            int32 ids `(len(text),)`; characters outside the vocabulary get the unknown id.
        """
        text = _text(text)
        return np.asarray([self._index.get(c, self.unknown_id) for c in text], np.int32)

    def decode(self, ids: Any) -> str:
        """The text of character ids (the unknown id -> U+FFFD).

        Args:
            ids: Character ids.

        Returns:
            The text.
        """
        return "".join(self._table[int(i)] for i in ids)

    def _states(self, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {f"state_{name}": out[f"next_state_{name}"] for name in self.settings["states"]}

    def generate(self, prompt: str, num_chars: int, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int | None = None) -> str:
        """Continues a prompt (see the class docstring for the sampling rules).

        Args:
            prompt: The text to continue (str, or UTF-8 bytes); "" starts from "\\n".
            num_chars: Characters to generate (a non-negative integer).
            temperature: <= 0 for greedy (the SavedModel's `generate`), else the sampling
                temperature (finite).
            top_k: Sample among the `top_k` likeliest characters (0 = no limit).
            top_p: Nucleus sampling mass, 0 < top_p <= 1 (1 = no limit; used when top_k is 0).
            seed: Seed of numpy's generator (None = fresh entropy).

        Returns:
            The continuation only (not the prompt).

        Raises:
            TypeError: When the prompt is not a str (or bytes).
            ValueError: When a setting is out of range.
        """
        self._check_sampling(num_chars, temperature, top_k, top_p)
        prompt = _text(prompt, "prompt")
        if num_chars == 0:
            return ""
        rng = np.random.default_rng(seed)
        ids = self.encode(prompt)
        if ids.size == 0:
            ids = np.asarray([self.settings["start_id"]], np.int32)
        out = self.session.run("serving_default", ids=ids[None, :])
        logits, states = out["logits"][0, -1], self._states(out)
        chosen = []
        for i in range(num_chars):
            logits = logits.astype(np.float32).copy()
            logits[self.unknown_id] += np.float32(-1e9)
            next_id = self._pick(logits, temperature, top_k, top_p, rng)
            chosen.append(next_id)
            if i + 1 < num_chars:
                out = self.session.run("step", ids=np.asarray([next_id], np.int32), **states)
                logits, states = out["logits"][0], self._states(out)
        return self.decode(chosen)

    @staticmethod
    def _check_sampling(num_chars: Any, temperature: Any, top_k: Any, top_p: Any) -> None:
        def integer(value: Any) -> bool:
            return isinstance(value, (int, np.integer)) and not isinstance(value, bool)

        if not integer(num_chars) or num_chars < 0:
            raise ValueError(f"num_chars must be a non-negative integer, got {num_chars!r}")
        if not integer(top_k) or top_k < 0:
            raise ValueError(f"top_k must be a non-negative integer (0 = no limit), got {top_k!r}")
        if (isinstance(temperature, bool) or not isinstance(temperature, (int, float, np.number))
                or not math.isfinite(float(temperature))):
            raise ValueError(f"temperature must be a finite number (<= 0: greedy), "
                             f"got {temperature!r}")
        if (isinstance(top_p, bool) or not isinstance(top_p, (int, float, np.number))
                or not 0.0 < float(top_p) <= 1.0):
            raise ValueError(f"top_p must be in (0, 1] (1 = no limit), got {top_p!r}")

    @staticmethod
    def _pick(logits: np.ndarray, temperature: float, top_k: int, top_p: float,
              rng: np.random.Generator) -> int:
        if temperature <= 0:
            return int(np.argmax(logits))
        scaled = logits.astype(np.float64) / max(float(temperature), 1e-6)
        order = np.argsort(-scaled, kind="stable")
        if top_k > 0:
            order = order[:top_k]
        elif top_p < 1.0:
            probs = softmax(scaled[order])
            before = np.cumsum(probs) - probs
            order = order[before < top_p]  # the likeliest character is always kept
        probs = softmax(scaled[order])
        return int(order[rng.choice(len(order), p=probs)])

    def score(self, text: str) -> float:
        """Bits per character, as the SavedModel's `score`.

        Args:
            text: A str, or UTF-8 bytes (decoded as the SavedModel does).

        Returns:
            Mean bits of `text[1:]` given the characters before it, from a zero state (0.0 for
            texts shorter than 2 characters).

        Raises:
            TypeError: When `text` is not a str (or bytes).
        """
        ids = self.encode(text)
        if ids.size < 2:
            return 0.0
        logits = self.session.run("serving_default", ids=ids[None, :-1])["logits"][0]
        log_probs = log_softmax(logits.astype(np.float64))
        nats = -log_probs[np.arange(ids.size - 1), ids[1:]].mean()
        return float(nats / math.log(2.0))


PIPELINES: dict[str, type[Pipeline]] = {
    "memory": MemoryPipeline,
    "classifier": ClassifierPipeline,
    "char_generator": CharGeneratorPipeline,
    "translator": TranslatorPipeline,
    "ctc_recognizer": CTCRecognizerPipeline,
}


def load(folder: str | os.PathLike, num_threads: int | None = None) -> Pipeline:
    """Loads an export with the pipeline export.json names.

    Args:
        folder: The export folder (or its export.json or model file).
        num_threads: CPU threads of the runtime (None = its default).

    Returns:
        The pipeline (`MemoryPipeline`, `ClassifierPipeline`, `CharGeneratorPipeline`,
        `TranslatorPipeline` or `CTCRecognizerPipeline`); `.session` runs the bare model.

    Raises:
        FileNotFoundError: When the folder or a file export.json lists is missing.
        ValueError: When the path is not a LiteRT/ONNX export (e.g. a SavedModel) or export.json
            names an unknown format or pipeline.
        ImportError: When a package the export needs is not installed.
    """
    session = Session(folder, num_threads)
    kind = session.description["pipeline"]
    if kind not in PIPELINES:
        raise ValueError(f"{session.folder / 'export.json'}: unknown pipeline {kind!r} "
                         f"(known: {sorted(PIPELINES)})")
    return PIPELINES[kind](session)
