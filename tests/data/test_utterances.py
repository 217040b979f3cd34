"""The bad-audio policy: loading and scanning utterances (`seqtasks.data.utterances`)."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile

from seqtasks.data.transcripts import Alphabet
from seqtasks.data.utterances import Utterance, UtteranceLoader
from seqtasks.errors import DataError

RATE = 8000


def _wav(path, seconds=0.2, rate=RATE, seed=0):
    rng = np.random.default_rng(seed)
    soundfile.write(path, (0.1 * rng.standard_normal(int(seconds * rate))).astype(np.float32), rate)
    return path


def _bad_audio_set(tmp_path):
    good = _wav(tmp_path / "good.wav", seconds=0.5)
    odd_rate = _wav(tmp_path / "odd_rate.wav", seconds=0.5, rate=11025)
    (tmp_path / "empty.wav").write_bytes(b"")
    (tmp_path / "junk.wav").write_bytes(b"not audio" * 50)
    short = _wav(tmp_path / "short.wav", seconds=0.02)
    return [
        Utterance("one", good),
        Utterance("two", odd_rate),
        Utterance("one", tmp_path / "empty.wav", source="m.csv line 4"),
        Utterance("one", tmp_path / "junk.wav"),
        Utterance("one two three", short),  # 0.02 s: far too few frames for 13 characters
        Utterance("one!", good),  # "!" is outside the alphabet
    ]


def _frames(num_samples: int) -> int:
    return 1 + num_samples // 80  # 10 ms hop at 8 kHz, no subsampling


def test_bad_audio_fail_names_the_file(tmp_path):
    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    utterances = _bad_audio_set(tmp_path)
    loader = UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, on_bad_audio="fail")
    with pytest.raises(DataError, match=r"empty\.wav \(m\.csv line 4\).*on_bad_audio=skip"):
        loader.load_all()


def test_bad_audio_skip_counts_with_file_names(tmp_path):
    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    loader = UtteranceLoader(_bad_audio_set(tmp_path), RATE, alphabet, output_frames=_frames, on_bad_audio="skip")
    examples = loader.load_all()
    assert [e.transcript for e in examples] == ["one", "two"]
    # The 11.025 kHz file was resampled to the configured 8 kHz.
    assert abs(examples[1].waveform.size - 4000) <= 2
    assert examples[0].labels == alphabet.encode("one")
    reasons = dict(loader.report.problems)
    assert loader.report.count == 4
    assert any("empty.wav" in name for name in reasons)
    assert any("junk.wav" in name and "decode" in reason.lower() for name, reason in reasons.items())
    assert any("short.wav" in name and "too short for its transcript under CTC" in r for name, r in reasons.items())
    assert any("outside the alphabet '!'" in reason for reason in reasons.values())
    assert "skipped 4 bad utterance(s)" in loader.report.summary()


def test_scan_applies_the_same_checks_without_decoding(tmp_path, monkeypatch):
    from seqtasks.audio import io as io_module

    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    utterances = _bad_audio_set(tmp_path)
    eager = UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, on_bad_audio="skip")
    examples = eager.load_all()
    decoded = []
    real_decode = io_module._decode
    monkeypatch.setattr(io_module, "_decode", lambda path: decoded.append(path.name) or real_decode(path))
    lazy = UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, on_bad_audio="skip")
    scanned = lazy.scan()
    assert decoded == ["junk.wav"]  # only a file soundfile cannot open is handed to the full decoder
    assert [s.utterance.transcript for s in scanned] == [e.transcript for e in examples]
    assert [s.num_samples for s in scanned] == [e.waveform.size for e in examples]
    assert lazy.report.problems == eager.report.problems
    with pytest.raises(DataError, match=r"empty\.wav \(m\.csv line 4\).*on_bad_audio=skip"):
        UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, on_bad_audio="fail").scan()


def test_scan_with_max_samples_counts_long_utterances_apart(tmp_path):
    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    utterances = [Utterance("one", _wav(tmp_path / f"{i}.wav", seconds=s)) for i, s in enumerate((0.2, 0.5, 0.3))]
    loader = UtteranceLoader(utterances, RATE, alphabet, output_frames=_frames, max_samples=int(0.35 * RATE))
    assert [s.utterance.path.name for s in loader.scan()] == ["0.wav", "2.wav"]
    assert loader.too_long == [str(tmp_path / "1.wav")] and loader.report.count == 0


def test_scan_progress_lines(tmp_path):
    import io as text_io

    alphabet = Alphabet(" " + "".join(sorted(set("onetwothree"))))
    utterances = [Utterance("one", _wav(tmp_path / f"{i}.wav", seconds=0.2)) for i in range(5)]
    stream = text_io.StringIO()
    UtteranceLoader(utterances, RATE, alphabet).scan(progress=stream, every=2, what="training data")
    lines = stream.getvalue().splitlines()
    assert [line.split(" (")[0] for line in lines] == [
        "training data: scanned 2/5 audio files", "training data: scanned 4/5 audio files",
        "training data: scanned 5/5 audio files",
    ]
    quiet = text_io.StringIO()
    UtteranceLoader(utterances, RATE, alphabet).scan(progress=quiet, every=10)
    assert quiet.getvalue() == ""
