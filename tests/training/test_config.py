"""TrainConfig / YAML validation: unknown keys and bad values fail with messages that say what to fix."""
from __future__ import annotations

import pytest

from kronos_quant.training.config import DataConfig, TrainConfig, config_from_dict, load_train_config


def test_shipped_yaml_configs_load():
    for name in ("train_tiny", "train_csi300_tokenizer", "train_csi300_predictor"):
        config = load_train_config(f"configs/{name}.yaml")
        assert config.data is not None and config.betas == (0.9, 0.95)
    csi = load_train_config("configs/train_csi300_predictor.yaml", max_steps=5, device="cpu")
    assert csi.max_steps == 5 and csi.device == "cpu" and csi.data.train == ("2010-01-04", "2021-12-31")


@pytest.mark.parametrize("values, message", [
    ({"learning_rate": 1e-3}, "unknown keys \\['learning_rate'\\]"),
    ({"lr": -1}, "lr must be > 0"),
    ({"schedule": "step"}, "schedule must be one of"),
    ({"betas": [0.9]}, "betas must be two values"),
    ({"batch_size": 0}, "batch_size must be >= 1"),
    ({"grad_clip": 0}, "grad_clip must be > 0 or null"),
    ({"device": "tpu"}, "device must be auto, cpu, cuda"),
    ({"lr": "fast"}, "bad value type"),
    ({"model": {"d_model": 32}, "from_scratch": False}, "from_scratch: false needs model to be a checkpoint"),
    ({"data": {"provider_uri": "x", "train": ["2020-01-01", "2021-01-01"]}}, "data.valid must be"),
    ({"data": {"provider_uri": "x", "arrays_file": "y.npz"}}, "exactly one of provider_uri"),
    ({"data": {"arrays_file": "y.npz", "lookback": 1}}, "lookback must be >= 2"),
    ({"data": {"provider_uri": "x", "train": ["2021-01-01", "2022-01-01"], "valid": ["2021-06-01", "2022-06-01"]}},
     "must end before valid"),
    ({"data": {"arrays_file": "y.npz", "segments": {}}}, "data: unknown keys \\['segments'\\]"),
])
def test_bad_values_raise_clear_errors(values, message):
    with pytest.raises(ValueError, match=message):
        config_from_dict(values)


def test_yaml_overrides_and_missing_file(tmp_path):
    path = tmp_path / "run.yaml"
    path.write_text("model: mini\nlr: 1.0e-4\ndata: {arrays_file: w.npz, lookback: 30, horizon: 5}\n")
    config = load_train_config(path, max_steps=7, device=None)
    assert (config.model, config.lr, config.max_steps, config.device) == ("mini", 1e-4, 7, "auto")
    assert config.data == DataConfig(arrays_file="w.npz", lookback=30, horizon=5)
    with pytest.raises(FileNotFoundError, match="train_tiny.yaml"):
        load_train_config(tmp_path / "absent.yaml")


def test_preset_without_weights_and_wrong_kind_are_rejected(windows, tmp_path):
    from kronos_quant.model import Kronos, KronosTokenizer
    from kronos_quant.training.fit import build_model

    with pytest.raises(ValueError, match="preset .*no weights"):
        build_model(Kronos, "small", from_scratch=False, seed=0)
    with pytest.raises(ValueError, match="is a predictor preset"):
        build_model(KronosTokenizer, "small", from_scratch=True, seed=0)
    assert TrainConfig().model == "small"
