"""Point-in-time volatility baselines: hand-computed values and no use of data after t."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research.vol_baselines import (
    BaselineConfig,
    baseline_forecasts,
    flat_forecasts,
    instrument_baselines,
    schedule_blocks,
)
from kronos_quant.research.volatility import traded_series


def _garch_returns(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    omega, alpha, beta = 0.05, 0.08, 0.9  # percent^2
    variance, out = omega / (1 - alpha - beta), np.empty(n)
    for t in range(n):
        out[t] = np.sqrt(variance) * rng.standard_normal()
        variance = omega + alpha * out[t] ** 2 + beta * variance
    return out / 100.0


def _frame(returns: np.ndarray) -> pd.DataFrame:
    close = 50.0 * np.exp(np.cumsum(np.nan_to_num(returns)))  # returns[0] is the NaN first return
    frame = pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close},
                         index=pd.bdate_range("2012-01-02", periods=len(returns)))
    frame["ret"] = np.log(frame["close"]).diff()
    return frame


def test_hist_and_ewma_hand_computed():
    returns = np.r_[np.nan, np.random.default_rng(3).normal(0, 0.01, 99)]
    config = BaselineConfig(hist_windows=(20,), min_history=5)
    out = flat_forecasts(returns, np.array([30, 99]), config)
    assert out["hist20"][0] == pytest.approx(np.std(returns[11:31], ddof=1))
    variance = returns[1] ** 2  # RiskMetrics recursion seeded with the first squared return
    for r in returns[2:31]:
        variance = 0.94 * variance + 0.06 * r ** 2
    assert out["ewma"][0] == pytest.approx(np.sqrt(variance))


def test_schedule_blocks_refit_every():
    blocks = schedule_blocks(np.array([10, 12, 29, 30, 31, 55]), 20)
    assert [b.tolist() for b in blocks] == [[10, 12, 29], [30, 31], [55]]


def test_garch_and_har_use_no_data_after_t():
    returns = np.r_[np.nan, _garch_returns(700)]
    origins = np.arange(400, 640, 7)
    config = BaselineConfig(refit_every=40, window=500)
    base, mu = instrument_baselines(_frame(returns), origins, (1, 5, 20), config)
    cut = 500  # perturb every return after bar `cut`
    changed = returns.copy()
    changed[cut + 1:] = changed[cut + 1:] * 2.0
    other, mu_other = instrument_baselines(_frame(changed), origins, (1, 5, 20), config)
    before = origins <= cut
    for name in base:
        assert np.isfinite(base[name][before]).all(), name
        np.testing.assert_array_equal(base[name][before], other[name][before], err_msg=name)
        assert not np.allclose(base[name][~before], other[name][~before]), name  # later rows did change
    np.testing.assert_array_equal(mu[before], mu_other[before])


def test_garch_tracks_the_true_conditional_volatility():
    returns = np.r_[np.nan, _garch_returns(1500, seed=5)]
    origins = np.arange(1000, 1480)
    base, _ = instrument_baselines(_frame(returns), origins, (1,), BaselineConfig(refit_every=100))
    realised = np.abs(returns[origins + 1])
    # GARCH should beat a constant (full-sample) volatility on QLIKE for GARCH data
    garch_var, const_var = base["garch"][:, 0] ** 2, np.nanvar(returns[1:1000])
    qlike = lambda f: np.mean(realised ** 2 / f - np.log(realised ** 2 / f) - 1)  # noqa: E731
    assert qlike(garch_var) < qlike(np.full_like(garch_var, const_var))


def test_baseline_forecasts_on_a_panel_index():
    returns = _garch_returns(400, seed=1)
    dates = pd.bdate_range("2012-01-02", periods=400)
    bars = []
    for inst, scale in (("A", 1.0), ("B", 2.0)):
        close = 10 * np.exp(np.cumsum(returns * scale))
        bars.append(pd.DataFrame({"open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                                  "volume": 1.0},
                                 index=pd.MultiIndex.from_product([dates, [inst]], names=["datetime", "instrument"])))
    series = traded_series(pd.concat(bars).sort_index())
    index = pd.MultiIndex.from_product([dates[300:310], ["A", "B", "C"]], names=["datetime", "instrument"])
    result = baseline_forecasts(series, index, horizons=(1, 5), config=BaselineConfig(garch_min_obs=200,
                                                                                    har_proxy="parkinson"))
    assert list(result.vol.columns.get_level_values("model").unique()) == ["hist20", "hist60", "ewma", "garch", "har"]
    a = result.vol.xs("A", level="instrument")
    b = result.vol.xs("B", level="instrument")
    np.testing.assert_allclose(b["hist20"], 2 * a["hist20"], rtol=1e-6)  # scale equivariance
    assert result.vol.xs("C", level="instrument").isna().all().all()  # unknown instrument: NaN, not 0


def test_bad_config_is_a_clear_error():
    with pytest.raises(ValueError, match="har_proxy"):
        BaselineConfig(har_proxy="intraday")
    with pytest.raises(ValueError, match="ewma_lambda"):
        BaselineConfig(ewma_lambda=1.0)
