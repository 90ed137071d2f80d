"""A tiny qrun workflow end to end: scratch-trained Kronos -> SignalRecord -> SigAna -> PortAna -> report."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

EXPERIMENT = "kronos_e2e"
BACKTEST = ("2022-01-04", "2022-02-28")


def _workflow(provider, mlruns, setup, neutralize: bool = False) -> dict:
    port = {
        "strategy": {"class": "TopkDropoutStrategy", "module_path": "qlib.contrib.strategy",
                     "kwargs": {"signal": "<PRED>", "topk": 5, "n_drop": 1}},
        "backtest": {"start_time": BACKTEST[0], "end_time": BACKTEST[1], "account": 1e8, "benchmark": "SH000300",
                     "exchange_kwargs": {"limit_threshold": 0.095, "deal_price": "close", "open_cost": 0.0005,
                                         "close_cost": 0.0015, "min_cost": 5}},
    }
    model = {"mode": "scratch", "tokenizer": setup.tokenizer, "predictor": setup.predictor,
             "train_config": {"tokenizer": setup.train, "predictor": setup.train}, "output_dir": "outputs/model",
             "forecast": {"lookback": setup.lookback, "horizon": setup.horizon, "sample_count": 2},
             "runtime": {"device": "cpu"}}
    return {
        "qlib_init": {"provider_uri": str(provider), "region": "cn", "kernels": 1,
                      "exp_manager": {"class": "MLflowExpManager", "module_path": "qlib.workflow.expm",
                                      "kwargs": {"uri": f"file:{mlruns}", "default_exp_name": "Experiment"}}},
        "task": {
            "model": {"class": "KronosModel", "module_path": "kronos_quant.qlib_ext.model", "kwargs": model},
            "dataset": {"class": "KronosDataset", "module_path": "kronos_quant.qlib_ext.dataset",
                        "kwargs": {"handler": setup.handler(), "segments": setup.segments,
                                   "lookback": setup.lookback, "horizon": setup.horizon}},
            "record": [
                {"class": "SignalRecord", "module_path": "qlib.workflow.record_temp",
                 "kwargs": {"model": "<MODEL>", "dataset": "<DATASET>"}},
                *([{"class": "NeutralizeSignalRecord", "module_path": "kronos_quant.qlib_ext.records",
                    "kwargs": {"exposures": ["size", "mom_20", "vol_20"]}}] if neutralize else []),
                {"class": "SigAnaRecord", "module_path": "qlib.workflow.record_temp",
                 "kwargs": {"ana_long_short": False, "ann_scaler": 252}},
                {"class": "PortAnaRecord", "module_path": "qlib.workflow.record_temp", "kwargs": {"config": port}},
                {"class": "ReportRecord", "module_path": "kronos_quant.qlib_ext.records", "kwargs": {"name": "e2e"}},
            ],
        },
    }


def _run(tiny_market, kronos_setup, root, experiment, neutralize=False):
    from qlib.cli.run import workflow
    from qlib.workflow import R

    path = root / "workflow.yaml"
    config = _workflow(tiny_market, root / "mlruns", kronos_setup, neutralize=neutralize)
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)  # outputs/ (checkpoints) land in the tmp dir
        workflow(str(path), experiment_name=experiment)
    recorders = R.get_exp(experiment_name=experiment).list_recorders()
    assert len(recorders) == 1
    return next(iter(recorders.values()))


@pytest.fixture(scope="module")
def recorder(tiny_market, kronos_setup, tmp_path_factory):
    return _run(tiny_market, kronos_setup, tmp_path_factory.mktemp("e2e"), EXPERIMENT)


def _members(start, end) -> dict:
    from qlib.data import D

    return D.list_instruments(D.instruments("csi300"), start_time=start, end_time=end, as_list=False)


@pytest.mark.slow
def test_pred_is_aligned_to_test_days_and_members(recorder, kronos_setup):
    from qlib.data import D

    pred = recorder.load_object("pred.pkl")
    assert list(pred.columns) == ["score"] and np.isfinite(pred["score"]).all()
    start, end = kronos_setup.segments["test"]
    days = pd.DatetimeIndex(D.calendar(start_time=start, end_time=end))
    dates = pred.index.get_level_values("datetime")
    assert set(dates) == set(days)
    spans = _members(start, end)
    for (date, code) in pred.index:
        assert any(lo <= date <= hi for lo, hi in spans[code]), (date, code)
    model = recorder.load_object("params.pkl")
    assert model.fitted and model.train_summary["predictor"]["steps"] == 4


@pytest.mark.slow
def test_signal_analysis_is_finite_and_dated(recorder):
    pred_days = set(recorder.load_object("pred.pkl").index.get_level_values("datetime"))
    for name in ("sig_analysis/ic.pkl", "sig_analysis/ric.pkl"):
        series = recorder.load_object(name)
        assert len(series) > 20 and np.isfinite(series).all()
        assert set(series.index) <= pred_days
    metrics = recorder.list_metrics()
    assert {"IC", "ICIR", "Rank IC", "Rank ICIR"} <= set(metrics)


@pytest.mark.slow
def test_backtest_reports_cover_the_period(recorder):
    from qlib.data import D

    report = recorder.load_object("portfolio_analysis/report_normal_1day.pkl")
    days = pd.DatetimeIndex(D.calendar(start_time=BACKTEST[0], end_time=BACKTEST[1]))
    assert report.index.equals(days)
    assert np.isfinite(report[["return", "bench", "cost", "turnover"]].to_numpy()).all()
    assert (report["turnover"] > 0).any() and (report["cost"] >= 0).all()
    risk = recorder.load_object("portfolio_analysis/port_analysis_1day.pkl")
    for kind in ("excess_return_without_cost", "excess_return_with_cost"):
        assert np.isfinite(risk.loc[(kind, "annualized_return"), "risk"])
    assert "report/report.html" in recorder.list_artifacts("report")


@pytest.mark.slow
def test_summary_reads_the_run(recorder):
    from kronos_quant.qlib_ext.workflow import artifact_dir, format_summary, summarize_recorder

    summary = summarize_recorder(recorder)
    ic = recorder.load_object("sig_analysis/ic.pkl")
    assert summary["IC"] == pytest.approx(ic.mean())
    assert np.isfinite(summary["excess_return_with_cost.max_drawdown"])
    assert "Rank ICIR" in format_summary(summary)
    assert (artifact_dir(recorder) / "pred.pkl").is_file()


@pytest.mark.slow
def test_neutralized_signal_flows_into_analysis_and_backtest(tiny_market, kronos_setup, tmp_path_factory):
    """NeutralizeSignalRecord before SigAna/PortAna: both evaluate the pure alpha in the same run."""
    from qlib.contrib.eva.alpha import calc_ic

    run = _run(tiny_market, kronos_setup, tmp_path_factory.mktemp("e2e_neutral"), EXPERIMENT + "_neutral",
               neutralize=True)
    raw, neutral = run.load_object("pred_raw.pkl"), run.load_object("pred.pkl")
    assert neutral.index.equals(raw.index) and not np.allclose(neutral["score"], raw["score"])
    label = run.load_object("label.pkl")
    ic, _ = calc_ic(neutral.iloc[:, 0], label.iloc[:, 0])
    np.testing.assert_allclose(run.load_object("sig_analysis/ic.pkl").to_numpy(), ic.to_numpy())
    report = run.load_object("portfolio_analysis/report_normal_1day.pkl")
    assert len(report) > 20 and np.isfinite(report[["return", "bench", "cost"]].to_numpy()).all()
    before_after = run.load_object("exposures_before_after.pkl")
    assert len(before_after) >= 3
