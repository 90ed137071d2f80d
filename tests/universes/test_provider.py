"""A generated universe written as a Qlib provider passes `data check`, holds a benchmark derived from its members,
and runs a tiny qrun workflow (model, signal, TopkDropout backtest) unchanged."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from kronos_quant.data.checks import check_provider
from kronos_quant.data.qlib_bin import read_calendar, read_field_panel
from kronos_quant.universes.market import benchmark_level, factor_expression, factor_signal
from kronos_quant.universes.provider import BENCHMARK_NAME, universe_bars, write_universe_providers


@pytest.fixture(scope="module")
def providers(tiny_universes, tmp_path_factory):
    return write_universe_providers(tiny_universes, tmp_path_factory.mktemp("universes"), count=2)


def test_provider_passes_data_check_and_holds_the_universe(providers, tiny_universes):
    report = check_provider(providers[0])
    assert report.ok, report.format()
    dates = read_calendar(providers[0])
    assert dates.equals(tiny_universes.all_dates())
    assert len(read_calendar(providers[0], future=True)) > len(dates)
    close = read_field_panel(providers[1], "close", tiny_universes.instruments).to_numpy()
    np.testing.assert_allclose(close, universe_bars(tiny_universes, 1)[:, :, 3], rtol=1e-6)
    bench = read_field_panel(providers[1], "close", [BENCHMARK_NAME]).to_numpy()[:, 0]
    np.testing.assert_allclose(bench, benchmark_level(universe_bars(tiny_universes, 1)[:, :, 3]), rtol=1e-5)
    assert not np.allclose(close[-5:], read_field_panel(providers[0], "close", tiny_universes.instruments)
                           .to_numpy()[-5:])  # universes differ after t0


def test_factor_expression_matches_qlib(providers, tiny_universes, init_qlib):
    from qlib.data import D

    init_qlib(providers[0])
    for name in ("reversal_5", "momentum_20"):
        frame = D.features(list(tiny_universes.instruments), [factor_expression(name)], freq="day")
        qlib_values = frame.iloc[:, 0].unstack("instrument").reindex(columns=list(tiny_universes.instruments))
        ours = factor_signal(name, universe_bars(tiny_universes, 0)[:, :, 3])
        np.testing.assert_allclose(qlib_values.to_numpy(), ours, rtol=1e-5, atol=1e-6, equal_nan=True)


def test_tiny_qrun_on_a_generated_market(providers, tiny_universes, tmp_path, monkeypatch):
    from qlib.cli.run import workflow

    dates = tiny_universes.all_dates()
    t0 = tiny_universes.history.t0
    fields = [factor_expression("reversal_5"), factor_expression("momentum_20")]
    handler = {"class": "DataHandlerLP", "module_path": "qlib.data.dataset.handler",
               "kwargs": {"instruments": "csi300", "start_time": str(dates[0].date()),
                          "end_time": str(dates[-1].date()),
                          "data_loader": {"class": "QlibDataLoader", "kwargs": {"config": {
                              "feature": [fields, ["REV5", "MOM20"]],
                              "label": [["Ref($close, -2)/Ref($close, -1) - 1"], ["LABEL0"]]}}},
                          "infer_processors": [{"class": "Fillna", "kwargs": {"fields_group": "feature"}}],
                          "learn_processors": [{"class": "DropnaLabel"},
                                               {"class": "Fillna", "kwargs": {"fields_group": "feature"}}]}}
    config = {
        "qlib_init": {"provider_uri": str(providers[0]), "region": "cn",
                      "exp_manager": {"class": "MLflowExpManager", "module_path": "qlib.workflow.expm",
                                      "kwargs": {"uri": f"sqlite:///{tmp_path}/mlflow.db", "default_exp_name": "u"}}},
        "task": {
            "model": {"class": "LinearModel", "module_path": "qlib.contrib.model.linear",
                      "kwargs": {"estimator": "ols"}},
            "dataset": {"class": "DatasetH", "module_path": "qlib.data.dataset",
                        "kwargs": {"handler": handler, "segments": {
                "train": [str(dates[25].date()), str(dates[50].date())],
                "valid": [str(dates[51].date()), str(dates[60].date())],
                "test": [str(t0.date()), str(dates[-1].date())]}}},
            "record": [{"class": "SignalRecord", "module_path": "qlib.workflow.record_temp"},
                       {"class": "PortAnaRecord", "module_path": "qlib.workflow.record_temp", "kwargs": {"config": {
                           "strategy": {"class": "TopkDropoutStrategy", "module_path": "qlib.contrib.strategy",
                                        "kwargs": {"signal": "<PRED>", "topk": 5, "n_drop": 1}},
                           "backtest": {"start_time": str(tiny_universes.dates[0].date()),
                                        "end_time": str(dates[-1].date()), "account": 1e7,
                                        "benchmark": BENCHMARK_NAME,
                                        "exchange_kwargs": {"limit_threshold": 0.095, "deal_price": "close"}}}}}]}}
    path = tmp_path / "workflow.yaml"
    path.write_text(yaml.safe_dump(config))
    monkeypatch.chdir(tmp_path)
    workflow(str(path), experiment_name="generated_universe")
    from qlib.workflow import R

    recorder = R.get_exp(experiment_name="generated_universe").list_recorders(rtype="list")[0]
    report = recorder.load_object("portfolio_analysis/report_normal_1day.pkl")
    assert len(report) == len(tiny_universes.dates)
    assert report["bench"].abs().sum() > 0 and report["turnover"].sum() > 0


def test_any_qlib_expression_drives_the_stress_test(tiny_universes, tiny_market):
    """A 'qlib:<expression>' signal is computed by Qlib in every universe; equal to the numpy factor it spells."""
    from kronos_quant.universes.history import load_history
    from kronos_quant.universes.stress import StrategySpec, stress_strategy

    realised = load_history(tiny_market, universe="csi300", t0=tiny_universes.dates[-1],
                            days=len(tiny_universes.all_dates()), instruments=list(tiny_universes.instruments))
    results = [stress_strategy(tiny_universes, StrategySpec(name=name, signal=signal, topk=5, n_drop=1),
                               realised_history=realised)
               for name, signal in (("numpy", "reversal_5"), ("qlib", "qlib:" + factor_expression("reversal_5")))]
    np.testing.assert_allclose(results[0].metrics.to_numpy(), results[1].metrics.to_numpy(), rtol=1e-6, atol=1e-9)
    assert results[0].realised["excess_return"] == pytest.approx(results[1].realised["excess_return"], abs=1e-9)
    with pytest.raises(ValueError, match="empty Qlib expression"):
        StrategySpec(name="x", signal="qlib: ")
