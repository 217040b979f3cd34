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


# The text cleaning of seqtasks' sentiment task (`clean_text_tf` in its exported graph): HTML line
# breaks and runs of ASCII whitespace become one space, then leading/trailing spaces go. ASCII only,
# as there: RE2's and Python's `\s` differ on Unicode spaces.
_BR = re.compile(r"<br[ \t\n\r\f\v]*/?>", re.IGNORECASE)
_WHITESPACE = re.compile(r"[ \t\n\r\f\v]+")


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
        try:
            import sentencepiece
        except ImportError as e:
            raise ImportError(
                "tokenizing needs the `sentencepiece` package (pip install sentencepiece)") from e
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
        """The ids of `text` (no begin/end ids)."""
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
        """The ids the model reads for one text (cleaned, tokenized, truncated; not padded)."""
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
        texts = [texts] if isinstance(texts, str) else list(texts)
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
        """Character ids of `text` (characters outside the vocabulary -> the unknown id)."""
        return np.asarray([self._index.get(c, self.unknown_id) for c in text], np.int32)

    def decode(self, ids: Any) -> str:
        return "".join(self._table[int(i)] for i in ids)

    def _states(self, out: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {f"state_{name}": out[f"next_state_{name}"] for name in self.settings["states"]}

    def generate(self, prompt: str, num_chars: int, temperature: float = 1.0, top_k: int = 0,
                 top_p: float = 1.0, seed: int | None = None) -> str:
        if num_chars <= 0:
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
        ids = self.encode(text)
        if ids.size < 2:
            return 0.0
        logits = self.session.run("serving_default", ids=ids[None, :-1])["logits"][0]
        logits = logits.astype(np.float64)
        shifted = logits - logits.max(-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(-1, keepdims=True))
        nats = -log_probs[np.arange(ids.size - 1), ids[1:]].mean()
        return float(nats / math.log(2.0))


PIPELINES: dict[str, type[Pipeline]] = {"memory": MemoryPipeline, "classifier": ClassifierPipeline,
                                         "char_generator": CharGeneratorPipeline}


def load(folder: str | os.PathLike, num_threads: int | None = None) -> Pipeline:
    """The pipeline of the export in `folder` (named by export.json's `pipeline`)."""
    session = Session(folder, num_threads)
    kind = session.description["pipeline"]
    if kind not in PIPELINES:
        raise ValueError(f"{Path(folder) / 'export.json'}: unknown pipeline {kind!r} (known: {sorted(PIPELINES)})")
    return PIPELINES[kind](session)
