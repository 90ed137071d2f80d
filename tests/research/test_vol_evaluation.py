"""End-to-end evaluation tables on a synthetic panel whose true volatility is known."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research.vol_baselines import BaselineConfig
from kronos_quant.research.vol_evaluation import (
    VolEvalConfig,
    evaluate,
    fit_spread_scales,
    headline_metrics,
    kronos_forecasts,
    outcomes,
)

N_INST, N_DAYS, P, H = 5, 420, 30, 5


@pytest.fixture(scope="module")
def market():
    """Bars with a per-instrument constant vol, and 'oracle' paths drawn from the true distribution."""
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2015-01-01", periods=N_DAYS)
    sigma = np.linspace(0.01, 0.03, N_INST)
    returns = rng.standard_normal((N_DAYS, N_INST)) * sigma
    close = 20 * np.exp(np.cumsum(returns, axis=0))
    index = pd.MultiIndex.from_product([dates, [f"S{i}" for i in range(N_INST)]], names=["datetime", "instrument"])
    flat = close.ravel()
    bars = pd.DataFrame({"open": flat, "high": flat * 1.005, "low": flat * 0.995, "close": flat, "volume": 1.0},
                        index=index)
    rows = index[index.get_level_values("datetime") >= dates[300]]
    rows = rows[rows.get_level_values("datetime") <= dates[N_DAYS - H - 1]]
    inst = rows.get_level_values("instrument").str[1:].astype(int).to_numpy()
    last = close[dates.get_indexer(rows.get_level_values("datetime")), inst]
    draws = rng.standard_normal((len(rows), P, H)) * sigma[inst][:, None, None]
    paths = np.repeat((last[:, None, None] * np.exp(np.cumsum(draws, axis=2)))[..., None], 6, axis=3)
    return bars, rows, paths, last


@pytest.fixture(scope="module")
def evaluated(market):
    bars, rows, paths, last = market
    config = VolEvalConfig(horizons=(1, 5), baselines=BaselineConfig(refit_every=60, garch_min_obs=200))
    kronos = kronos_forecasts(paths, last, rows, config.horizons)
    out = outcomes(bars, rows, config)
    scales = fit_spread_scales(kronos, out.realised)
    tables = evaluate(kronos, out, config, spread_scales={h: s.scale for h, s in scales.items()})
    return scales, tables


def test_evaluate_tables(evaluated):
    scales, tables = evaluated
    assert all(0.7 < s.scale < 1.4 for s in scales.values())  # oracle paths need no stretching
    losses = tables["losses"].set_index(["horizon", "model"])
    assert set(losses.index.get_level_values("model")) == {"kronos", "hist20", "hist60", "ewma", "garch", "har"}
    # the oracle knows the true vol: best QLIKE at h=5 (its estimate pools 30 paths x 5 bars)
    assert losses.loc[5, "qlike"].idxmin() == "kronos"
    cal = tables["calibration"].set_index(["horizon", "forecaster"])
    assert cal.loc[(5, "kronos"), "coverage_90"] == pytest.approx(0.9, abs=0.05)
    assert cal.loc[(5, "gaussian_garch"), "coverage_90"] == pytest.approx(0.9, abs=0.06)
    assert {"kronos_scaled"} <= set(cal.index.get_level_values("forecaster"))
    dm = tables["dm"]
    assert set(dm["baseline"]) == {"hist20", "hist60", "ewma", "garch", "har"}
    mz = tables["mz"].set_index(["horizon", "model", "space"])
    assert mz.loc[(5, "kronos", "variance"), "slope"] > 0
    metrics = headline_metrics(tables)
    assert "vol_h5_kronos_qlike" in metrics and "cal_h1_kronos_crps" in metrics
    assert np.isfinite(list(metrics.values())).all()


def test_horizon_beyond_the_paths_is_an_error(market):
    _, rows, paths, last = market
    with pytest.raises(ValueError, match="longer than the forecast"):
        kronos_forecasts(paths, last, rows, (1, 20))


def test_vol_report_html(evaluated, tmp_path):
    from kronos_quant.research.vol_report import write_vol_report

    _, tables = evaluated
    path = write_vol_report(tables, tmp_path / "vol" / "report.html", spread_scales={1: 1.0, 5: 1.1})
    text = path.read_text()
    assert text.count("data:image/png;base64,") == 4  # scatter, PIT, coverage, reliability
    qlike = tables["losses"].set_index(["horizon", "model"]).loc[(5, "kronos"), "qlike"]
    assert f'data-table="losses" data-row="5/kronos" data-column="qlike">{qlike:.6g}<' in text
    assert "http" not in text.replace("http-equiv", "")  # offline: no external assets


def test_overlap_counts_scored_dates_not_bars():
    from kronos_quant.research.vol_evaluation import infer_date_step

    calendar = pd.bdate_range("2020-01-01", periods=100)
    assert infer_date_step(calendar[::5].repeat(3), calendar) == 5
    config = VolEvalConfig(date_step=5)
    assert [config.overlap(h) for h in (1, 5, 10, 20)] == [1, 1, 2, 4]
    assert VolEvalConfig().overlap(20) == 20
    with pytest.raises(ValueError, match="date_step"):
        VolEvalConfig(date_step=0)


def test_rows_with_a_nonpositive_sampled_close_are_dropped_and_counted(market):
    _, rows, paths, last = market
    broken = paths.copy()
    broken[3, 1, 2, 3] = -1.0  # Kronos' linear denormalisation can produce a negative close
    kronos = kronos_forecasts(broken, last, rows, (1, 5))
    assert kronos.dropped == 1 and len(kronos.index) == len(rows) - 1
    assert rows[3] not in kronos.index and kronos.returns[5].shape == (len(rows) - 1, P)
