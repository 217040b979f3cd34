"""Slow tier: the default config reaches CER <= 5% on FSDD connected digits (test recordings) within 20 minutes
of CPU training (`train.max_minutes: 20` in the default config); the VCTK recipe (phonemes, a word list with word
pairs built by the run) holds its measured level on its held-out test sentences, through the SavedModel."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from seqtasks.runtime import commands


@pytest.mark.slow
def test_default_config_reaches_cer_target(shared_data, tmp_path):
    if not (shared_data / "fsdd" / "recordings").is_dir():
        pytest.skip(f"FSDD is absent from {shared_data / 'fsdd'}")
    outcome = commands.train(
        "speech_recognition", tmp_path / "run", overrides=["train.verbose=epoch"], data_dir=str(shared_data)
    )
    print("FSDD connected digits, test recordings:", outcome.evaluation)
    assert outcome.fit.history is not None
    assert outcome.evaluation["utterances"] == 500
    assert outcome.evaluation["cer"] <= 0.05


@pytest.mark.slow
def test_vctk_recipe_holds_its_measured_level_through_the_saved_model(shared_data, tmp_path):
    import jiwer
    import tensorflow as tf

    from seqtasks.audio.io import load_audio
    from seqtasks.data.transcripts import normalize_transcript

    manifest = shared_data / "speech" / "vctk_p239" / "manifest.csv"
    if not manifest.is_file() or shutil.which("espeak-ng") is None:
        pytest.skip("needs ../shared/data/speech/vctk_p239 and espeak-ng")
    config = Path(__file__).resolve().parents[3] / "recipes" / "configs" / "speech_recognition_vctk.yaml"
    outcome = commands.train("speech_recognition", tmp_path / "run", config_files=[config], data_paths=[str(manifest)],
                             data_dir=str(shared_data), overrides=["train.verbose=epoch"])
    task, _ = commands.load_trained(outcome.run.root)
    task.prepare_evaluation_data()
    test = task._test_utterances
    assert len(test) == 45
    model = tf.saved_model.load(str(outcome.export_dir))
    references, hypotheses = [], []
    for utterance in test:
        audio = load_audio(utterance.path, 16000)
        text = model.transcribe(waveform=tf.constant(audio), sample_rate=tf.constant(16000))["transcript"]
        references.append(normalize_transcript(utterance.transcript))
        hypotheses.append(text.numpy().decode())
    cer, wer = jiwer.cer(references, hypotheses), jiwer.wer(references, hypotheses)
    print(f"VCTK p239 test split through the SavedModel: CER {cer:.3f}, WER {wer:.3f}", outcome.evaluation)
    info = json.loads((outcome.export_dir / "assets" / "speech_model.json").read_text())
    assert info["lexicon_bigrams"] and info["lexicon_spellings"]
    assert np.isclose(cer, outcome.evaluation["cer"], atol=0.02)
    # Issue 13's target. Measured 0.280 / 0.492 (README; PocketSphinx 0.337 / 0.582 on the same sentences): a margin
    # of 2 words of the 311 on WER. The run early-stops (26.8 of its 40 minutes on 2 cores), so a machine up to
    # about 1.45x slower trains the same epochs.
    assert cer <= 0.30 and wer <= 0.50
