"""Modules built from the official configs have exactly the official tensor names and shapes."""
import json

import pytest

from kronos_quant import Kronos, KronosConfig, KronosTokenizer, TokenizerConfig
from kronos_quant.model.presets import PREDICTOR_PRESETS, TOKENIZER_PRESETS

OFFICIAL = ["Kronos-Tokenizer-base", "Kronos-Tokenizer-2k", "Kronos-mini", "Kronos-small", "Kronos-base"]
PRESET_OF = {"Kronos-Tokenizer-base": "tokenizer-base", "Kronos-Tokenizer-2k": "tokenizer-2k",
             "Kronos-mini": "mini", "Kronos-small": "small", "Kronos-base": "base"}


def build(name, config_path):
    if "Tokenizer" in name:
        return KronosTokenizer(TokenizerConfig.from_json(config_path))
    return Kronos(KronosConfig.from_json(config_path))


@pytest.mark.shared
@pytest.mark.parametrize("name", OFFICIAL)
def test_state_dict_names_and_shapes(official_dir, name):
    expected = json.loads((official_dir / "expected_state_dicts.json").read_text())[name]
    module = build(name, official_dir / name / "config.json")
    actual = {key: list(value.shape) for key, value in module.state_dict().items()}
    assert actual == expected["tensors"]
    assert sum(p.numel() for p in module.parameters()) == expected["n_params"]


@pytest.mark.shared
@pytest.mark.parametrize("name", OFFICIAL)
def test_presets_equal_official_configs(official_dir, name):
    preset = PRESET_OF[name]
    loaded = (TokenizerConfig if "Tokenizer" in name else KronosConfig).from_json(official_dir / name / "config.json")
    assert (TOKENIZER_PRESETS.get(preset) or PREDICTOR_PRESETS[preset]) == loaded


def test_large_preset_matches_published_size():
    import torch

    with torch.device("meta"):
        model = Kronos(PREDICTOR_PRESETS["large"])
    n_params = sum(p.numel() for p in model.parameters())
    assert abs(n_params / 1e6 - 499.2) < 0.05, n_params
