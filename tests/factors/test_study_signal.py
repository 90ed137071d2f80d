"""The study's alpha158_kronos signal: the LightGBM/Alpha158 task with the blended handler, nothing else changed."""
from __future__ import annotations

from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]


def _study_config(extra_signals=("alpha158_kronos",)):
    from kronos_quant.study.config import study_config_from_dict

    raw = yaml.safe_load((REPO / "studies" / "synth_short.yaml").read_text())
    raw.update(provider_uri="qlib_data/cn_synth", output_dir="outputs/x",
               signal_modules=["kronos_quant.factors.study_signal"], signals=["lightgbm_alpha158", *extra_signals])
    return study_config_from_dict(raw)


def _workflow(tmp_path, start: str) -> Path:
    handler = {"class": "Alpha158Kronos", "module_path": "kronos_quant.qlib_ext.kronos_factor_handler",
               "kwargs": {"instruments": "csi300", "start_time": start, "end_time": "2022-06-24",
                          "kronos": {"history_start": "2020-01-02", "valid_months": 6}}}
    path = tmp_path / "blend.yaml"
    path.write_text(yaml.safe_dump({"qlib_init": {"provider_uri": "x"},
                                    "task": {"dataset": {"kwargs": {"handler": handler}}}}))
    return path


def test_template_is_the_lightgbm_task_with_the_blended_handler(tmp_path, monkeypatch):
    from kronos_quant.factors.study_signal import alpha158_kronos_task
    from kronos_quant.study.tasks import lightgbm_alpha158_task

    monkeypatch.setenv("KRONOS_FACTOR_WORKFLOW", str(_workflow(tmp_path, "2020-09-01")))
    config = _study_config()
    task, plain = alpha158_kronos_task(config), lightgbm_alpha158_task(config)
    assert task["model"] == plain["model"]
    handler = task["dataset"]["kwargs"]["handler"]
    assert handler["class"] == "Alpha158Kronos" and handler["kwargs"]["start_time"] == "2020-09-01"
    assert handler["kwargs"]["kronos"]["provider_uri"] == config.provider_uri
    segments, base = task["dataset"]["kwargs"]["segments"], plain["dataset"]["kwargs"]["segments"]
    assert segments["train"] == ("2020-09-01", base["train"][1])
    assert segments["valid"] == base["valid"] and segments["test"] == base["test"]


def test_features_that_start_after_the_first_training_window_are_rejected(tmp_path, monkeypatch):
    from kronos_quant.factors.study_signal import alpha158_kronos_task

    monkeypatch.setenv("KRONOS_FACTOR_WORKFLOW", str(_workflow(tmp_path, "2021-06-01")))
    with pytest.raises(ValueError, match="after the first training window ends"):
        alpha158_kronos_task(_study_config())
