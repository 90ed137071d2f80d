"""VolatilityRecord on the tiny synthetic market with tiny random-weight checkpoints (fast, not a quality test)."""
from __future__ import annotations

import numpy as np
import pytest
import qlib


@pytest.fixture(scope="module")
def setup(tiny_market, tiny_checkpoints, kronos_setup):
    from kronos_quant.qlib_ext.model import KronosModel

    qlib.init(provider_uri=str(tiny_market), region="cn", kernels=1)
    tokenizer, predictor = tiny_checkpoints

    def model(**forecast):
        settings = dict(lookback=kronos_setup.lookback, horizon=kronos_setup.horizon, sample_count=4, T=1.0,
                        top_p=1.0, signal="predicted_volatility", seed=0)
        return KronosModel(str(tokenizer), str(predictor), mode="zero_shot", forecast=dict(settings, **forecast),
                           runtime={"device": "cpu"})

    return model, kronos_setup.dataset()


def test_record_logs_metrics_tables_and_report(setup, tmp_path):
    from qlib.workflow import R

    from kronos_quant.qlib_ext.volatility_record import VolatilityRecord

    model, dataset = setup
    with R.start(experiment_name="kq_vol", uri=f"file:{tmp_path / 'mlruns'}"):
        recorder = R.get_recorder()
        record = VolatilityRecord(model=model(), dataset=dataset, recorder=recorder, horizons=(1, 5), every=20,
                                  refit_every=20)
        tables = record.generate()
        losses = recorder.load_object("volatility/losses.pkl")
        assert set(losses["model"]) == {"kronos", "hist20", "hist60", "ewma", "garch", "har"}
        assert sorted(losses["horizon"].unique()) == [1, 5]
        calibration = recorder.load_object("volatility/calibration.pkl")
        assert {"kronos", "kronos_scaled", "gaussian_garch"} == set(calibration["forecaster"])
        assert calibration["coverage_90"].between(0, 1).all()
        assert "volatility/report.html" in recorder.list_artifacts("volatility")
        metrics = recorder.list_metrics()
        assert np.isclose(metrics["vol_h5_kronos_qlike"],
                          losses.set_index(["horizon", "model"]).loc[(5, "kronos"), "qlike"])
        assert "spread_scale_h5" in metrics and "vol_h1_dm_qlike_vs_garch" in metrics
        # only test-segment dates are scored
        test_start = dataset.segments["test"][0]
        assert (tables["points"]["datetime"] >= test_start).all()


def test_record_errors_before_forecasting(setup):
    from kronos_quant.qlib_ext.volatility_record import VolatilityRecord

    model, dataset = setup
    with pytest.raises(ValueError, match="sample_count >= 2"):
        VolatilityRecord(model=model(sample_count=1), dataset=dataset, recorder=object(), horizons=(1,)).check()
    with pytest.raises(ValueError, match="longer than the forecast"):
        VolatilityRecord(model=model(), dataset=dataset, recorder=object(), horizons=(1, 20)).check()
    with pytest.raises(ValueError, match="segment"):
        VolatilityRecord(model=model(), dataset=dataset, recorder=object(), horizons=(1,),
                         calibrate_segment="calib").check()


def test_volatility_workflow_builds_its_model_and_record(tiny_checkpoints, monkeypatch):
    from pathlib import Path

    from qlib.utils import init_instance_by_config

    from kronos_quant.qlib_ext.workflow import load_workflow_config

    repo = Path(__file__).resolve().parents[2]
    monkeypatch.setenv("KRONOS_TOKENIZER", str(tiny_checkpoints[0]))
    monkeypatch.setenv("KRONOS_PREDICTOR", str(tiny_checkpoints[1]))
    monkeypatch.setenv("KRONOS_DEVICE", "cpu")
    config = load_workflow_config(repo / "workflows" / "csi300_volatility.yaml")
    model = init_instance_by_config(config["task"]["model"])
    settings = model.forecast_settings
    assert (settings.horizon, settings.signal, settings.sample_count) == (20, "low_volatility", 16)
    record = config["task"]["record"][-1]
    assert record["class"] == "VolatilityRecord" and record["kwargs"]["horizons"] == [1, 5, 10, 20]
    segments = config["task"]["dataset"]["kwargs"]["segments"]
    assert segments["valid"][1] < segments["test"][0]  # the knob's segment ends before the scored one
