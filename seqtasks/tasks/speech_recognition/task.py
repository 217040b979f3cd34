"""The `speech_recognition` task: CTC character recognition with a deep bidirectional recurrent network.

Data sources (config `data`):

* `dataset: fsdd_connected_digits` (default): utterances of 1-7 FSDD digits of one speaker, generated on the
  fly and seeded; a fresh set every epoch from the training recordings (index >= 10 by default), fixed
  validation utterances from indices 5-9 and fixed test utterances from the official test recordings 0-4.
* `dataset: fsdd`: single FSDD digits with the same split.
* your own data: `data.path` = manifests (`.csv` / `.tsv` / `.jsonl`, `path,transcript`) and/or folders of
  audio files with same-name `.txt` transcripts; validation = `data.validation_path` or a seeded
  `validation_fraction` of `path`; test = `data.test_path` (else validation).

The preprocessor is the alphabet (`assets/alphabet.json`). Evaluation reports CER and WER (jiwer) of the
configured decoder; `predict` prints `file<TAB>transcript` and writes an alignment PNG per file; `export` writes
the `transcribe` SavedModel (`seqtasks.tasks.speech_recognition.export`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

import keras
import numpy as np
import tensorflow as tf

from seqtasks.audio.io import AUDIO_EXTENSIONS, load_audio
from seqtasks.data import local_data_dir
from seqtasks.decoding.ctc import ctc_decode
from seqtasks.errors import DataError
from seqtasks.losses.ctc import ctc_min_frames
from seqtasks.tasks import Task, copy_matching_weights, register_task
from seqtasks.tasks.speech_recognition import fsdd_download
from seqtasks.tasks.speech_recognition.config import (
    SpeechRecognitionConfig,
    feature_kwargs,
    specaugment_kwargs,
)
from seqtasks.tasks.speech_recognition.data import (
    DIGIT_WORDS,
    Alphabet,
    BadAudioReport,
    ConnectedDigits,
    Example,
    Utterance,
    UtteranceLoader,
    fsdd_split,
    fsdd_utterances,
    normalize_transcript,
    read_folder,
    read_fsdd,
    read_manifest,
)
from seqtasks.tasks.speech_recognition.model import CTCSpeechModel, conv_output_length
from seqtasks.tasks.speech_recognition.pipeline import batches_dataset, pad_batch, plan_batches

ALPHABET_FILE = "alphabet.json"
DATASETS = ("fsdd_connected_digits", "fsdd")
_MANIFEST_SUFFIXES = (".csv", ".tsv", ".jsonl", ".json", ".ndjson")
# Offsets that give the fixed validation/test utterances seeds of their own, unrelated to training epochs.
_VALIDATION_SEED, _TEST_SEED = 1_000_003, 2_000_003


def find_fsdd(data_config) -> Path:
    """The FSDD folder: `data.fsdd_dir`, else `fsdd/` (or `free-spoken-digit-dataset/`) in the local data dir,
    else the copy cached by an earlier download, else a download through tensorflow-datasets (`spoken_digit`)."""
    if data_config.fsdd_dir:
        return Path(data_config.fsdd_dir).expanduser()
    root = local_data_dir(data_config)
    if root is not None:
        for candidate in (root / "fsdd", root / "free-spoken-digit-dataset", root):
            if (candidate / "recordings").is_dir():
                return candidate
    cached = fsdd_download.cached_fsdd()
    if cached is not None:
        return cached
    try:
        return fsdd_download.download_fsdd(data_config.tfds_data_dir or None)
    except DataError as error:
        reason = str(error)
    where = f"{root}/fsdd/recordings/" if root else "DIR/fsdd/recordings/ and pass --data-dir DIR"
    raise DataError(
        f"dataset 'fsdd' (Free Spoken Digit Dataset) not found locally and not downloadable ({reason}): clone "
        f"https://github.com/Jakobovski/free-spoken-digit-dataset and put its recordings/*.wav at {where} "
        "(or set data.fsdd_dir)"
    )


def read_user_data(paths: Sequence[str], normalize: bool) -> list[Utterance]:
    """Utterances from manifests and folders (a single audio file needs a same-name .txt transcript)."""
    utterances: list[Utterance] = []
    for item in paths:
        path = Path(item).expanduser()
        if path.is_dir():
            utterances.extend(read_folder(path, normalize))
        elif path.suffix.lower() in _MANIFEST_SUFFIXES:
            utterances.extend(read_manifest(path, normalize))
        elif path.suffix.lower() in AUDIO_EXTENSIONS and path.with_suffix(".txt").is_file():
            text = path.with_suffix(".txt").read_text(encoding="utf-8")
            utterances.append(Utterance(normalize_transcript(text) if normalize else text.strip(), path))
        elif not path.exists():
            raise DataError(f"Data path {path} does not exist. Fix: pass a manifest (.csv/.jsonl) or a folder.")
        else:
            raise DataError(
                f"Data path {path} is neither a manifest ({', '.join(_MANIFEST_SUFFIXES)}) nor a folder. "
                "Fix: write a `path,transcript` manifest for it."
            )
    return utterances


class _ExampleSource:
    """Indexable utterances for batching: in-memory `Example`s or a `ConnectedDigits` generator."""

    def __init__(self, alphabet: Alphabet, examples: list[Example] | None = None,
                 digits: ConnectedDigits | None = None):
        self.alphabet, self.examples, self.digits = alphabet, examples, digits

    def __len__(self) -> int:
        return len(self.examples) if self.examples is not None else len(self.digits)

    def num_samples(self, i: int) -> int:
        return int(self.examples[i].waveform.size) if self.examples is not None else self.digits.num_samples(i)

    def transcript(self, i: int) -> str:
        return self.examples[i].transcript if self.examples is not None else self.digits.transcript(i)

    def example(self, i: int) -> tuple[np.ndarray, list[int]]:
        if self.examples is not None:
            return self.examples[i].waveform, self.examples[i].labels
        utterance = self.digits[i]
        return utterance.audio, self.alphabet.encode(utterance.transcript)


@register_task
class SpeechRecognitionTask(Task):
    """CTC speech recognition (see the module docstring)."""

    name = "speech_recognition"
    config_class = SpeechRecognitionConfig
    monitor = "val_cer"
    monitor_mode = "min"

    def __init__(self, config: SpeechRecognitionConfig, run):
        super().__init__(config, run)
        self.alphabet: Alphabet | None = None
        self.report = BadAudioReport()
        self._mode: str | None = None
        self._fsdd: dict[str, list] = {}
        self._audio_cache: dict[Path, np.ndarray] = {}
        self._train_examples: list[Example] | None = None
        self._validation: _ExampleSource | None = None
        self._test_utterances: list[Utterance] | ConnectedDigits | None = None
        self._decode_fns: dict[int, Callable] = {}

    # ------------------------------------------------------------------------------------------- data

    @property
    def sample_rate(self) -> int:
        return self.config.data.sample_rate

    def output_frames(self, num_samples: int) -> int:
        """CTC output frames of a waveform of `num_samples` samples under the model config."""
        features = feature_kwargs(self.config.model, self.sample_rate)
        n_fft, hop = features["n_fft"], features["hop_length"]
        frames = 1 + (int(num_samples) + 2 * (n_fft // 2) - n_fft) // hop
        if self.config.model.conv_filters:
            for stride in self.config.model.conv_time_strides:
                frames = conv_output_length(frames, self.config.model.conv_kernel_size, stride)
        return int(frames)

    def _cached_loader(self, path: Path, sample_rate: int) -> np.ndarray:
        if path not in self._audio_cache:
            self._audio_cache[path] = load_audio(path, sample_rate)
        return self._audio_cache[path]

    def _digits(self, split: str, count: int, seed: int) -> ConnectedDigits:
        d = self.config.data
        return ConnectedDigits(
            self._fsdd[split], self.sample_rate, count, seed=seed, min_digits=d.min_digits, max_digits=d.max_digits,
            gap_seconds=(0.02, d.max_gap_seconds), edge_seconds=(0.02, d.max_gap_seconds),
            gain_db=(-d.gain_db, d.gain_db), loader=self._cached_loader,
        )

    def _read_sources(self) -> tuple[list[Utterance] | None, list[Utterance] | None, list[Utterance] | None]:
        """Reads the utterance lists (no audio yet): (train, validation, test); digits mode returns Nones."""
        d = self.config.data
        if d.path:
            self._mode = "user"
            train = read_user_data(d.path, d.normalize_transcripts)
            if d.validation_path:
                validation = read_user_data(d.validation_path, d.normalize_transcripts)
            else:
                rng = np.random.default_rng(self.config.train.seed)
                order = rng.permutation(len(train))
                held = int(round(len(train) * d.validation_fraction)) if len(train) > 1 else 0
                validation = [train[i] for i in sorted(order[:held])]
                train = [train[i] for i in sorted(order[held:])]
            test = read_user_data(d.test_path, d.normalize_transcripts) if d.test_path else None
            return train, validation, test
        if d.dataset not in DATASETS:
            raise DataError(
                f"unknown speech dataset {d.dataset!r} (known: {', '.join(DATASETS)}); or use your own data with "
                "--data MANIFEST_OR_FOLDER"
            )
        self._mode = "digits" if d.dataset == "fsdd_connected_digits" else "fsdd"
        recordings = read_fsdd(find_fsdd(d))
        self._fsdd = {
            split: fsdd_split(recordings, split, d.validation_indices) for split in ("train", "validation", "test")
        }
        if self._mode == "fsdd":
            return tuple(fsdd_utterances(self._fsdd[s]) for s in ("train", "validation", "test"))
        return None, None, None

    def _alphabet_for(self, train: list[Utterance] | None, source: Task | None) -> Alphabet:
        d = self.config.data
        texts = [u.transcript for u in train] if train is not None else [" ".join(DIGIT_WORDS)]
        if source is not None:
            alphabet = source.alphabet
            unknown = sorted({ch for text in texts for ch in alphabet.unknown_characters(text)})
            if unknown and d.new_characters == "error":
                raise DataError(
                    f"fine-tuning data has characters the source model cannot output: {''.join(unknown)!r}. Fix: "
                    "normalise the transcripts, or --set data.new_characters=extend to add output classes"
                )
            return alphabet.extend(texts) if unknown else alphabet
        if d.alphabet:
            return Alphabet(d.alphabet)
        return Alphabet.from_texts(texts)

    def prepare_data(self, source: Task | None = None) -> None:
        train, validation, test = self._read_sources()
        alphabet_file = self.run.assets / ALPHABET_FILE
        if alphabet_file.is_file():
            self.alphabet = Alphabet.load(alphabet_file)
        else:
            self.alphabet = self._alphabet_for(train, source)
            if self.is_writer:
                self.alphabet.save(alphabet_file)
        d = self.config.data
        if self._mode == "digits":
            seed = self.config.train.seed
            self._validation = None
            if self._fsdd["validation"] and d.validation_utterances > 0:
                digits = self._digits("validation", d.validation_utterances, seed + _VALIDATION_SEED)
                self._validation = _ExampleSource(self.alphabet, digits=digits)
            self._test_utterances = self._digits("test", d.test_utterances, seed + _TEST_SEED)
            return
        self._train_examples = self._load(train, "training")
        if not self._train_examples:
            raise DataError("no usable training utterance is left after the bad-audio checks: " + self.report.summary())
        self._validation = _ExampleSource(self.alphabet, examples=self._load(validation, "validation")) if validation else None
        self._test_utterances = test

    def _load(self, utterances: list[Utterance], what: str) -> list[Example]:
        loader = UtteranceLoader(
            utterances, self.sample_rate, self.alphabet, output_frames=self.output_frames,
            on_bad_audio=self.config.data.on_bad_audio,
        )
        examples = loader.load_all()
        if loader.report.count:
            print(f"{what} data: {loader.report.summary()}", file=sys.stderr, flush=True)
            self.report.problems.extend(loader.report.problems)
        return examples

    def load_preprocessor(self) -> None:
        self.alphabet = Alphabet.load(self.run.assets / ALPHABET_FILE)

    def _feasible(self, source: _ExampleSource, indices: Sequence[int]) -> list[int]:
        keep = []
        for i in indices:
            labels = self.alphabet.encode(source.transcript(i))
            if self.output_frames(source.num_samples(i)) >= ctc_min_frames(labels):
                keep.append(i)
        return keep

    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        seed = int(np.random.SeedSequence([self.config.train.seed, epoch]).generate_state(1)[0])
        if self._mode == "digits":
            source = _ExampleSource(self.alphabet, digits=self._digits("train", self.config.data.train_utterances, seed))
            indices = self._feasible(source, range(len(source)))
        else:
            source = _ExampleSource(self.alphabet, examples=self._train_examples)
            indices = list(range(len(source)))
        lengths = [source.num_samples(i) for i in indices]
        batches = [[indices[j] for j in b] for b in plan_batches(lengths, self.config.train.batch_size, seed)]
        return batches_dataset(batches, source.example)

    def validation_dataset(self) -> tf.data.Dataset | None:
        if self._validation is None or len(self._validation) == 0:
            return None
        indices = self._feasible(self._validation, range(len(self._validation)))
        lengths = [self._validation.num_samples(i) for i in indices]
        batches = [[indices[j] for j in b] for b in plan_batches(lengths, self.config.eval.batch_size)]
        return batches_dataset(batches, self._validation.example)

    # ------------------------------------------------------------------------------------------ model

    def build_model(self) -> keras.Model:
        m = self.config.model
        model = CTCSpeechModel(
            num_classes=self.alphabet.num_classes, sample_rate=self.sample_rate,
            features=feature_kwargs(m, self.sample_rate), specaugment=specaugment_kwargs(m),
            conv_filters=m.conv_filters, conv_kernel_size=m.conv_kernel_size,
            conv_time_strides=m.conv_time_strides if m.conv_filters else [],
            conv_freq_strides=m.conv_freq_strides if m.conv_filters else [],
            cell_type=m.cell_type, units=m.units, num_layers=m.num_layers, dropout=m.dropout,
            recurrent_dropout=m.recurrent_dropout, residual=m.residual, seed=self.config.train.seed,
            name="speech_recognizer",
        )
        model({"waveform": tf.zeros([1, self.sample_rate // 4]), "waveform_length": tf.constant([self.sample_rate // 4])})
        return model

    def compile_model(self, model: keras.Model, optimizer: keras.optimizers.Optimizer) -> None:
        # The loss is the model's own `compute_loss` (CTC needs the logit lengths the model computes).
        model.compile(optimizer=optimizer, jit_compile=self.config.train.jit_compile)

    # ------------------------------------------------------------------------------- after training

    def _decoder(self, model: keras.Model) -> Callable:
        key = id(model)
        if key not in self._decode_fns:
            characters = list(self.alphabet.characters)
            method, beam = self.config.eval.decoder, self.config.eval.beam_width

            @tf.function(reduce_retracing=True)
            def decode(waveform, lengths):
                out = model({"waveform": waveform, "waveform_length": lengths}, training=False)
                return ctc_decode(out["logits"], out["logit_lengths"], characters, method=method, beam_width=beam)

            self._decode_fns[key] = decode
        return self._decode_fns[key]

    def transcribe(self, model: keras.Model, waveforms: Sequence[np.ndarray]) -> list[str]:
        """Transcripts of waveforms at the model's rate, decoded as configured (`eval.decoder`)."""
        decode = self._decoder(model)
        results: list[str] = [""] * len(waveforms)
        for batch in plan_batches([w.size for w in waveforms], self.config.eval.batch_size):
            inputs, _ = pad_batch([waveforms[i] for i in batch], [[] for _ in batch])
            texts = decode(tf.constant(inputs["waveform"]), tf.constant(inputs["waveform_length"])).numpy()
            for i, text in zip(batch, texts, strict=True):
                results[i] = text.decode("utf-8")
        return results

    def _evaluation_utterances(self, paths: Sequence[str] | None) -> tuple[list[Utterance] | ConnectedDigits, str]:
        if paths:
            return read_user_data(paths, self.config.data.normalize_transcripts), "given files"
        if self._mode is None:
            self.prepare_data()
        if self._test_utterances is not None:
            return self._test_utterances, "test"
        if self._validation is not None and self._validation.examples is not None:
            return [Utterance(e.transcript, audio=e.waveform, source=e.name) for e in self._validation.examples], "validation"
        raise DataError("no evaluation data: set data.test_path or data.validation_path, or pass files to evaluate")

    def evaluation_split(self) -> str:
        return "test"  # without paths, `evaluate` scores the test recordings

    def evaluate(self, model: keras.Model, paths: Sequence[str] | None = None) -> dict[str, float]:
        import jiwer

        utterances, _ = self._evaluation_utterances(paths)
        report = BadAudioReport()
        waveforms, references = [], []
        for utterance in utterances:
            if utterance.audio is not None:
                audio = utterance.audio
            else:
                try:
                    audio = load_audio(utterance.path, self.sample_rate)
                except DataError as error:
                    if self.config.data.on_bad_audio == "fail":
                        raise
                    report.problems.append((utterance.name, str(error)))
                    continue
            if not utterance.transcript:
                report.problems.append((utterance.name, "empty transcript"))
                continue
            waveforms.append(audio)
            references.append(utterance.transcript)
        if not references:
            raise DataError("no utterance to evaluate: " + report.summary())
        if report.count:
            print(f"evaluation data: {report.summary()}", file=sys.stderr, flush=True)
        hypotheses = self.transcribe(model, waveforms)
        return {
            "cer": float(jiwer.cer(references, hypotheses)),
            "wer": float(jiwer.wer(references, hypotheses)),
            "utterances": len(references),
            "skipped": report.count,
        }

    def predict(self, model: keras.Model, inputs: Sequence[str], out: TextIO) -> list[Any]:
        from seqtasks.tasks.speech_recognition.alignment import plot_alignment

        plots = self.run.root / self.config.predict.alignment_dir if self.config.predict.alignment_dir else None
        results = []
        for item in inputs:
            try:
                waveform = load_audio(item, self.sample_rate)
            except DataError as error:
                if self.config.data.on_bad_audio == "fail":
                    raise
                print(f"{item}\t<skipped: {error}>", file=out, flush=True)
                results.append(None)
                continue
            text = self.transcribe(model, [waveform])[0]
            print(f"{item}\t{text}", file=out, flush=True)
            if plots is not None and self.is_writer:
                plot_alignment(model, waveform, self.alphabet, plots / f"{Path(item).stem}.png",
                               title=str(item), transcript=text)
            results.append(text)
        return results

    def export(self, model: keras.Model, export_dir: Path) -> Path:
        from seqtasks.tasks.speech_recognition.export import export_transcriber

        return export_transcriber(
            model, self.alphabet, export_dir, decoder=self.config.eval.decoder, beam_width=self.config.eval.beam_width
        )

    # ---------------------------------------------------------------------------------- fine-tuning

    def finetune_from(self, model: keras.Model, source: Task, source_model: keras.Model) -> None:
        """Copies every matching weight; with an extended alphabet the output layer keeps the trained columns of
        the old characters and of the blank (which moves to the new last class) and starts the new ones fresh."""
        copy_matching_weights(source_model, model)
        old, new = source.alphabet, self.alphabet
        if old.size == new.size:
            return
        kernel, bias = (w.numpy() for w in model.classifier.weights)
        src_kernel, src_bias = (w.numpy() for w in source_model.classifier.weights)
        if kernel.shape[0] != src_kernel.shape[0]:
            return
        kernel[:, : old.size], bias[: old.size] = src_kernel[:, : old.size], src_bias[: old.size]
        kernel[:, new.blank_index], bias[new.blank_index] = src_kernel[:, old.blank_index], src_bias[old.blank_index]
        model.classifier.kernel.assign(kernel)
        model.classifier.bias.assign(bias)

