"""The workflows/*.yaml files: they render, chain the records correctly and build their models."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WORKFLOWS = sorted((REPO / "workflows").glob("*.yaml"))
RECORDS = ["SignalRecord", "SigAnaRecord", "PortAnaRecord", "ReportRecord"]


@pytest.fixture
def checkpoint_env(tiny_checkpoints, monkeypatch):
    monkeypatch.setenv("KRONOS_TOKENIZER", str(tiny_checkpoints[0]))
    monkeypatch.setenv("KRONOS_PREDICTOR", str(tiny_checkpoints[1]))
    monkeypatch.setenv("KRONOS_DEVICE", "cpu")
    monkeypatch.chdir(REPO)  # workflows name configs/ relative to the repo root


def test_every_workflow_is_listed():
    assert {path.name for path in WORKFLOWS} >= {"demo.yaml", "csi300_zero_shot.yaml", "csi300_finetune.yaml",
                                                  "lightgbm_alpha158.yaml"}


@pytest.mark.parametrize("path", WORKFLOWS, ids=lambda path: path.stem)
def test_workflow_records_and_strategy(path, checkpoint_env):
    from kronos_quant.qlib_ext.workflow import load_workflow_config

    config = load_workflow_config(path)
    assert config["qlib_init"]["exp_manager"]["kwargs"]["uri"] == "sqlite:///mlflow.db"
    # extra records may follow; NeutralizeSignalRecord may sit after SignalRecord (the *_neutralized.yaml files)
    records = [record for record in config["task"]["record"] if record["class"] != "NeutralizeSignalRecord"]
    assert [record["class"] for record in records][:4] == RECORDS
    sig_ana = records[1]["kwargs"]
    assert sig_ana == {"ana_long_short": False, "ann_scaler": 252}
    port = records[2]["kwargs"]["config"]
    assert port["strategy"]["kwargs"] == {"signal": "<PRED>", "topk": 50, "n_drop": 5}
    assert port["backtest"]["benchmark"] == "SH000300"
    test_start, test_end = config["task"]["dataset"]["kwargs"]["segments"]["test"]
    assert test_start <= port["backtest"]["start_time"] and port["backtest"]["end_time"] <= test_end


@pytest.mark.parametrize("name", ["csi300_zero_shot", "csi300_finetune", "demo"])
def test_kronos_workflow_models_build(name, checkpoint_env):
    from qlib.utils import init_instance_by_config

    from kronos_quant.qlib_ext.workflow import load_workflow_config

    config = load_workflow_config(REPO / "workflows" / f"{name}.yaml")
    model = init_instance_by_config(config["task"]["model"])
    dataset_kwargs = config["task"]["dataset"]["kwargs"]
    settings = model.forecast_settings
    assert settings.lookback == dataset_kwargs["lookback"]
    assert settings.horizon == dataset_kwargs["horizon"]
    if name.startswith("csi300"):
        assert (settings.T, settings.top_p, settings.sample_count) == (0.6, 0.9, 5)
        assert Path(model.source.tokenizer).is_dir()  # $KRONOS_TOKENIZER was rendered in
    if name == "csi300_finetune":
        plan = model.source.train_plan()
        assert plan["predictor"].lr == pytest.approx(4e-5) and plan["predictor"].data is None


def test_missing_official_checkpoints_fail_at_construction(monkeypatch):
    from qlib.utils import init_instance_by_config

    from kronos_quant.model.checkpoint import hub_download_command
    from kronos_quant.qlib_ext.workflow import load_workflow_config

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("KRONOS_TOKENIZER", raising=False)
    monkeypatch.setenv("HF_HOME", "/nonexistent-hf-home")
    config = load_workflow_config(REPO / "workflows" / "csi300_zero_shot.yaml")
    assert config["task"]["model"]["kwargs"]["tokenizer"] == "NeoQuasar/Kronos-Tokenizer-base"
    with pytest.raises(ValueError, match=re.escape(hub_download_command("NeoQuasar/Kronos-Tokenizer-base", ""))):
        init_instance_by_config(config["task"]["model"])


@pytest.mark.parametrize("name", ["csi300_zero_shot", "csi300_finetune", "demo"])
def test_lookback_and_horizon_are_stated_once(name, checkpoint_env):
    """One YAML anchor feeds the model's forecast settings and the dataset, so they cannot drift apart."""
    from kronos_quant.qlib_ext.workflow import load_workflow_config

    text = (REPO / "workflows" / f"{name}.yaml").read_text()
    assert text.count("lookback:") == 1 and text.count("horizon:") == 1
    config = load_workflow_config(REPO / "workflows" / f"{name}.yaml")
    forecast, dataset = config["task"]["model"]["kwargs"]["forecast"], config["task"]["dataset"]["kwargs"]
    assert (forecast["lookback"], forecast["horizon"]) == (dataset["lookback"], dataset["horizon"])
