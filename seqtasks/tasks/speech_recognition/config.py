"""Configuration schema of the `speech_recognition` task (sections data / model / train / eval / export / predict).

Value ranges are checked by the shared schema (`seqtasks.config.VALUE_RANGES`, by key name) as each value is
set; `SpeechRecognitionDataConfig.check` checks the keys that depend on each other.

`recipes/configs/speech_recognition.yaml` restates every key with its comment; the defaults here are the ones
that reach the FSDD connected-digits target on a 2-core CPU.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from seqtasks.config import (
    DataConfig,
    EvalConfig,
    ExportConfig,
    ModelConfig,
    RunConfig,
    TrainConfig,
)
from seqtasks.data.synthetic_speech import DEFAULT_VOICES, check_settings
from seqtasks.errors import ConfigError


@dataclass
class SpeechRecognitionDataConfig(DataConfig):
    """Where the utterances come from (inherits dataset, path, data_dir, tfds_data_dir)."""

    # Named dataset when `path` is empty: "fsdd_connected_digits" (1-7 FSDD digits of one speaker joined,
    # transcribed as words), "fsdd" (single FSDD digits), a tensorflow-datasets speech set ("librispeech",
    # "ljspeech", "spoken_digit", or any "tfds:NAME[/CONFIG]"; downloaded once, cached as audio files + manifests).
    # Your own data: set `path` (manifests or folders).
    dataset: str = "fsdd_connected_digits"
    # tensorflow-datasets sets: split names/slices for train, validation and test ("" = the dataset's preset,
    # e.g. librispeech train_clean100 / dev_clean / test_clean; ljspeech has one split, cut 90/5/5 %).
    tfds_train_split: str = ""
    tfds_validation_split: str = ""
    tfds_test_split: str = ""
    # tensorflow-datasets sets: feature holding the audio and the transcript ("" = the preset, else detected).
    tfds_audio_key: str = ""
    tfds_text_key: str = ""
    # Decoded audio kept in memory between epochs, in MiB (files are only scanned before training and read
    # lazily, batch by batch; least recently used files leave first; 0 = re-read every time). A dataset that
    # fits is decoded and resampled once; float32 at sample_rate: one hour at 16 kHz is about 220 MiB.
    audio_cache_mb: int = 1024
    # Training utterances longer than this many seconds (before speed perturbation) are left out and counted
    # apart from bad audio; 0 = keep all. Validation and test data are kept whole.
    max_seconds: float = 0.0
    # Speed perturbation while training (Ko et al. 2015): every epoch each training utterance is resampled by a
    # factor drawn from this list (seeded by train.seed and the epoch, so resume is exact), e.g. [0.9, 1.0, 1.1];
    # 1.1 = 10 % faster and shorter; factors in (0, 2]; [] = off.
    speed_perturbation: list[float] = field(default_factory=list)
    # Synthetic training speech (`seqtasks.data.synthetic_speech`, needs espeak-ng): this many English sentences
    # rendered once by espeak-ng (16 kHz WAV + manifest, cached under $SEQTASKS_CACHE_DIR/synthetic_speech/) and
    # added to the training data only, after the real data is split (validation and test stay real); 0 = off.
    synthetic_sentences: int = 0
    # Where the sentences come from: text files/folders (.tsv: the first column; other files: one sentence per
    # line); [] = the English side of the Tatoeba pairs (<data_dir>/translation/eng-fra.tsv). Kept: 3-25 words
    # of [a-z' ] after normalisation, none equal to a transcript of the real train/validation/test data.
    synthetic_text: list[str] = field(default_factory=list)
    # espeak-ng voices, LANGUAGE[+VARIANT] (`espeak-ng --voices=en`, `--voices=variant`); each sentence gets one.
    synthetic_voices: list[str] = field(default_factory=lambda: list(DEFAULT_VOICES))
    # Speaking rate (words per minute, 80-450) and pitch (0-99) as ranges [low, high]: each sentence draws an
    # integer from each, uniformly.
    synthetic_rates: list[int] = field(default_factory=lambda: [140, 190])
    synthetic_pitches: list[int] = field(default_factory=lambda: [30, 70])
    # Seed of the sentence sample and of each sentence's voice, rate and pitch (a new seed renders a new set).
    synthetic_seed: int = 0
    # More training speech for any dataset, never split off for validation or test: manifests and folders as in
    # `path`, every utterance in every epoch, next to the generated connected digits too (other voices and words);
    # a relative path that does not exist is looked up under data_dir. Their characters join the alphabet; the
    # digits lexicon still decodes connected digits.
    extra_train_path: list[str] = field(default_factory=list)
    # FSDD folder (holding recordings/ or the .wav files); "" = <data_dir>/fsdd, with data_dir from --data-dir
    # or $SEQTASKS_DATA_DIR.
    fsdd_dir: str = ""
    # Sample rate the model works at; every file is resampled to it on reading (8000 = FSDD's own rate).
    sample_rate: int = 8000
    # Validation manifests/folders for your own data; [] = hold out `validation_fraction` of `path`.
    validation_path: list[str] = field(default_factory=list)
    # Fraction of `path` held out (seeded) for validation when `validation_path` is empty.
    validation_fraction: float = 0.1
    # Test manifests/folders scored by `evaluate` after training; [] = hold out `test_fraction` of `path`.
    test_path: list[str] = field(default_factory=list)
    # Fraction of `path` held out (seeded, disjoint from validation) for testing when `test_path` is empty;
    # 0 = test on the validation data (which also picks the best epoch: an optimistic test).
    test_fraction: float = 0.0
    # Bad audio (unreadable, empty, too short for its transcript under CTC, characters outside the alphabet):
    # "fail" stops with the file name; "skip" drops it and reports the count and the files.
    on_bad_audio: Literal["fail", "skip"] = "fail"
    # What the network outputs: "characters" (the transcripts' letters) or "phonemes" (each word's phonemes by
    # espeak-ng, `seqtasks.tokenizers.phonemes`: needs espeak-ng; words come back through eval.lexicon, whose words
    # are spelt by their pronunciations). Phonemes suit little training audio: the model learns sounds, not spelling.
    targets: Literal["characters", "phonemes"] = "characters"
    # espeak-ng voice that converts words to phonemes (data.targets=phonemes), e.g. "en-gb" or "en-us".
    phoneme_voice: str = "en-gb"
    # Output characters; "" = every character of the training transcripts (after normalisation). Not with phonemes.
    alphabet: str = ""
    # Lower-case transcripts and strip punctuation (apostrophes kept) before training and scoring.
    normalize_transcripts: bool = True
    # Fine-tuning data with characters the source model lacks: "error" (name them), or "extend" (new output
    # classes, initialised fresh; the other classes keep their trained weights).
    new_characters: Literal["error", "extend"] = "error"
    # Connected digits: utterances per training epoch (freshly generated every epoch, seeded).
    train_utterances: int = 3000
    # Connected digits: validation utterances (fixed), from the recordings with `validation_indices`.
    validation_utterances: int = 200
    # Connected digits: test utterances (fixed), only from the FSDD test recordings (index 0-4).
    test_utterances: int = 500
    # FSDD recording indices used for validation (the test indices 0-4 are excluded); [] = no validation.
    validation_indices: list[int] = field(default_factory=lambda: [5, 6, 7, 8, 9])
    # FSDD speakers held out for testing (unseen speakers): every recording of theirs is test data, the others'
    # train and validate; [] = the official split (indices 0-4 of every speaker are test data).
    test_speakers: list[str] = field(default_factory=list)
    # Connected digits: fewest and most digits per utterance.
    min_digits: int = 1
    max_digits: int = 7
    # Connected digits: longest silence between two digits, and before/after the utterance, in seconds.
    max_gap_seconds: float = 0.4
    # Connected digits: each recording's gain is drawn uniformly in [-gain_db, +gain_db] dB.
    gain_db: float = 6.0

    def check(self) -> None:
        """Checks across keys (each key's range is checked as it is set: `seqtasks.config.VALUE_RANGES`)."""
        if self.synthetic_sentences > 0:
            if not self.normalize_transcripts:
                raise ConfigError(
                    "data.synthetic_sentences needs data.normalize_transcripts=true (the synthetic transcripts are "
                    "normalised; raw real transcripts would give the same words two spellings)"
                )
            check_settings(self.synthetic_voices, self.synthetic_rates, self.synthetic_pitches)
        if self.targets == "phonemes":
            from seqtasks.tokenizers.phonemes import check_voice

            check_voice(self.phoneme_voice)
            if self.alphabet or not self.normalize_transcripts:
                raise ConfigError(
                    "data.targets=phonemes takes its classes from the pronunciations: set data.alphabet='' and "
                    "data.normalize_transcripts=true (words are looked up as normalised text)"
                )
        if self.validation_fraction + self.test_fraction >= 1.0:
            raise ConfigError(
                f"data.validation_fraction + data.test_fraction must be < 1 (the rest trains), got "
                f"{self.validation_fraction} + {self.test_fraction}"
            )


@dataclass
class SpeechRecognitionModelConfig(ModelConfig):
    """Features, augmentation and network."""

    # Acoustic features computed inside the model: "log_mel" or "mfcc".
    features: Literal["log_mel", "mfcc"] = "log_mel"
    # Analysis window and hop in milliseconds (converted to samples at data.sample_rate).
    window_ms: float = 25.0
    hop_ms: float = 10.0
    # FFT size in samples; 0 = the next power of two >= the window.
    n_fft: int = 0
    # Mel bands, and their frequency range in Hz (fmax 0 = Nyquist).
    n_mels: int = 40
    fmin: float = 20.0
    fmax: float = 0.0
    # Mel scale: HTK formula (true) or Slaney's (false); Slaney area normalisation of the filters.
    htk: bool = False
    mel_norm: Literal["slaney", "none"] = "slaney"
    # Log compression: "natural" = ln(mel + log_offset); "db" = librosa's power_to_db (80 dB range).
    log: Literal["natural", "db"] = "natural"
    log_offset: float = 1.0e-6
    # MFCCs kept (features = "mfcc").
    n_mfcc: int = 13
    # Per-utterance mean and variance normalisation of every feature channel.
    normalize_features: bool = True
    # SpecAugment while training: masks per utterance and the largest mask widths (channels / frames);
    # a time mask covers at most time_mask_ratio of the utterance.
    specaugment: bool = True
    freq_masks: int = 2
    freq_mask_width: int = 6
    time_masks: int = 2
    time_mask_width: int = 10
    time_mask_ratio: float = 0.1
    # Vocal tract length perturbation while training (`seqtasks.audio.frequency_warp`): each utterance's mel axis is
    # stretched by a random factor in [1 - frequency_warp, 1 + frequency_warp]; 0 = off. log_mel features only.
    frequency_warp: float = 0.0
    # Convolutional front end: channels per layer ([] = none), odd kernel size, time and frequency strides.
    # The product of conv_time_strides is the time subsampling of the CTC output.
    conv_filters: list[int] = field(default_factory=lambda: [32, 32])
    conv_kernel_size: int = 3
    conv_time_strides: list[int] = field(default_factory=lambda: [3, 1])
    conv_freq_strides: list[int] = field(default_factory=lambda: [2, 2])
    # Bidirectional recurrent stack: cell type, units per direction, layers.
    cell_type: Literal["gru", "lstm"] = "gru"
    units: int = 128
    num_layers: int = 2
    # Dropout between recurrent layers and before the output layer; recurrent dropout inside the cells
    # (slower: disables fused kernels); residual connections between layers of equal width.
    dropout: float = 0.1
    recurrent_dropout: float = 0.0
    residual: bool = False

    def check(self) -> None:
        """Checks across keys (single values: `seqtasks.config.VALUE_RANGES`)."""
        if self.frequency_warp and self.features != "log_mel":
            raise ConfigError("model.frequency_warp stretches mel bands; set model.features=log_mel or "
                              "model.frequency_warp=0")


@dataclass
class SpeechRecognitionTrainConfig(TrainConfig):
    """Shared training knobs with speech defaults."""

    batch_size: int = 32
    epochs: int = 40
    # Wall-clock budget of the default config (the FSDD target is "within 20 minutes on a 2-core CPU").
    max_minutes: float = 20.0
    learning_rate: float = 2.0e-3
    early_stopping_patience: int = 6
    checkpoint_every_steps: int = 200


@dataclass
class SpeechRecognitionEvalConfig(EvalConfig):
    """Evaluation and decoding (also used by predict and the exported model)."""

    batch_size: int = 32
    # CTC decoding when no lexicon applies: "greedy" (best path) or "beam" (prefix beam search, no language model).
    decoder: Literal["greedy", "beam"] = "beam"
    # Words the decoder may output (evaluate, predict and the exported graph): "auto" = the ten digit words when the
    # data is FSDD (a closed vocabulary) and no `lm_path` is given, none otherwise; "" = none (free spelling); "digits"; or a text file of
    # words, one per line, optionally with a count after each (`word<TAB>count`: a unigram LM; `python -m
    # seqtasks.decoding.lexicon build` writes one from text files). With a lexicon, decoding is the best CTC path
    # through those words (`seqtasks.decoding.lexicon`: a prefix tree, tens of thousands of words are fine).
    # "build": the run builds its own list when it trains, from `lexicon_text` (RUN/assets/lexicon.tsv), leaving
    # out every sentence that contains a validation or test transcript.
    lexicon: str = "auto"
    # With counts in the lexicon file: weight of log P(word) (or of log P(word | previous word) with word pairs)
    # and a bonus per word in the path score.
    lexicon_lm_weight: float = 0.5
    lexicon_word_bonus: float = 0.0
    # lexicon=build: text files to count (.tsv: the first column, .csv: the transcript column, each after a header
    # line; a relative path that does not exist is looked up under data.data_dir), the most frequent words kept,
    # and word pairs seen at least lexicon_min_pair_count times (a bigram LM; lexicon_bigrams=false: words only).
    lexicon_text: list[str] = field(default_factory=list)
    lexicon_top: int = 20000
    lexicon_bigrams: bool = True
    lexicon_min_pair_count: int = 2
    # Beams kept by the beam search decoder.
    beam_width: int = 8
    # Character n-gram LM (`python -m seqtasks.decoding.char_lm build ...`) fused into the beam search of
    # evaluate and predict (not of the exported SavedModel, which decodes in the graph without it); "" = none.
    lm_path: str = ""
    # Weight of the LM's log-probability and the bonus per word in the beam ranking (used with lm_path).
    lm_weight: float = 0.25
    word_bonus: float = 2.0


@dataclass
class SpeechRecognitionPredictConfig:
    """`seqtasks predict` outputs."""

    # Folder (relative to the run directory) for one PNG per input file: spectrogram + CTC alignment;
    # "" = no plots.
    alignment_dir: str = "alignments"


@dataclass
class SpeechRecognitionConfig(RunConfig):
    """The run config of `--task speech_recognition`."""

    # Utterances: dataset or own manifests/folders, splits, bad-audio policy, alphabet, augmentation.
    data: SpeechRecognitionDataConfig = field(default_factory=SpeechRecognitionDataConfig)
    # Features, SpecAugment, conv front end and recurrent stack.
    model: SpeechRecognitionModelConfig = field(default_factory=SpeechRecognitionModelConfig)
    # Training loop (shared keys, speech defaults).
    train: SpeechRecognitionTrainConfig = field(default_factory=SpeechRecognitionTrainConfig)
    # Scoring and CTC decoding (also of predict and the export).
    eval: SpeechRecognitionEvalConfig = field(default_factory=SpeechRecognitionEvalConfig)
    # SavedModel export (shared keys).
    export: ExportConfig = field(default_factory=ExportConfig)
    # `seqtasks predict` outputs.
    predict: SpeechRecognitionPredictConfig = field(default_factory=SpeechRecognitionPredictConfig)


def feature_kwargs(model: SpeechRecognitionModelConfig, sample_rate: int) -> dict:
    """`AudioFeatures` keyword arguments (besides `sample_rate`) for a model config at `sample_rate`."""
    win_length = max(1, int(round(model.window_ms * sample_rate / 1000.0)))
    hop_length = max(1, int(round(model.hop_ms * sample_rate / 1000.0)))
    n_fft = model.n_fft or 1 << (win_length - 1).bit_length()
    if n_fft < win_length:
        raise ConfigError(
            f"model.n_fft={n_fft} is shorter than the {model.window_ms} ms window ({win_length} samples at "
            f"{sample_rate} Hz); set model.n_fft=0 or >= {win_length}"
        )
    return {
        "kind": model.features, "n_fft": n_fft, "hop_length": hop_length, "win_length": win_length,
        "n_mels": model.n_mels, "fmin": model.fmin, "fmax": model.fmax or None, "htk": model.htk,
        "mel_norm": None if model.mel_norm == "none" else model.mel_norm, "log": model.log,
        "log_offset": model.log_offset, "n_mfcc": model.n_mfcc, "normalize": model.normalize_features,
    }


def specaugment_kwargs(model: SpeechRecognitionModelConfig) -> dict | None:
    """`SpecAugment` keyword arguments, or None when it is off."""
    if not model.specaugment:
        return None
    return {
        "freq_mask_param": model.freq_mask_width, "num_freq_masks": model.freq_masks,
        "time_mask_param": model.time_mask_width, "num_time_masks": model.time_masks,
        "time_mask_ratio": model.time_mask_ratio,
    }
