"""QLIKE, MSE of log vol, Mincer-Zarnowitz and Diebold-Mariano against known answers and statsmodels."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from kronos_quant.research.forecast_scoring import (
    diebold_mariano,
    dm_table,
    loss_table,
    mincer_zarnowitz,
    mse_log_vol,
    qlike,
)


def _panel(n_dates: int, n_inst: int) -> pd.MultiIndex:
    return pd.MultiIndex.from_product([pd.bdate_range("2020-01-01", periods=n_dates),
                                       [f"S{i:02d}" for i in range(n_inst)]], names=["datetime", "instrument"])


def test_losses_hand_computed():
    assert qlike([0.02], [0.02])[0] == pytest.approx(0.0)
    ratio = 0.03 ** 2 / 0.02 ** 2
    assert qlike([0.02], [0.03])[0] == pytest.approx(ratio - np.log(ratio) - 1)
    assert mse_log_vol([0.02], [0.04])[0] == pytest.approx(np.log(2.0) ** 2)
    assert np.isnan(qlike([0.02], [0.0])[0]) and np.isnan(mse_log_vol([0.02], [0.0])[0])
    with pytest.raises(ValueError, match="> 0"):
        qlike([0.0], [0.01])


def test_true_volatility_wins_the_loss_table():
    rng = np.random.default_rng(0)
    index = _panel(100, 40)
    sigma = pd.Series(np.exp(rng.normal(-4.0, 0.4, len(index))), index=index)
    realised = sigma * np.abs(rng.standard_normal(len(index)))
    forecasts = pd.DataFrame({"true": sigma, "high": sigma * 1.5, "flat": np.full(len(index), sigma.mean())},
                             index=index)
    table = loss_table(forecasts, realised)
    assert table["qlike"].idxmin() == "true"
    assert (table["n"] == len(index)).all()
    dm = dm_table(forecasts, realised, reference="true", horizon=1)
    assert (dm["mean_diff"] < 0).all() and (dm["p_value"] < 1e-3).all()


def test_mincer_zarnowitz_unbiased_forecast():
    rng = np.random.default_rng(1)
    index = _panel(200, 30)
    sigma = pd.Series(np.exp(rng.normal(-4.0, 0.5, len(index))), index=index)
    realised = sigma * np.abs(rng.standard_normal(len(index)))  # E[realised^2 | sigma] = sigma^2
    result = mincer_zarnowitz(sigma, realised, space="variance", lags=1)
    assert result.slope == pytest.approx(1.0, abs=4 * result.slope_se)
    assert abs(result.intercept) < 4 * result.intercept_se
    assert result.wald_p > 0.001 and result.n == len(index)
    biased = mincer_zarnowitz(sigma * 2, realised, space="variance", lags=1)
    assert biased.slope == pytest.approx(0.25, abs=4 * biased.slope_se)
    assert biased.wald_p < 1e-6


def test_mincer_zarnowitz_se_matches_statsmodels_driscoll_kraay():
    rng = np.random.default_rng(2)
    index = _panel(60, 10)
    f = pd.Series(np.exp(rng.normal(-4, 0.3, len(index))), index=index)
    v = f * np.exp(rng.normal(0, 0.3, len(index)))
    result = mincer_zarnowitz(f, v, space="log", lags=3)
    time = np.repeat(np.arange(60), 10)
    fit = sm.OLS(np.log(v.to_numpy()), sm.add_constant(np.log(f.to_numpy()))).fit(
        cov_type="hac-groupsum", cov_kwds={"time": time, "maxlags": 3})
    np.testing.assert_allclose([result.intercept, result.slope, result.intercept_se, result.slope_se],
                               [fit.params[0], fit.params[1], fit.bse[0], fit.bse[1]], rtol=1e-10)


def test_diebold_mariano_matches_a_statsmodels_newey_west_computation():
    rng = np.random.default_rng(3)
    dates = pd.bdate_range("2020-01-01", periods=300)
    noise = rng.standard_normal(301)
    diff = 0.1 + noise[1:] + 0.6 * noise[:-1]  # MA(1) loss differential with mean 0.1
    loss_b = pd.Series(rng.uniform(1, 2, 300), index=dates)
    loss_a = loss_b + diff
    result = diebold_mariano(loss_a, loss_b, horizon=1, lags=5)
    fit = sm.OLS(diff, np.ones((300, 1))).fit(cov_type="HAC", cov_kwds={"maxlags": 5, "use_correction": True})
    assert result.stat == pytest.approx(float(fit.tvalues[0]), rel=1e-10)
    assert result.p_value == pytest.approx(float(fit.pvalues[0]), rel=1e-8)
    # textbook DM: long-run variance with Bartlett weights, times n/(n-1) (statsmodels' correction)
    centred = diff - diff.mean()
    gamma = [centred[k:] @ centred[:len(centred) - k] / 300 for k in range(6)]
    long_run = gamma[0] + 2 * sum((1 - k / 6) * gamma[k] for k in range(1, 6))
    assert result.stat == pytest.approx(diff.mean() / np.sqrt(long_run / 300 * 300 / 299), rel=1e-8)
    assert result.lags == 5 and result.n_dates == 300


def test_diebold_mariano_averages_a_panel_per_date_and_checks_index():
    index = _panel(50, 4)
    rng = np.random.default_rng(4)
    a, b = pd.Series(rng.normal(size=200), index=index), pd.Series(rng.normal(size=200), index=index)
    result = diebold_mariano(a, b, horizon=5)
    per_date = (a - b).groupby(level="datetime").mean()
    assert result.n_dates == 50 and result.mean_diff == pytest.approx(per_date.mean())
    assert result.lags >= 5
    with pytest.raises(ValueError, match="same index"):
        diebold_mariano(a, b.iloc[:-1], horizon=1)
