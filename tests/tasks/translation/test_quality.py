"""Slow tier: the default translation config reaches sacreBLEU >= 35 on the eng-fra test split within its
30-minute training budget (`train.max_minutes`), training on the local copy of the pairs."""

import pytest

from seqtasks.runtime import commands


@pytest.mark.slow
def test_default_config_reaches_bleu_35(shared_data, tmp_path):
    if not (shared_data / "translation" / "eng-fra.tsv").is_file():
        pytest.skip("translation/eng-fra.tsv is absent from the shared data folder")
    outcome = commands.train(
        "translation",
        tmp_path / "run",
        data_dir=str(shared_data),
        overrides=["train.verbose=epoch"],
    )
    metrics = outcome.evaluation
    print({k: v for k, v in metrics.items() if isinstance(v, float)})
    assert metrics["num_sentences"] > 3000
    assert metrics["bleu"] >= 35.0
    assert (outcome.run.root / "export" / "saved_model.pb").is_file()
