"""The `speech_recognition` task: CTC character recognition with a deep bidirectional recurrent network.

Data sources (config `data`):

* `dataset: fsdd_connected_digits` (default): utterances of 1-7 FSDD digits of one speaker, generated on the
  fly and seeded; a fresh set every epoch from the training recordings (index >= 10 by default), fixed
  validation utterances from indices 5-9 and fixed test utterances from the official test recordings 0-4.
* `dataset: fsdd`: single FSDD digits with the same split.
* your own data: `data.path` = manifests (`.csv` / `.tsv` / `.jsonl`, `path,transcript`) and/or folders of
  audio files with same-name `.txt` transcripts; validation = `data.validation_path` or a seeded
  `validation_fraction` of `path`; test = `data.test_path`, else a seeded `test_fraction` of `path`, else the
  validation data.
* with any of them, `data.extra_train_path`: more training speech (manifests/folders), added after the split (with
  connected digits, every extra utterance joins every epoch's generated ones); it never validates or tests.

Files are read lazily: `prepare_data` only scans them (lengths from a manifest's `duration` column or the file
headers, under the bad-audio policy and `data.max_seconds`), batches are planned from those lengths, and each
batch's audio is decoded when the batch is needed, through an LRU cache of `data.audio_cache_mb` MiB. Training
can speed-perturb utterances (`data.speed_perturbation`, a factor per utterance and epoch, seeded).

Reading the sources and building the batches: `data.py` (named datasets come from `seqtasks.data`: `fsdd`,
`connected_digits`, `speech_tfds`). The preprocessor is the alphabet (`assets/alphabet.json`, `preprocessor.py`).
Evaluation reports CER and WER (jiwer) of the configured decoder; `predict` prints `file<TAB>transcript` and
writes an alignment PNG per file (`seqtasks.diagnostics.alignment`); the export is the `transcribe` SavedModel
(`export.py`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

import keras
import numpy as np
import tensorflow as tf

from seqtasks.audio.io import AudioCache, load_audio
from seqtasks.audio.perturb import speed_perturb, speed_perturbed_length
from seqtasks.data.bucketing import plan_batches
from seqtasks.data.connected_digits import ConnectedDigits
from seqtasks.data.fsdd import DIGIT_WORDS, FSDDRecording
from seqtasks.data.lazy_audio import LazyUtterances
from seqtasks.data.registry import path_in_data_dir
from seqtasks.data.transcripts import Alphabet, normalize_transcript
from seqtasks.data.utterances import BadAudioReport, Utterance, UtteranceLoader, scan_for_scoring
from seqtasks.decoding.ctc import ctc_decode
from seqtasks.decoding.lexicon import Lexicon
from seqtasks.errors import ConfigError, DataError
from seqtasks.portable import PortableExport
from seqtasks.runtime.registry import register_task
from seqtasks.runtime.task import Task, copy_matching_weights
from seqtasks.tasks.speech_recognition.config import (
    SpeechRecognitionConfig,
    feature_kwargs,
    specaugment_kwargs,
)
from seqtasks.tasks.speech_recognition.data import (
    DATASETS,
    ConcatSource,
    DigitsSource,
    batches_dataset,
    pad_batch,
    read_sources,
    read_user_data,
)
from seqtasks.tasks.speech_recognition.export import SpeechRecognitionServing, speech_portable
from seqtasks.tasks.speech_recognition.model import CTCSpeechModel, conv_output_length
from seqtasks.tasks.speech_recognition.preprocessor import SpeechRecognitionPreprocessor
from seqtasks.tokenizers.phonemes import PhonemeAlphabet

if TYPE_CHECKING:
    from seqtasks.runtime.run_dir import RunDir

# Offsets that give the fixed validation/test utterances seeds of their own, unrelated to training epochs.
_VALIDATION_SEED, _TEST_SEED = 1_000_003, 2_000_003
# Stream of the per-epoch speed factors, apart from the batch order's.
_SPEED_SEED = 3_000_017
# The word list a run builds for itself (eval.lexicon=build), in its assets folder.
LEXICON_ASSET = "lexicon.tsv"
# Threads decoding the files of a batch (the decoders release the GIL); a progress line every this many files.
_READ_WORKERS = max(1, min(4, os.cpu_count() or 1))
_PROGRESS_EVERY = 2000


def _index_batches(indices: Sequence[int], lengths: Sequence[int], batch_size: int, seed: int | None = None
                   ) -> list[list[int]]:
    """`plan_batches` of the utterances `indices` (whose lengths are `lengths`), as lists of those indices."""
    return [[indices[j] for j in batch.tolist()] for batch in plan_batches(lengths, batch_size, seed)]


@register_task
class SpeechRecognitionTask(Task):
    """CTC speech recognition (see the module docstring)."""

    name = "speech_recognition"
    config_class = SpeechRecognitionConfig
    # The frequency warp and SpecAugment act only while training: a fine-tune may change them.
    finetune_free_model_keys = frozenset({
        "frequency_warp", "specaugment", "freq_masks", "freq_mask_width", "time_masks", "time_mask_width", "time_mask_ratio",
    })
    monitor = "val_cer"
    monitor_mode = "min"
    preprocessor_class = SpeechRecognitionPreprocessor

    def __init__(self, config: SpeechRecognitionConfig, run: RunDir) -> None:
        super().__init__(config, run)
        self.report = BadAudioReport()
        self.too_long: list[str] = []
        self._mode: str | None = None
        self._fsdd: dict[str, list[FSDDRecording]] = {}
        self._audio_cache: dict[Path, np.ndarray] = {}
        self.audio = AudioCache(config.data.audio_cache_mb, config.data.sample_rate)
        self._train: LazyUtterances | None = None
        self._extra_utterances: list[Utterance] = []
        self._extra: LazyUtterances | None = None  # digits mode: data.extra_train_path, scanned
        self._validation: LazyUtterances | DigitsSource | None = None
        self._test_utterances: list[Utterance] | ConnectedDigits | None = None
        self._decode_fns: dict[int, Callable] = {}
        self._evaluation_only = False  # prepare_evaluation_data: no synthetic speech, no training scan
        self._pronounced_lexicons: dict[tuple[str, float, float], Lexicon] = {}
        self._read_lexicons: dict[str, Lexicon] = {}
        self._check_decoding()  # before any training, not after it

    # ------------------------------------------------------------------------------------------- data

    @property
    def alphabet(self) -> Alphabet | None:
        """The output characters (the preprocessor's), or None before `prepare_data` / `load_preprocessor`."""
        return self.preprocessor.alphabet if isinstance(self.preprocessor, SpeechRecognitionPreprocessor) else None

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
        sources = read_sources(self.config.data, self.config.train.seed, synthetic=not self._evaluation_only)
        self._mode, self._fsdd, self._extra_utterances = sources.mode, sources.fsdd, sources.extra
        return sources.train, sources.validation, sources.test

    def prepare_data(self, source: Task | None = None) -> None:
        """Reads the utterance lists and scans the audio files' lengths (no audio is decoded here)."""
        train, validation, test = self._read_sources()
        # Connected digits: the characters of the ten digit words (and of data.extra_train_path).
        if train is not None:
            texts = [u.transcript for u in train]
        else:
            texts = [" ".join(DIGIT_WORDS), *(u.transcript for u in self._extra_utterances)]
        held_out = [u.transcript for u in (validation or []) + (test or [])]
        if self.config.data.targets == "phonemes" and source is None:
            # The phoneme classes come from the words' text (not their audio) of every split, so that no
            # validation or test word has a phoneme without an output class.
            texts = texts + held_out
        self.ready_preprocessor(texts, source)
        if isinstance(self.alphabet, PhonemeAlphabet) and held_out:
            self.preprocessor.alphabet = self.alphabet.with_words(w for text in held_out for w in text.split())
        if self._lexicon_name() == "build" and not self._evaluation_only:
            self._build_lexicon(held_out)
        d = self.config.data
        if self._mode == "digits":
            seed = self.config.train.seed
            self._validation = None
            if self._fsdd["validation"] and d.validation_utterances > 0:
                digits = self._digits("validation", d.validation_utterances, seed + _VALIDATION_SEED)
                self._validation = DigitsSource(self.alphabet, digits)
            self._test_utterances = self._digits("test", d.test_utterances, seed + _TEST_SEED)
            if self._extra_utterances and not self._evaluation_only:
                self._extra = self._scan(self._extra_utterances, "extra training", self._max_samples())
            return
        if not self._evaluation_only:
            self._train = self._scan(train, "training", self._max_samples())
            if not len(self._train):
                raise DataError(
                    "no usable training utterance is left after the bad-audio checks: " + self.report.summary())
        self._validation = self._scan(validation, "validation") if validation else None
        self._test_utterances = test

    def prepare_evaluation_data(self) -> None:
        """As `prepare_data`, without the synthetic sentences, `data.extra_train_path` and the scan of the training
        audio: scoring the validation / test split needs none of them (the split itself is drawn from the real data
        alone, and the alphabet is the run's saved one)."""
        self._evaluation_only = True
        try:
            self.prepare_data()
        finally:
            self._evaluation_only = False

    def _max_samples(self) -> int | None:
        seconds = self.config.data.max_seconds
        return max(1, int(seconds * self.sample_rate)) if seconds > 0 else None

    def _scan(self, utterances: list[Utterance], what: str, max_samples: int | None = None) -> LazyUtterances:
        """Checks `utterances` from their lengths (manifest durations or file headers) under the bad-audio policy."""
        d = self.config.data
        loader = UtteranceLoader(
            utterances, self.sample_rate, self.alphabet, output_frames=self.output_frames,
            on_bad_audio=d.on_bad_audio, max_samples=max_samples,
        )
        entries = loader.scan(progress=sys.stderr, every=_PROGRESS_EVERY, what=f"{what} data")
        if loader.report.count:
            print(f"{what} data: {loader.report.summary()}", file=sys.stderr, flush=True)
            self.report.problems.extend(loader.report.problems)
        if loader.too_long:
            print(f"{what} data: left out {len(loader.too_long)} utterance(s) as longer than {d.max_seconds:g} s "
                  "(data.max_seconds)", file=sys.stderr, flush=True)
            self.too_long.extend(loader.too_long)
        return LazyUtterances(entries, self.alphabet, self.audio, d.on_bad_audio, self.report, what)

    def _feasible(self, source: LazyUtterances | DigitsSource | ConcatSource, indices: Sequence[int]) -> list[int]:
        return [i for i in indices if self.output_frames(source.num_samples(i)) >= source.min_frames(i)]

    def speed_factors(self, epoch: int, count: int) -> np.ndarray | None:
        """The speed factor of each of `count` training utterances in `epoch` (`None` when perturbation is off).

        Element `i` is drawn from `data.speed_perturbation` by a generator seeded with `(train.seed, epoch)`, so
        a run and its resumed copy perturb every utterance alike.
        """
        choices = self.config.data.speed_perturbation
        if not choices:
            return None
        rng = np.random.default_rng([self.config.train.seed, epoch, _SPEED_SEED])
        return np.asarray(choices, np.float64)[rng.integers(len(choices), size=count)]

    def _perturbation(
        self, epoch: int, source: LazyUtterances | DigitsSource | ConcatSource, indices: Sequence[int]
    ) -> dict[int, float]:
        """Index -> speed factor for the utterances that get one other than 1.0 this epoch. A factor that would
        leave an utterance too few frames for its transcript is dropped (the utterance keeps its speed)."""
        drawn = self.speed_factors(epoch, len(source))
        factors: dict[int, float] = {}
        if drawn is None:
            return factors
        for i in indices:
            factor = float(drawn[i])
            if factor == 1.0:
                continue
            length = speed_perturbed_length(source.num_samples(i), factor, self.sample_rate)
            if self.output_frames(length) >= source.min_frames(i):
                factors[i] = factor
        return factors

    def _epoch(
        self, epoch: int
    ) -> tuple[LazyUtterances | DigitsSource | ConcatSource, list[list[int]], dict[int, float]]:
        """The training source of `epoch`, its planned batches and the speed factors other than 1.0; a pure
        function of `(train.seed, epoch)` and the scan, which batch-exact resume relies on."""
        seed = int(np.random.SeedSequence([self.config.train.seed, epoch]).generate_state(1)[0])
        if self._mode == "digits":
            source = DigitsSource(self.alphabet, self._digits("train", self.config.data.train_utterances, seed))
            indices = self._feasible(source, range(len(source)))
            max_samples = self._max_samples()
            if max_samples is not None:
                kept = [i for i in indices if source.num_samples(i) <= max_samples]
                if len(kept) < len(indices):
                    print(f"training data: left out {len(indices) - len(kept)} utterance(s) as longer than "
                          f"{self.config.data.max_seconds:g} s (data.max_seconds)", file=sys.stderr, flush=True)
                indices = kept
            if self._extra is not None and len(self._extra):
                indices += range(len(source), len(source) + len(self._extra))
                source = ConcatSource(source, self._extra)
        else:
            source = self._train
            indices = list(range(len(source)))
        factors = self._perturbation(epoch, source, indices)
        lengths = [
            speed_perturbed_length(source.num_samples(i), factors[i], self.sample_rate) if i in factors
            else source.num_samples(i)
            for i in indices
        ]
        batches = _index_batches(indices, lengths, self.config.train.batch_size, seed)
        return source, batches, factors

    def train_batches(self, epoch: int) -> tuple[list[list[int]], dict[int, float]]:
        """The planned batches (utterance indices) of `epoch` and the speed factors other than 1.0."""
        _, batches, factors = self._epoch(epoch)
        return batches, factors

    def train_dataset(self, epoch: int) -> tf.data.Dataset:
        return self._train_dataset(epoch, 0)

    def resumed_train_dataset(self, epoch: int, skip: int) -> tf.data.Dataset:
        # The skipped batches are never decoded (a tf.data skip would decode up to an epoch of audio for nothing).
        return self._train_dataset(epoch, skip)

    def _train_dataset(self, epoch: int, start: int) -> tf.data.Dataset:
        source, batches, factors = self._epoch(epoch)
        rate = self.sample_rate

        def example(i: int):
            pair = source.example(i)
            if pair is None or i not in factors:
                return pair
            return speed_perturb(pair[0], factors[i], rate), pair[1]

        start = min(start, len(batches))
        return batches_dataset(batches, example, workers=1 if self._mode == "digits" else _READ_WORKERS, start=start)

    def validation_dataset(self) -> tf.data.Dataset | None:
        if self._validation is None or len(self._validation) == 0:
            return None
        indices = self._feasible(self._validation, range(len(self._validation)))
        lengths = [self._validation.num_samples(i) for i in indices]
        batches = _index_batches(indices, lengths, self.config.eval.batch_size)
        workers = 1 if self._mode == "digits" else _READ_WORKERS
        return batches_dataset(batches, self._validation.example, workers=workers)

    # ------------------------------------------------------------------------------------------ model

    def build_model(self) -> keras.Model:
        m = self.config.model
        model = CTCSpeechModel(
            num_classes=self.alphabet.num_classes, sample_rate=self.sample_rate,
            features=feature_kwargs(m, self.sample_rate), specaugment=specaugment_kwargs(m),
            frequency_warp=m.frequency_warp,
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

    def lexicon(self) -> Lexicon | None:
        """The words decoding is constrained to (`eval.lexicon`, with `eval.lexicon_lm_weight` /
        `eval.lexicon_word_bonus`), or None for free spelling."""
        e = self.config.eval
        value = self._lexicon_name()
        if not value:
            if isinstance(self.alphabet, PhonemeAlphabet):  # whatever the config now says, the run outputs phonemes
                raise ConfigError("this run outputs phonemes (its alphabet.json), which only a word list turns into "
                                  "words; set eval.lexicon to a word list file, digits or build")
            return None
        if value == "build":
            value = str(self.run.assets / LEXICON_ASSET)
            if not Path(value).is_file():
                raise ConfigError(f"eval.lexicon=build: the run has no word list yet ({value}); it is built when "
                                  "the run trains. Fix: train the run, or give a word list file in eval.lexicon")
        if value == "digits":
            lexicon = Lexicon(tuple(DIGIT_WORDS), None, e.lexicon_lm_weight, e.lexicon_word_bonus)
        else:
            lexicon = dataclasses.replace(self._read_lexicon(value), lm_weight=e.lexicon_lm_weight,
                                          word_bonus=e.lexicon_word_bonus)
        if isinstance(self.alphabet, PhonemeAlphabet):
            key = (value, lexicon.lm_weight, lexicon.word_bonus)
            if key not in self._pronounced_lexicons:  # evaluate + export would convert and report it each time
                self._pronounced_lexicons[key] = self._pronounced(lexicon, value)
            lexicon = self._pronounced_lexicons[key]
        missing = sorted({c for w in lexicon.spelled for c in w if c not in self.alphabet.characters})
        if missing or " " not in self.alphabet.characters:
            raise ConfigError(
                f"eval.lexicon {value!r}: its words use characters the model cannot output ({''.join(missing)!r}), "
                "or the alphabet has no space; fix the word list or set eval.lexicon=''"
            )
        return lexicon

    def _lexicon_name(self) -> str:
        """`eval.lexicon` resolved: "auto" is "digits" for FSDD data without `eval.lm_path`, else ""."""
        e, d = self.config.eval, self.config.data
        value = e.lexicon.strip()
        if value == "auto":  # a closed vocabulary, unless a language model is given to decode open text
            value = "digits" if not d.path and d.dataset in DATASETS and not e.lm_path else ""
        return value

    def _check_decoding(self) -> None:
        """The lexicon settings, before anything runs: a word list that exists (or text to build one from); a
        phoneme model outputs words only through a lexicon (and a character LM has no phonemes)."""
        e = self.config.eval
        value = self._lexicon_name()
        if value == "build":
            if not e.lexicon_text:
                raise ConfigError("eval.lexicon=build counts the words of eval.lexicon_text, which is empty; give "
                                  "text files (e.g. --set 'eval.lexicon_text=[corpus.txt]')")
            if not (self.run.assets / LEXICON_ASSET).is_file():
                self._lexicon_texts()  # they will be read: each must exist
        elif value not in ("", "digits"):
            if not Path(value).expanduser().is_file():
                raise ConfigError(f"eval.lexicon: the word list {value} does not exist. Fix: build one (`python -m "
                                  "seqtasks.decoding.lexicon build`), set eval.lexicon=build with eval.lexicon_text, "
                                  "or set eval.lexicon=''")
            self._read_lexicon(value)  # a malformed list is refused now, not after the training
        if self.config.data.targets != "phonemes":
            return
        if self.config.eval.lm_path:
            raise ConfigError("eval.lm_path is a character LM, and data.targets=phonemes outputs phonemes; set "
                              "eval.lm_path='' and give the words (with counts) in eval.lexicon")
        if not self._lexicon_name():
            raise ConfigError(
                "data.targets=phonemes outputs words through a word list, and eval.lexicon gives none; set "
                "eval.lexicon to a file of words (`python -m seqtasks.decoding.lexicon build`) or to digits"
            )

    def _read_lexicon(self, path: str) -> Lexicon:
        """The word list file `path`, read once per task (the check before training and every decoder share it)."""
        if path not in self._read_lexicons:
            try:
                self._read_lexicons[path] = Lexicon.read(path)
            except DataError as error:
                raise ConfigError(f"eval.lexicon: {error}") from None
        return self._read_lexicons[path]

    def _lexicon_texts(self) -> list[Path]:
        """`eval.lexicon_text`, each as given or else under `data.data_dir`; a missing one is a ConfigError."""
        found = []
        root = Path(self.config.data.data_dir).expanduser() if self.config.data.data_dir else None
        for name in self.config.eval.lexicon_text:
            path = path_in_data_dir(name, root, Path.is_file)
            if not path.is_file():
                raise ConfigError(f"eval.lexicon_text: {name} does not exist (nor under data.data_dir "
                                  f"{self.config.data.data_dir!r}); fix the path or pass --data-dir")
            found.append(path)
        return found

    def _build_lexicon(self, held_out: Sequence[str]) -> None:
        """Builds `RUN/assets/lexicon.tsv` from `eval.lexicon_text` (once: a resumed or re-run training keeps it),
        without the sentences that contain a validation or test transcript."""
        from seqtasks.decoding.char_lm import DEFAULT_ALPHABET
        from seqtasks.decoding.lexicon import build_word_list

        path = self.run.assets / LEXICON_ASSET
        if path.is_file() or not self.is_writer:
            return
        texts = self._lexicon_texts()
        e = self.config.eval
        # A phoneme model's words are spelt by pronunciation: count words of plain letters.
        letters = DEFAULT_ALPHABET if isinstance(self.alphabet, PhonemeAlphabet) else "".join(self.alphabet.characters)
        path.parent.mkdir(parents=True, exist_ok=True)
        summary = build_word_list(texts, path, letters, top=e.lexicon_top, bigrams=e.lexicon_bigrams,
                                  min_pair_count=e.lexicon_min_pair_count, skip_header=True, exclude=held_out)
        print(f"lexicon (eval.lexicon=build): {summary}; {len(held_out)} validation/test transcripts left out",
              file=sys.stderr, flush=True)

    def _pronounced(self, lexicon: Lexicon, name: str) -> Lexicon:
        """`lexicon` spelt by its words' pronunciations in the model's phonemes (words without one left out)."""
        unnormalised = [w for w in lexicon.words if normalize_transcript(w) != w]
        if unnormalised:
            raise ConfigError(
                f"eval.lexicon {name!r}: {len(unnormalised)} words are not written as the transcripts are normalised "
                f"(lower case, no punctuation), e.g. {unnormalised[:3]!r}, so they could never match a reference. Fix: "
                "rebuild the list with `python -m seqtasks.decoding.lexicon build`"
            )
        alphabet = self.alphabet.with_words(lexicon.words)
        spellings = [alphabet.spell(w) for w in lexicon.words]
        kept = [k for k, spelling in enumerate(spellings) if spelling]
        if not kept:
            raise ConfigError(f"eval.lexicon {name!r}: no word has a pronunciation in the model's phonemes; check "
                              f"the word list's language against data.phoneme_voice ({alphabet.voice!r})")
        if len(kept) < len(spellings):
            print(f"lexicon: left out {len(spellings) - len(kept)} of {len(spellings)} words without a pronunciation "
                  "in the model's phonemes", file=sys.stderr, flush=True)
        position = {k: i for i, k in enumerate(kept)}
        position[-1] = -1  # the sentence start
        bigrams = None if lexicon.bigrams is None else tuple(
            (position[h], position[w], c) for h, w, c in lexicon.bigrams if h in position and w in position)
        return Lexicon(
            tuple(lexicon.words[k] for k in kept), None if lexicon.counts is None else tuple(lexicon.counts[k] for k in kept),
            lexicon.lm_weight, lexicon.word_bonus, tuple(spellings[k] for k in kept), bigrams, lexicon.sentences,
        )

    def _decoder(self, model: keras.Model) -> Callable[[tf.Tensor, tf.Tensor], list[str]]:
        """`decode(waveform, lengths) -> transcripts` as configured: in-graph lexicon/greedy/beam, or with
        `eval.lm_path` the model's logits in the graph and the LM beam search (`seqtasks.decoding.ctc_lm`) in numpy."""
        key = id(model)
        if key in self._decode_fns:
            return self._decode_fns[key]
        e = self.config.eval
        characters = list(self.alphabet.characters)
        lexicon = self.lexicon()
        if e.lm_path and isinstance(self.alphabet, PhonemeAlphabet):
            raise ConfigError("eval.lm_path is a character LM, and this run outputs phonemes; set eval.lm_path=''")
        if e.lm_path and lexicon:
            raise ConfigError("eval.lm_path and eval.lexicon both constrain decoding; set one (eval.lexicon='' keeps the LM)")
        if e.lm_path:
            from seqtasks.decoding.ctc_lm import CTCLMDecoder

            if e.decoder != "beam":
                raise ConfigError(f"eval.lm_path is used by the beam search only; set eval.decoder=beam (got {e.decoder!r})")
            lm_decoder = CTCLMDecoder.from_file(e.lm_path, characters, beam_width=e.beam_width,
                                                lm_weight=e.lm_weight, word_bonus=e.word_bonus)

            @tf.function(reduce_retracing=True)
            def logits(waveform, lengths):
                out = model({"waveform": waveform, "waveform_length": lengths}, training=False)
                return out["logits"], out["logit_lengths"]

            def decode(waveform, lengths):
                values, frames = logits(waveform, lengths)
                return lm_decoder(values.numpy(), frames.numpy())
        else:
            @tf.function(reduce_retracing=True)
            def graph_decode(waveform, lengths):
                out = model({"waveform": waveform, "waveform_length": lengths}, training=False)
                return ctc_decode(out["logits"], out["logit_lengths"], characters,
                                  method="lexicon" if lexicon else e.decoder, beam_width=e.beam_width, lexicon=lexicon)

            def decode(waveform, lengths):
                return [text.decode("utf-8") for text in graph_decode(waveform, lengths).numpy()]

        self._decode_fns[key] = decode
        return decode

    def transcribe(self, model: keras.Model, waveforms: Sequence[np.ndarray]) -> list[str]:
        """Transcripts of waveforms at the model's rate, decoded as configured (`eval.decoder`, `eval.lm_path`)."""
        decode = self._decoder(model)
        results: list[str] = [""] * len(waveforms)
        for batch in _index_batches(range(len(waveforms)), [w.size for w in waveforms], self.config.eval.batch_size):
            inputs, _ = pad_batch([waveforms[i] for i in batch], [[] for _ in batch])
            texts = decode(tf.constant(inputs["waveform"]), tf.constant(inputs["waveform_length"]))
            for i, text in zip(batch, texts, strict=True):
                results[i] = text
        return results

    def _evaluation_source(self, paths: Sequence[str] | None) -> tuple[LazyUtterances | DigitsSource, BadAudioReport]:
        """What `evaluate` scores, scanned (not decoded), and the report of the utterances left out."""
        report = BadAudioReport()
        if paths:
            utterances = read_user_data(paths, self.config.data.normalize_transcripts)
        else:
            if self._mode is None:
                self.prepare_data()
            if isinstance(self._test_utterances, ConnectedDigits):
                return DigitsSource(self.alphabet, self._test_utterances), report
            if self._test_utterances is not None:
                utterances = self._test_utterances
            elif isinstance(self._validation, LazyUtterances):
                utterances = self._validation.utterances
            else:
                raise DataError(
                    "no evaluation data: set data.test_path or data.validation_path, or pass files to evaluate"
                )
        d = self.config.data
        entries = scan_for_scoring(
            utterances, self.sample_rate, d.on_bad_audio, report, progress=sys.stderr, every=_PROGRESS_EVERY,
        )
        return LazyUtterances(entries, self.alphabet, self.audio, d.on_bad_audio, report, "evaluation"), report

    def evaluation_split(self) -> str:
        return "test"  # without paths, `evaluate` scores the test recordings

    def evaluate(self, model: keras.Model, paths: Sequence[str] | None = None) -> dict[str, float]:
        """CER and WER of the configured decoder; the audio is read batch by batch (never all at once)."""
        import jiwer

        source, report = self._evaluation_source(paths)
        lengths = [source.num_samples(i) for i in range(len(source))]
        references: list[str] = []
        hypotheses: list[str] = []
        for batch in _index_batches(range(len(source)), lengths, self.config.eval.batch_size):
            waveforms, texts = [], []
            for i in batch:
                waveform = source.waveform(i)
                if waveform is not None:  # None: undecodable, skipped and reported (data.on_bad_audio=skip)
                    waveforms.append(waveform)
                    texts.append(source.transcript(i))
            if waveforms:
                hypotheses.extend(self.transcribe(model, waveforms))
                references.extend(texts)
        if not references:
            raise DataError("no utterance to evaluate: " + report.summary())
        if report.count:
            print(f"evaluation data: {report.summary()}", file=sys.stderr, flush=True)
        return {
            "cer": float(jiwer.cer(references, hypotheses)),
            "wer": float(jiwer.wer(references, hypotheses)),
            "utterances": len(references),
            "skipped": report.count,
        }

    def predict(self, model: keras.Model, inputs: Sequence[str], out: TextIO) -> list[Any]:
        from seqtasks.diagnostics.alignment import plot_alignment

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

    def serving_module(self, model: keras.Model) -> SpeechRecognitionServing:
        """The `transcribe` / `transcribe_batch` SavedModel module (`export.py`), decoding as `eval.lexicon` /
        `eval.decoder` say."""
        lexicon = self.lexicon()
        return SpeechRecognitionServing(
            model, self.alphabet, decoder="lexicon" if lexicon else self.config.eval.decoder,
            beam_width=self.config.eval.beam_width, lexicon=lexicon,
        )

    def portable_export(self, model: keras.Model) -> PortableExport:
        """The LiteRT/ONNX export (`export.speech_portable`): waveforms -> logits in the model;
        resampling and the SavedModel's decoding (`eval.lexicon` / `eval.decoder`) in the runner."""
        lexicon = self.lexicon()
        return speech_portable(
            model, self.alphabet, decoder="lexicon" if lexicon else self.config.eval.decoder,
            beam_width=self.config.eval.beam_width, lexicon=lexicon,
        )

    # ---------------------------------------------------------------------------------- fine-tuning

    def finetune_from(self, model: keras.Model, source: Task, source_model: keras.Model) -> None:
        """Copies every weight; with an extended alphabet the output layer keeps the trained columns of the old
        characters and of the blank (which moves to the new last class) and starts the new ones fresh.

        Raises:
            ConfigError: a weight does not fit although the settings match (`finetune_incompatibilities`).
        """
        skipped = set(copy_matching_weights(source_model, model))
        old, new = source.alphabet, self.alphabet
        head = "kept"
        if old.size != new.size:
            kernel, bias = (w.numpy() for w in model.classifier.weights)
            src_kernel, src_bias = (w.numpy() for w in source_model.classifier.weights)
            kernel[:, : old.size], bias[: old.size] = src_kernel[:, : old.size], src_bias[: old.size]
            kernel[:, new.blank_index] = src_kernel[:, old.blank_index]
            bias[new.blank_index] = src_bias[old.blank_index]
            model.classifier.kernel.assign(kernel)
            model.classifier.bias.assign(bias)
            skipped -= {w.path for w in model.classifier.weights}
            head = f"extended by {new.size - old.size} characters ({''.join(new.characters[old.size:])!r})"
        if skipped:  # same config, yet a weight did not fit: never train on silently re-initialised layers
            raise ConfigError(
                f"finetune from {source.run.root}: weights {', '.join(sorted(skipped))} do not match the source "
                "model's. Fix: fine-tune with the seqtasks version that trained it, or train a new model"
            )
        print(f"Fine-tuning: copied all {len(model.weights)} weight tensors from {source.run.root}; output layer "
              f"{head}.", flush=True)

    def finetune_incompatibilities(self, source: Task) -> list[str]:
        """The model settings (augmentation and dropout may change) and the sample rate: the features the
        weights were trained on depend on it even where the shapes would match."""
        changed = super().finetune_incompatibilities(source)
        before, after = source.config.data.sample_rate, self.config.data.sample_rate
        if before != after:
            changed.insert(0, f"data.sample_rate ({before} -> {after})")
        before, after = source.config.data.targets, self.config.data.targets
        if before != after:
            changed.insert(0, f"data.targets ({before} -> {after})")
        return changed
