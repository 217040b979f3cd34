"""Slow tier: the default config reaches CER <= 5% on FSDD connected digits (test recordings) within 20 minutes
of CPU training (`train.max_minutes: 20` in the default config)."""

from __future__ import annotations

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
