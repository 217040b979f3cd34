"""The translation recipe's YAML config: equal to the dataclass defaults, every key commented, typos caught."""

from pathlib import Path

import pytest
import yaml

from seqtasks.config import config_to_dict, load_config
from seqtasks.errors import ConfigError
from seqtasks.tasks.translation import TranslationConfig

CONFIG = Path(__file__).resolve().parents[3] / "recipes" / "configs" / "translation.yaml"


def test_yaml_equals_dataclass_defaults_and_lists_every_key():
    defaults = config_to_dict(TranslationConfig())
    assert config_to_dict(load_config(TranslationConfig, [CONFIG])) == defaults
    written = yaml.safe_load(CONFIG.read_text(encoding="utf-8"))
    assert {s: set(v) for s, v in written.items()} == {s: set(v) for s, v in defaults.items()}


def test_every_key_has_a_comment_above_it():
    lines = CONFIG.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if line.startswith("  ") and not line.strip().startswith("#") and ":" in line:
            above = lines[i - 1].strip()
            assert above.startswith("#") or (lines[i - 1].startswith("  ") and ":" in above), line


def test_typo_and_bad_value_are_one_line_errors():
    with pytest.raises(ConfigError, match="model.attention"):
        load_config(TranslationConfig, [CONFIG], ["model.atention=luong"])
    with pytest.raises(ConfigError, match="model.attention"):
        load_config(TranslationConfig, [CONFIG], ["model.attention=concat"])
