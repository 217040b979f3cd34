"""Synthetic speech: English sentences rendered by the espeak-ng text-to-speech engine, cached as a manifest.

The speech task adds these utterances to its training data (`data.synthetic_sentences`); this module only makes
the files. Steps:

1. `sentence_candidates`: sentences from English text (a `.tsv` file's first column, e.g. the Tatoeba pairs, or
   every line of other files), normalised exactly like training transcripts (`normalize_transcript`) and kept
   when they are 3-25 words of `[a-z' ]` only, speakable as written (no digits, symbols, abbreviations or
   acronyms that espeak-ng would expand into other words), not equal to an excluded transcript (the real data's
   train, validation and test transcripts: never train on test sentences), deduplicated.
2. `plan_renderings`: a seeded sample of N of them, each with a voice, rate and pitch drawn by a generator seeded
   with the seed and the sentence, so a sentence sounds the same in every sample that holds it.
3. `render`: `espeak-ng -v VOICE -s RATE -p PITCH -w OUT.wav TEXT` per sentence (at most 2 at a time), resampled
   to 16 kHz mono 16-bit WAV, into `cache_dir("synthetic_speech")/<hash of the plan>/`, then `manifest.csv`
   (`path,transcript,duration`, paths relative to it) and a `.complete` marker. Every file is written to a
   temporary name and renamed, so a killed render leaves only whole files, and the next call renders only the
   missing ones. A complete folder is reused without espeak-ng.

`synthetic_manifest` does all three from a config's sentence source.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
import soundfile

from seqtasks.data.cache import cache_dir
from seqtasks.data.text import read_text_file, text_files
from seqtasks.data.transcripts import normalize_transcript
from seqtasks.errors import ConfigError, DataError

CACHE_NAME = "synthetic_speech"
ESPEAK = "espeak-ng"
INSTALL_HINT = "apt-get install espeak-ng (or `make install`, which installs it)"
SAMPLE_RATE = 16000
# espeak-ng is one process per sentence; more than two would crowd a 2-core machine that is also training.
MAX_WORKERS = 2
MIN_WORDS, MAX_WORDS = 3, 25
# Male and female variants of American, British, Scottish, Received Pronunciation and Caribbean English.
DEFAULT_VOICES = (
    "en-us", "en-us+f2", "en-us+m3", "en-us+f4", "en-gb", "en-gb+f3", "en+m7", "en+f5",
    "en-gb-scotland", "en-gb-scotland+f2", "en-gb-x-rp+m4", "en-029+f3",
)
RATE_LIMITS = (80, 450)  # espeak-ng words per minute
PITCH_LIMITS = (0, 99)
MANIFEST = "manifest.csv"
COMPLETE = ".complete"
PLAN = "plan.jsonl"
# Bump when the rendering changes, so that old cache folders are not reused.
_FORMAT_VERSION = 1
_PROGRESS_EVERY = 500
_VOICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\+[A-Za-z0-9][A-Za-z0-9_-]*)?$")
# Characters a sentence may hold as written: letters, apostrophes, spaces and sentence punctuation that
# espeak-ng does not read aloud (it reads "&", "%", "$", digits ... as words the transcript would lack).
_SPEAKABLE = re.compile(r"^[A-Za-z' .,!?;:\"()\-\u2018\u2019\u201c\u201d\u2013\u2014\u2026]+$")
_ACRONYM = re.compile(r"[A-Z][A-Z]")
# Abbreviations espeak-ng expands ("Mr." -> "mister"), which the transcript would keep short.
_ABBREVIATIONS = frozenset({"mr", "mrs", "ms", "dr", "st", "jr", "sr", "vs", "etc", "eg", "ie", "prof", "mt", "ft"})
_ALLOWED = frozenset("abcdefghijklmnopqrstuvwxyz' ")


@dataclass(frozen=True)
class Rendering:
    """One sentence to render: what espeak-ng reads (`text`), its transcript and the voice settings.

    Attributes:
        text: the sentence as written (its punctuation shapes the intonation).
        transcript: `normalize_transcript(text)`, the training target.
        voice: espeak-ng voice, `LANGUAGE[+VARIANT]`, e.g. `en-us+f2`.
        rate: words per minute (`-s`).
        pitch: 0-99 (`-p`).
    """

    text: str
    transcript: str
    voice: str
    rate: int
    pitch: int


def espeak_binary() -> str:
    """The espeak-ng executable on PATH.

    Raises:
        ConfigError: espeak-ng is not installed (one line naming the fix).
    """
    found = shutil.which(ESPEAK)
    if found is None:
        raise ConfigError(
            f"synthetic speech (data.synthetic_sentences) needs {ESPEAK}, which is not on PATH; install it: "
            f"{INSTALL_HINT}, or set data.synthetic_sentences=0"
        )
    return found


def check_settings(voices: Sequence[str], rates: Sequence[int], pitches: Sequence[int]) -> None:
    """Raises a one-line `ConfigError` for a malformed voice name or a rate / pitch range that is not
    `[low, high]` within espeak-ng's limits (the values themselves are checked by the config schema too)."""
    if not voices:
        raise ConfigError("data.synthetic_voices is empty; give at least one espeak-ng voice, e.g. [en-us, en-gb+f3]")
    for voice in voices:
        if not isinstance(voice, str) or not _VOICE_NAME.match(voice):
            raise ConfigError(
                f"data.synthetic_voices: {voice!r} is not an espeak-ng voice name (LANGUAGE or LANGUAGE+VARIANT, "
                "e.g. en-us or en+f3; list them with `espeak-ng --voices=en` and `--voices=variant`)"
            )
    for key, values, (low, high) in (("synthetic_rates", rates, RATE_LIMITS), ("synthetic_pitches", pitches, PITCH_LIMITS)):
        if len(values) != 2 or not all(isinstance(v, int) and low <= v <= high for v in values) or values[0] > values[1]:
            raise ConfigError(
                f"data.{key} must be a range [low, high] of integers with {low} <= low <= high <= {high}, got "
                f"{list(values)}"
            )


def read_sentences(paths: Iterable[str | os.PathLike]) -> list[str]:
    """The raw sentences of text files and folders: the first column of `.tsv` files (the English side of the
    Tatoeba pairs), every non-empty line of other files."""
    sentences: list[str] = []
    for path in text_files(paths):
        tsv = path.suffix.lower() == ".tsv" or path.name == "fra.txt"
        for line in read_text_file(path).split("\n"):
            text = line.split("\t", 1)[0] if tsv else line
            if text.strip():
                sentences.append(text.strip())
    return sentences


def speakable_transcript(text: str) -> str | None:
    """The training transcript of a raw sentence, or None when the sentence is left out (see the module
    docstring, step 1)."""
    text = unicodedata.normalize("NFKC", text).strip()
    if not _SPEAKABLE.match(text) or _ACRONYM.search(text):
        return None
    transcript = normalize_transcript(text)
    words = transcript.split()
    if not MIN_WORDS <= len(words) <= MAX_WORDS or not set(transcript) <= _ALLOWED:
        return None
    # A leading or doubled apostrophe is a quotation mark, which the transcript would keep as a character.
    if any(w.startswith("'") or "''" in w or w.strip("'") in _ABBREVIATIONS for w in words):
        return None
    return transcript


def sentence_candidates(sentences: Iterable[str], exclude: Iterable[str] = ()) -> list[tuple[str, str]]:
    """`(text, transcript)` of every usable sentence, first occurrence of each transcript, in order.

    Args:
        sentences: raw sentences.
        exclude: transcripts (normalised here) that no candidate may equal, e.g. every transcript of the real
            training, validation and test data.
    """
    seen = {normalize_transcript(t) for t in exclude}
    candidates = []
    for text in sentences:
        transcript = speakable_transcript(text)
        if transcript is not None and transcript not in seen:
            seen.add(transcript)
            candidates.append((" ".join(text.split()), transcript))
    return candidates


def _sentence_rng(seed: int, transcript: str) -> np.random.Generator:
    digest = hashlib.sha256(transcript.encode("utf-8")).digest()
    return np.random.default_rng([seed, int.from_bytes(digest[:8], "little")])


def plan_renderings(
    candidates: Sequence[tuple[str, str]],
    count: int,
    *,
    voices: Sequence[str] = DEFAULT_VOICES,
    rates: Sequence[int] = (140, 190),
    pitches: Sequence[int] = (30, 70),
    seed: int = 0,
) -> list[Rendering]:
    """A seeded sample of `count` candidates (all of them when there are fewer), in candidate order, each with
    a voice, rate and pitch drawn uniformly (rate and pitch from the inclusive ranges `[low, high]`)."""
    check_settings(voices, rates, pitches)
    chosen = np.random.default_rng(seed).choice(len(candidates), size=min(count, len(candidates)), replace=False)
    plan = []
    for index in sorted(chosen.tolist()):
        text, transcript = candidates[index]
        rng = _sentence_rng(seed, transcript)
        plan.append(Rendering(
            text=text, transcript=transcript, voice=voices[int(rng.integers(len(voices)))],
            rate=int(rng.integers(rates[0], rates[1] + 1)), pitch=int(rng.integers(pitches[0], pitches[1] + 1)),
        ))
    return plan


def plan_folder(plan: Sequence[Rendering], sample_rate: int = SAMPLE_RATE) -> Path:
    """The cache folder of `plan`: `cache_dir("synthetic_speech")/<hash of the plan and the sample rate>`."""
    payload = json.dumps(
        {"version": _FORMAT_VERSION, "sample_rate": sample_rate,
         "plan": [[r.text, r.transcript, r.voice, r.rate, r.pitch] for r in plan]},
        ensure_ascii=False, separators=(",", ":"),
    )
    return cache_dir(CACHE_NAME) / hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]


def _file_name(index: int) -> str:
    return f"{index:06d}.wav"


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def check_voices(espeak: str, voices: Sequence[str]) -> None:
    """Raises a one-line `ConfigError` naming a voice espeak-ng does not have (an unknown variant would
    otherwise fall back to the default voice without a word)."""
    listing = subprocess.run([espeak, "--voices=variant"], capture_output=True, text=True, check=False).stdout
    variants = {line.split()[4].rsplit("/", 1)[-1].lower() for line in listing.splitlines()[1:] if len(line.split()) > 4}
    for voice in dict.fromkeys(voices):
        language, _, variant = voice.partition("+")
        failed = subprocess.run([espeak, "-q", "-v", language, "a"], capture_output=True, check=False).returncode != 0
        if failed or (variant and variants and variant.lower() not in variants):
            what = f"language {language!r}" if failed else f"variant {variant!r}"
            raise ConfigError(
                f"data.synthetic_voices: espeak-ng has no {what} (in {voice!r}); list them with "
                "`espeak-ng --voices=en` and `espeak-ng --voices=variant`"
            )


def render_one(espeak: str, rendering: Rendering, path: Path, sample_rate: int = SAMPLE_RATE) -> None:
    """Renders one sentence into `path` (16-bit mono WAV at `sample_rate`), through a temporary file and a rename.

    Raises:
        DataError: espeak-ng fails or produces no audio.
    """
    from seqtasks.audio.io import resample_waveform

    fd, raw_name = tempfile.mkstemp(prefix=f".{path.stem}.", suffix=".espeak.tmp", dir=path.parent)
    os.close(fd)
    raw, tmp = Path(raw_name), path.with_name(f".{path.stem}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    try:
        command = [espeak, "-v", rendering.voice, "-s", str(rendering.rate), "-p", str(rendering.pitch),
                   "-w", str(raw), "--", rendering.text]
        result = subprocess.run(command, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            message = (result.stderr.strip().splitlines() or ["no message"])[-1]
            raise DataError(f"espeak-ng failed (exit {result.returncode}: {message}) on {rendering.text!r} "
                            f"with voice {rendering.voice}; check data.synthetic_voices")
        try:
            audio, rate = soundfile.read(raw, dtype="float32", always_2d=True)
        except (RuntimeError, soundfile.LibsndfileError) as error:
            raise DataError(f"espeak-ng wrote no readable audio for {rendering.text!r} ({error})") from None
        audio = audio.mean(axis=1)
        if audio.size == 0:
            raise DataError(f"espeak-ng wrote empty audio for {rendering.text!r} with voice {rendering.voice}")
        if rate != sample_rate:
            audio = resample_waveform(audio, rate, sample_rate)
        soundfile.write(tmp, np.clip(audio, -1.0, 1.0), sample_rate, subtype="PCM_16", format="WAV")
        os.replace(tmp, path)
    finally:
        raw.unlink(missing_ok=True)
        tmp.unlink(missing_ok=True)


def render(
    plan: Sequence[Rendering],
    folder: str | os.PathLike | None = None,
    *,
    sample_rate: int = SAMPLE_RATE,
    workers: int = MAX_WORKERS,
    progress: TextIO | None = None,
) -> Path:
    """Renders `plan` into `folder` (default `plan_folder(plan)`) and returns its `manifest.csv`.

    Resumable: sentences whose file exists are not rendered again, and a complete folder (`.complete`) is
    returned at once, without espeak-ng.

    Args:
        plan: the sentences and their voices (`plan_renderings`).
        folder: the output folder.
        sample_rate: of the written files.
        workers: espeak-ng processes at a time (at most `MAX_WORKERS`).
        progress: where the progress lines go (None = standard error).

    Raises:
        ConfigError: espeak-ng is missing, or a voice is unknown.
        DataError: an empty plan, or espeak-ng fails on a sentence.
    """
    if not plan:
        raise DataError("no sentence to render: the sentence source has no usable sentence (3-25 words of "
                        "a-z, apostrophes and spaces, none equal to a transcript of the real data)")
    folder = Path(folder) if folder is not None else plan_folder(plan, sample_rate)
    manifest = folder / MANIFEST
    if (folder / COMPLETE).is_file() and manifest.is_file():
        return manifest
    progress = progress or sys.stderr
    espeak = espeak_binary()
    check_voices(espeak, sorted({r.voice for r in plan}))
    folder.mkdir(parents=True, exist_ok=True)
    for leftover in folder.glob(".*.tmp"):  # a killed render's partial files
        leftover.unlink(missing_ok=True)
    _write_atomically(folder / PLAN, "".join(
        json.dumps({"path": _file_name(i), "text": r.text, "transcript": r.transcript, "voice": r.voice,
                    "rate": r.rate, "pitch": r.pitch}, ensure_ascii=False) + "\n"
        for i, r in enumerate(plan)
    ))
    missing = [i for i in range(len(plan)) if not (folder / _file_name(i)).is_file()]
    if missing:
        resumed = f" (resuming: {len(plan) - len(missing)} already there)" if len(missing) < len(plan) else ""
        print(f"synthetic speech: rendering {len(missing)} sentences with espeak-ng into {folder}{resumed}",
              file=progress, flush=True)

    def one(index: int) -> None:
        render_one(espeak, plan[index], folder / _file_name(index), sample_rate)

    pool = ThreadPoolExecutor(max(1, min(workers, MAX_WORKERS)), thread_name_prefix="espeak")
    try:
        for done, _ in enumerate(pool.map(one, missing), start=1):
            if done % _PROGRESS_EVERY == 0:
                print(f"synthetic speech: {done}/{len(missing)} rendered", file=progress, flush=True)
    finally:  # on an error (or Ctrl-C) the queued sentences are dropped, not rendered first
        pool.shutdown(wait=True, cancel_futures=True)
    rows = io.StringIO(newline="")
    writer = csv.writer(rows, lineterminator="\n")
    writer.writerow(["path", "transcript", "duration"])
    for i, r in enumerate(plan):
        writer.writerow([_file_name(i), r.transcript, f"{soundfile.info(folder / _file_name(i)).duration:.4f}"])
    _write_atomically(manifest, rows.getvalue())
    _write_atomically(folder / COMPLETE, f"{len(plan)}\n")
    return manifest


def default_text(data_config: Any) -> Path:
    """The default sentence source: the Tatoeba English-French pairs (`seqtasks.data.eng_fra`), found through
    `data_config.data_dir` / $SEQTASKS_DATA_DIR (or its download cache)."""
    from seqtasks.data.eng_fra import eng_fra_file

    return eng_fra_file(data_config)


def synthetic_manifest(
    count: int,
    *,
    text: Sequence[str | os.PathLike] = (),
    data_config: Any = None,
    exclude: Iterable[str] = (),
    voices: Sequence[str] = DEFAULT_VOICES,
    rates: Sequence[int] = (140, 190),
    pitches: Sequence[int] = (30, 70),
    seed: int = 0,
    workers: int = MAX_WORKERS,
    progress: TextIO | None = None,
) -> tuple[Path, list[Path]]:
    """Renders (or finds cached) `count` sentences and returns their manifest and the text files they came from.

    Args:
        count: sentences wanted (fewer when the source has fewer usable ones).
        text: English text files / folders; empty = the Tatoeba pairs' English side (`default_text`).
        data_config: the data config that locates the Tatoeba pairs (`data_dir`), used when `text` is empty.
        exclude: transcripts no sentence may equal (all of the real data's).
        voices, rates, pitches, seed: see `plan_renderings`.
        workers, progress: see `render`.
    """
    files = text_files(text) if text else [default_text(data_config)]
    candidates = sentence_candidates(read_sentences(files), exclude)
    plan = plan_renderings(candidates, count, voices=voices, rates=rates, pitches=pitches, seed=seed)
    return render(plan, workers=workers, progress=progress), files


__all__ = [
    "DEFAULT_VOICES", "INSTALL_HINT", "Rendering", "check_settings", "espeak_binary", "plan_folder",
    "plan_renderings", "read_sentences", "render", "sentence_candidates", "speakable_transcript",
    "synthetic_manifest",
]
