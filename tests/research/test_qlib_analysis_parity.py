"""Our analysis helpers beside Qlib's (``qlib.contrib.report``): where they agree and where they differ.

Qlib's report helpers build plotly figures (plotly is not a dependency here), so plotly is stubbed in
``sys.modules`` and the figure classes are replaced by recorders of the DataFrames Qlib computed; the
arithmetic that runs is Qlib's own.
"""
import importlib
import sys
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research import ic_analysis as ica
from kronos_quant.research.report_data import portfolio_curves

PLOTLY = ("plotly", "plotly.offline", "plotly.graph_objs", "plotly.subplots", "plotly.figure_factory")


class _Captured:
    """Stands in for Qlib's ScatterGraph/SubplotsGraph: keeps the DataFrame it was given."""

    frames: list = []

    def __init__(self, frame=None, *args, **kwargs):
        _Captured.frames.append(frame)
        self.figure = None


@pytest.fixture()
def qlib_report(monkeypatch):
    """``(analysis_model_performance, analysis_position.report)`` modules imported with plotly stubbed."""
    for name in PLOTLY:
        monkeypatch.setitem(sys.modules, name, mock.MagicMock())
    model = importlib.import_module("qlib.contrib.report.analysis_model.analysis_model_performance")
    position = importlib.import_module("qlib.contrib.report.analysis_position.report")
    monkeypatch.setattr(model, "ScatterGraph", _Captured)
    monkeypatch.setattr(model, "SubplotsGraph", _Captured)
    _Captured.frames = []
    yield model, position
    for name in [name for name in sys.modules if name.startswith("qlib.contrib.report")]:
        sys.modules.pop(name, None)  # do not leave plotly-stubbed Qlib modules behind


def _panel(n_dates=6, n_inst=10, seed=0, values=None):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2022-01-03", periods=n_dates, name="datetime")
    index = pd.MultiIndex.from_product([dates, [f"S{i:02d}" for i in range(n_inst)]], names=["datetime", "instrument"])
    score = pd.Series(rng.normal(size=len(index)) if values is None else values, index=index)
    label = pd.Series(rng.normal(0, 0.02, len(index)), index=index)
    return score, label


def test_quantile_returns_equal_qlib_group_return_without_ties(qlib_report):
    model, _ = qlib_report
    score, label = _panel()
    model._group_return(pd.DataFrame({"score": score, "label": label}), N=5)
    qlib_daily = _Captured.frames[1]  # SubplotsGraph(t_df[["long-short", "long-average"]])
    ours = ica.quantile_returns(score, label, 5)
    np.testing.assert_allclose(ica.long_short(ours).to_numpy(), qlib_daily["long-short"].to_numpy(), atol=1e-15)
    qlib_cumulative = _Captured.frames[0]  # ScatterGraph(t_df.cumsum()); Group1 is Qlib's top bucket
    np.testing.assert_allclose(ours[5].cumsum().to_numpy(), qlib_cumulative["Group1"].to_numpy(), atol=1e-15)


def test_tied_scores_share_a_bucket_where_qlib_splits_them(qlib_report):
    model, _ = qlib_report
    values = np.tile([0.0, 0.25, 0.25, 0.5, 0.5, 0.5, 0.75, 0.75, 0.75, 1.0], 6)  # prob_up with 4 paths
    score, label = _panel(values=values, seed=1)
    groups = ica.quantile_groups(score, 5)
    buckets = groups.groupby(score.to_numpy()).unique()
    assert buckets.map(len).eq(1).all()  # each tied value sits in one bucket
    assert buckets.map(lambda b: int(b[0])).to_dict() == {0.0: 1, 0.25: 1, 0.5: 3, 0.75: 4, 1.0: 5}
    model._group_return(pd.DataFrame({"score": score, "label": label}), N=5)
    qlib_spread = _Captured.frames[1]["long-short"].to_numpy()
    ours = ica.long_short(ica.quantile_returns(score, label, 5)).to_numpy()
    assert not np.allclose(ours, qlib_spread)  # Qlib's slices cut through the tie


def test_top_turnover_matches_qlib_on_a_fixed_universe(qlib_report):
    model, _ = qlib_report
    score, _ = _panel(seed=2)
    model._pred_turnover(pd.DataFrame({"score": score}), N=5)
    qlib_top = _Captured.frames[0]["Top"]
    ours = ica.top_quantile_turnover(score, 5)
    np.testing.assert_allclose(ours.iloc[1:].to_numpy(), qlib_top.iloc[1:].to_numpy(), atol=1e-15)


def test_rank_autocorrelation_is_qlibs_and_spearman_on_a_fixed_universe(qlib_report):
    model, _ = qlib_report
    score, _ = _panel(seed=3)
    ours = ica.rank_autocorrelation(score)
    wide = score.unstack()
    spearman = [wide.iloc[t].corr(wide.iloc[t - 1], method="spearman") for t in range(1, len(wide))]
    np.testing.assert_allclose(ours.iloc[1:].to_numpy(), spearman, atol=1e-12)
    model._pred_autocorr(pd.DataFrame({"score": score}))
    np.testing.assert_allclose(ours.iloc[1:].to_numpy(), _Captured.frames[0]["value"].iloc[1:].to_numpy(), atol=1e-12)


def test_portfolio_curves_equal_qlib_report_data(qlib_report):
    _, position = qlib_report
    rng = np.random.default_rng(4)
    dates = pd.bdate_range("2022-01-03", periods=30, name="datetime")
    report = pd.DataFrame({"return": rng.normal(0.001, 0.01, 30), "bench": rng.normal(0, 0.01, 30),
                           "cost": np.full(30, 3e-4), "turnover": rng.uniform(0, 0.3, 30)}, index=dates)
    qlib_curves = position._calculate_report_data(report.copy())
    ours = portfolio_curves(report)
    pairs = {"cum_excess_without_cost": "cum_ex_return_wo_cost", "cum_excess_with_cost": "cum_ex_return_w_cost",
             "drawdown_without_cost": "cum_ex_return_wo_cost_mdd", "drawdown_with_cost": "cum_ex_return_w_cost_mdd",
             "cum_bench": "cum_bench", "cum_return": "cum_return_wo_cost"}
    for column, qlib_column in pairs.items():
        np.testing.assert_allclose(ours[column].to_numpy(), qlib_curves[qlib_column].to_numpy(), atol=1e-15)
