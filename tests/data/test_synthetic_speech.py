"""Synthetic speech (espeak-ng): sentence filtering and exclusion, seeded plans, rendering, resume, and the
one-line errors. Rendering tests skip where espeak-ng is not installed."""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest
import soundfile

from seqtasks.config import load_config
from seqtasks.data import synthetic_speech as ss
from seqtasks.data.cache import ENV_CACHE_DIR
from seqtasks.data.transcripts import normalize_transcript
from seqtasks.errors import ConfigError

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None,
                                  reason="espeak-ng is not installed (apt-get install espeak-ng, or make install)")

SENTENCES = [
    "Please call Stella.",         # a VCTK test transcript: excluded below
    "I like green tea.",
    "Where is the station?",
    "We aren't ready yet.",
    "She walked home alone.",
    "Tom plays the violin.",
]


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_CACHE_DIR, str(tmp_path / "cache"))


def _plan(count=4, seed=0, exclude=("please call stella",)):
    candidates = ss.sentence_candidates(SENTENCES, exclude)
    return ss.plan_renderings(candidates, count, voices=["en-us", "en-gb+f3", "en+m3"], rates=[150, 180],
                              pitches=[40, 60], seed=seed)


def _rows(manifest):
    with open(manifest, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_sentences_are_normalised_filtered_deduplicated_and_exclude_real_transcripts():
    raw = [
        "Please call Stella.", "PLEASE, call Stella!",    # equal to a real transcript after normalisation
        "I like green tea.", "I like green tea!",          # duplicate after normalisation
        "Go.",                                              # fewer than 3 words
        "I paid $5 for it.", "Tom & Mary left.",           # characters espeak-ng reads as words
        "Mr. Smith is here.", "The USA is big.",            # abbreviation, acronym
        "She said 'no' to me.",                             # quotation marks
        "It's a well-known fact.",
        " ".join(["word"] * 26),                            # more than 25 words
    ]
    candidates = ss.sentence_candidates(raw, exclude=["Please call Stella."])
    assert candidates == [("I like green tea.", "i like green tea"), ("It's a well-known fact.", "it's a well known fact")]
    for _, transcript in candidates:
        assert transcript == normalize_transcript(transcript) and set(transcript) <= set("abcdefghijklmnopqrstuvwxyz' ")


def test_plan_is_seeded_and_a_sentence_keeps_its_voice():
    first, again, other = _plan(seed=1), _plan(seed=1), _plan(seed=2)
    assert first == again and len(first) == 4
    assert first != other
    assert "please call stella" not in {r.transcript for r in first}
    # The voice, rate and pitch depend on the seed and the sentence, not on which other sentences are drawn.
    everything = {r.transcript: r for r in _plan(count=10, seed=1)}
    assert all(everything[r.transcript] == r for r in first)
    assert all(150 <= r.rate <= 180 and 40 <= r.pitch <= 60 for r in everything.values())
    assert ss.plan_folder(first) == ss.plan_folder(again) != ss.plan_folder(other)


@needs_espeak
def test_render_writes_16khz_wavs_and_a_manifest(tmp_path):
    from seqtasks.tasks.speech_recognition.data import read_manifest

    plan = _plan(count=3)
    manifest = ss.render(plan)
    assert manifest.parent == ss.plan_folder(plan) and (manifest.parent / ss.COMPLETE).is_file()
    assert manifest.parent.parent == tmp_path / "cache" / "synthetic_speech"
    rows = _rows(manifest)
    assert [r["transcript"] for r in rows] == [r.transcript for r in plan]
    for row in rows:
        info = soundfile.info(manifest.parent / row["path"])
        assert (info.samplerate, info.channels, info.subtype, info.format) == (16000, 1, "PCM_16", "WAV")
        assert abs(float(row["duration"]) - info.duration) < 1e-3 and 0.3 < info.duration < 5.0
        audio, _ = soundfile.read(manifest.parent / row["path"])
        assert np.abs(audio).max() > 0.05  # speech, not silence
    utterances = read_manifest(manifest)
    assert [u.transcript for u in utterances] == [r.transcript for r in plan]
    assert [u.duration for u in utterances] == [float(r["duration"]) for r in rows]
    assert ss.render(plan) == manifest  # complete: reused as it is


@needs_espeak
def test_a_killed_render_resumes_with_the_missing_files_only(monkeypatch):
    plan = _plan(count=4)
    manifest = ss.render(plan)
    folder = manifest.parent
    kept = (folder / "000000.wav").read_bytes()
    # What a kill leaves: no marker, no manifest, two sentences not rendered, a partial temporary file.
    for name in (ss.COMPLETE, ss.MANIFEST, "000001.wav", "000003.wav"):
        (folder / name).unlink()
    (folder / ".000001.999.partial.tmp").write_bytes(b"RIFF")
    rendered = []
    real_render_one = ss.render_one

    def counting(espeak, rendering, path, sample_rate=ss.SAMPLE_RATE):
        rendered.append(path.name)
        real_render_one(espeak, rendering, path, sample_rate)

    monkeypatch.setattr(ss, "render_one", counting)
    assert ss.render(plan) == manifest
    assert sorted(rendered) == ["000001.wav", "000003.wav"]
    assert (folder / "000000.wav").read_bytes() == kept
    assert len(_rows(manifest)) == 4 and (folder / ss.COMPLETE).is_file()
    assert not list(folder.glob(".*.tmp"))


def test_missing_espeak_is_a_one_line_error_naming_the_fix(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(ConfigError, match=r"apt-get install espeak-ng \(or `make install`") as error:
        ss.render(_plan(count=2))
    assert "\n" not in str(error.value)


@needs_espeak
def test_unknown_voice_is_a_config_error():
    candidates = ss.sentence_candidates(SENTENCES)
    for voice, what in (("xx-nowhere", "language 'xx-nowhere'"), ("en+nosuchvariant", "variant 'nosuchvariant'")):
        plan = ss.plan_renderings(candidates, 2, voices=[voice])
        with pytest.raises(ConfigError, match=f"espeak-ng has no {what}"):
            ss.render(plan)


def test_config_keys_are_validated():
    from seqtasks.tasks.speech_recognition.config import SpeechRecognitionConfig

    config = load_config(SpeechRecognitionConfig, overrides=["data.synthetic_sentences=10"])
    assert config.data.synthetic_voices == list(ss.DEFAULT_VOICES)
    for override, match in (
        ("data.synthetic_sentences=-1", "at least 0"),
        ("data.synthetic_rates=[50,100]", r"must be in \[80, 450\]"),
        ("data.synthetic_pitches=[10,120]", r"must be in \[0, 99\]"),
    ):
        with pytest.raises(ConfigError, match=match):
            load_config(SpeechRecognitionConfig, overrides=[override])
    for overrides, match in (
        (["data.synthetic_rates=[190,140]"], r"range \[low, high\]"),
        (["data.synthetic_pitches=[50]"], r"range \[low, high\]"),
        (["data.synthetic_voices=[-x]"], "not an espeak-ng voice name"),
        (["data.synthetic_voices=[]"], "synthetic_voices is empty"),
        (["data.normalize_transcripts=false"], "needs data.normalize_transcripts=true"),
    ):
        with pytest.raises(ConfigError, match=match):
            load_config(SpeechRecognitionConfig, overrides=["data.synthetic_sentences=10", *overrides])
