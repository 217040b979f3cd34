"""The commented default config lists every key with the schema's default."""

from pathlib import Path

import yaml

from seqtasks.config import config_to_dict, load_config
from seqtasks.tasks.sentiment import SentimentConfig

CONFIG = Path(__file__).resolve().parents[3] / "recipes" / "configs" / "sentiment.yaml"


def test_default_yaml_matches_schema_and_is_commented():
    defaults = config_to_dict(SentimentConfig())
    loaded = config_to_dict(load_config(SentimentConfig, [CONFIG]))
    assert loaded == defaults
    written = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert {s: set(v) for s, v in written.items()} == {s: set(v) for s, v in defaults.items()}
    lines = CONFIG.read_text(encoding="utf-8").splitlines()
    for section, keys in defaults.items():
        start = lines.index(f"{section}:")
        for key in keys:
            idx = next(i for i in range(start, len(lines)) if lines[i].strip().startswith(f"{key}:"))
            assert lines[idx - 1].strip().startswith("#"), f"{section}.{key} has no comment above it"
