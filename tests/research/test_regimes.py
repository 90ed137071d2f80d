"""Market regimes are point in time: labels at t use benchmark data up to t only (issue 21)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research.regimes import RegimeSettings, market_regimes, regime_table

SETTINGS = RegimeSettings(trend_window=20, flat_band=0.03, vol_window=10, vol_min_history=30)


def bench(n=300, seed=0) -> pd.Series:
    rng = np.random.default_rng(seed)
    returns = rng.normal(0.0, 0.01, size=n) * np.repeat(rng.uniform(0.5, 2.0, size=n // 50 + 1), 50)[:n]
    return pd.Series(100 * np.exp(np.cumsum(returns)), index=pd.bdate_range("2020-01-01", periods=n))


def test_regime_labels_use_data_up_to_t_only():
    close = bench()
    labels = market_regimes(close, settings=SETTINGS)
    assert set(labels["trend"].dropna()) == {"up", "flat", "down"}
    assert set(labels["volatility"].dropna()) == {"high", "low"}
    assert labels["volatility"].iloc[:SETTINGS.vol_window + SETTINGS.vol_min_history - 1].isna().all()
    rng = np.random.default_rng(1)
    for t in close.index[[60, 150, 299]]:
        perturbed = close.copy()
        later = perturbed.index > t
        perturbed[later] = perturbed[later] * np.exp(np.cumsum(rng.normal(0, 0.05, size=later.sum())))
        pd.testing.assert_frame_equal(market_regimes(perturbed, settings=SETTINGS).loc[:t], labels.loc[:t])
    # ... and they do use day t itself: a crash on t is a down trend on t
    t = close.index[150]
    crashed = close.copy()
    crashed[t] = crashed[t] * 0.5
    assert market_regimes(crashed, settings=SETTINGS).loc[t, "trend"] == "down"


def test_trend_thresholds_by_hand():
    close = pd.Series(np.r_[np.full(25, 100.0), 110.0, 98.0, 100.5], index=pd.bdate_range("2021-01-01", periods=28))
    trend = market_regimes(close, settings=SETTINGS)["trend"]
    assert trend.iloc[:20].isna().all()
    assert trend.iloc[-3:].tolist() == ["up", "flat", "flat"]  # +10%, -2%, +0.5% over 20 days
    with pytest.raises(ValueError, match="flat_band"):
        RegimeSettings(flat_band=1.5)


def test_regime_table_counts_and_means():
    close = bench()
    labels = market_regimes(close, settings=SETTINGS)
    days = close.index[100:]
    rng = np.random.default_rng(2)
    ics = {"a": pd.DataFrame({"IC": rng.normal(size=len(days)), "RankIC": rng.normal(size=len(days))}, index=days)}
    excess = {"a": pd.Series(rng.normal(0, 0.01, size=len(days)), index=days)}
    table = regime_table(ics, excess, labels)
    trend = table.xs("trend", level="regime")
    assert trend["days"].sum() == len(days)
    up = labels["trend"].reindex(days) == "up"
    assert trend.loc[("up", "a"), "IC"] == pytest.approx(ics["a"]["IC"][up].mean())
    previous_up = labels["trend"].shift(1).reindex(days) == "up"
    assert trend.loc[("up", "a"), "topk_excess_ann"] == pytest.approx(excess["a"][previous_up].mean() * 238)
