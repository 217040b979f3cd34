"""bench/speech_peer.py feeds every system each file's own audio at the file's own sample rate."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import numpy as np
import soundfile

from seqtasks.runtime import commands
from tests.tasks.speech_recognition.test_task import TINY

BENCH = Path(__file__).resolve().parents[2] / "bench" / "speech_peer.py"


def test_the_items_carry_the_files_audio_at_its_native_rate(tmp_path, monkeypatch):
    spec = importlib.util.spec_from_file_location("speech_peer", BENCH)
    speech_peer = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "speech_peer", speech_peer)  # its dataclasses look their module up there
    spec.loader.exec_module(speech_peer)
    rng = np.random.default_rng(0)
    rows = ["path,transcript"]
    for i in range(10):
        soundfile.write(tmp_path / f"{i}.wav", (0.1 * rng.standard_normal(16000 + 800 * i)).astype(np.float32), 16000)
        rows.append(f"{i}.wav,{'ab' if i % 2 else 'ba'}")
    (tmp_path / "m.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    outcome = commands.train("speech_recognition", tmp_path / "run", overrides=[
        *TINY, f"data.path=[{tmp_path / 'm.csv'}]", "data.test_fraction=0.2", "export.after_train=false"])
    task, _ = commands.load_trained(outcome.run.root, "speech_recognition", [])

    items = speech_peer._items(task, None, 0)

    assert len(items) == 2 and task.sample_rate == 8000
    for item in items:
        audio, rate = soundfile.read(item.name, dtype="float32")
        assert item.rate == rate == 16000
        np.testing.assert_allclose(item.audio, audio, atol=1e-6)
        assert item.model_audio.size == audio.size // 2
