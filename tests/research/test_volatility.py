"""Kronos horizon volatilities from paths, realised volatility and range estimators: known answers."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research import signals
from kronos_quant.research.volatility import (
    garman_klass_variance,
    horizon_returns,
    horizon_volatility,
    parkinson_variance,
    realised_volatility,
    spread_volatility,
    traded_series,
    volatility_exposure,
)


def _paths_from_returns(returns: np.ndarray, last_close: np.ndarray) -> np.ndarray:
    """(N, P, H) log returns -> (N, P, H, 6) price paths with close = last * exp(cumsum)."""
    closes = last_close[:, None, None] * np.exp(np.cumsum(returns, axis=2))
    paths = np.repeat(closes[..., None], 6, axis=3)
    return paths


def test_horizon_volatility_hand_computed():
    returns = np.array([[[0.01, -0.02, 0.03], [0.02, 0.0, -0.01]]])  # (1, 2, 3)
    paths = _paths_from_returns(returns, np.array([10.0]))
    vol = horizon_volatility(paths, [10.0], horizons=(1, 3))
    assert vol.shape == (1, 2)
    assert vol[0, 0] == pytest.approx(np.sqrt((0.01 ** 2 + 0.02 ** 2) / 2), rel=1e-10)
    assert vol[0, 1] == pytest.approx(np.sqrt(np.mean(returns ** 2)), rel=1e-10)
    np.testing.assert_allclose(horizon_returns(paths, [10.0], 3), [[0.02, 0.01]], atol=1e-12)


def test_gaussian_paths_recover_sigma():
    rng = np.random.default_rng(0)
    sigma = np.array([0.01, 0.03])
    returns = rng.normal(0.0, 1.0, (2, 400, 20)) * sigma[:, None, None]
    paths = _paths_from_returns(returns, np.array([5.0, 50.0]))
    vol = horizon_volatility(paths, [5.0, 50.0], horizons=(1, 20))
    np.testing.assert_allclose(vol, np.repeat(sigma[:, None], 2, axis=1), rtol=0.08)
    np.testing.assert_allclose(spread_volatility(paths, [5.0, 50.0], 20), sigma, rtol=0.1)


def test_horizon_longer_than_forecast_is_an_error():
    paths = _paths_from_returns(np.zeros((1, 3, 5)) + 0.01, np.array([1.0]))
    with pytest.raises(ValueError, match="longer than the forecast"):
        horizon_volatility(paths, [1.0], horizons=(1, 10))
    with pytest.raises(ValueError, match="horizon must be in"):
        signals.predicted_volatility(paths, [1.0], horizon=6)


def test_one_path_spread_is_an_error():
    paths = _paths_from_returns(np.full((1, 1, 5), 0.01), np.array([1.0]))
    with pytest.raises(ValueError, match="one-path"):
        spread_volatility(paths, [1.0], 5)
    assert horizon_volatility(paths, [1.0], horizons=(5,))[0, 0] == pytest.approx(0.01)


def test_signal_predicted_volatility_horizon_and_low_volatility():
    rng = np.random.default_rng(1)
    returns = rng.normal(0, 0.02, (3, 4, 10))
    paths = _paths_from_returns(returns, np.ones(3))
    expected = returns[:, :, :5].std(axis=2).mean(axis=1)
    np.testing.assert_allclose(signals.predicted_volatility(paths, np.ones(3), horizon=5), expected, rtol=1e-6)
    np.testing.assert_allclose(signals.compute_signal("low_volatility", paths, np.ones(3)),
                               -signals.predicted_volatility(paths, np.ones(3)))


def test_range_estimators_on_simulated_brownian_bars():
    rng = np.random.default_rng(2)
    sigma, steps, days = 0.02, 500, 2000
    increments = rng.normal(0, sigma / np.sqrt(steps), (days, steps))
    log_path = np.concatenate([np.zeros((days, 1)), np.cumsum(increments, axis=1)], axis=1)
    high, low, close = np.exp(log_path.max(axis=1)), np.exp(log_path.min(axis=1)), np.exp(log_path[:, -1])
    # discrete monitoring biases the range down a little: 10% tolerance on the variance
    assert parkinson_variance(high, low).mean() == pytest.approx(sigma ** 2, rel=0.1)
    assert garman_klass_variance(np.ones(days), high, low, close).mean() == pytest.approx(sigma ** 2, rel=0.1)


def _bars(closes: dict[str, list[float]], volume_zero: dict[str, int] | None = None) -> pd.DataFrame:
    dates = pd.bdate_range("2021-01-04", periods=len(next(iter(closes.values()))))
    frames = []
    for inst, values in closes.items():
        frame = pd.DataFrame({"open": values, "high": values, "low": values, "close": values, "volume": 1.0},
                             index=pd.MultiIndex.from_product([dates, [inst]], names=["datetime", "instrument"]))
        if volume_zero and inst in volume_zero:
            frame.iloc[volume_zero[inst], frame.columns.get_loc("volume")] = 0.0
        frames.append(frame)
    return pd.concat(frames).sort_index()


def test_realised_volatility_skips_suspended_days_and_needs_future_bars():
    closes = [100, 101, 99, 99, 102, 103]
    bars = _bars({"A": closes}, volume_zero={"A": 3})  # day 3 suspended (carried price, volume 0)
    series = traded_series(bars)
    dates = bars.index.get_level_values("datetime").unique()
    index = pd.MultiIndex.from_tuples([(dates[1], "A"), (dates[3], "A"), (dates[4], "A")],
                                      names=["datetime", "instrument"])
    out = realised_volatility(series, index, horizons=(1, 2))
    r_next = np.log(99 / 101)  # traded bars after day 1: 99 (day 2), 102 (day 4)
    r_after = np.log(102 / 99)
    assert out.loc[index[0], ("rv", 1)] == pytest.approx(abs(r_next))
    assert out.loc[index[0], ("rv", 2)] == pytest.approx(np.sqrt((r_next ** 2 + r_after ** 2) / 2))
    assert out.loc[index[0], ("ret", 2)] == pytest.approx(np.log(102 / 101))
    assert out.loc[index[1]].isna().all()  # suspended on its date
    assert np.isnan(out.loc[index[2], ("rv", 2)])  # only one bar after day 4
    assert out.loc[index[2], ("rv", 1)] == pytest.approx(abs(np.log(103 / 102)))


def test_volatility_exposure_is_log_and_nan_for_nonpositive():
    index = pd.MultiIndex.from_product([pd.to_datetime(["2021-01-04"]), ["A", "B"]], names=["datetime", "instrument"])
    exposure = volatility_exposure(pd.Series([0.02, 0.0], index=index))
    assert exposure["predicted_volatility"].iloc[0] == pytest.approx(np.log(0.02))
    assert np.isnan(exposure["predicted_volatility"].iloc[1])


def test_volatility_exposure_feeds_neutralize():
    from kronos_quant.research.neutralize import neutralize

    rng = np.random.default_rng(5)
    index = pd.MultiIndex.from_product([pd.bdate_range("2021-01-04", periods=5), [f"S{i}" for i in range(60)]],
                                       names=["datetime", "instrument"])
    vol = pd.Series(np.exp(rng.normal(-4, 0.5, len(index))), index=index)
    signal = pd.Series(2.0 * np.log(vol) + rng.normal(size=len(index)), index=index)  # loads on volatility
    exposure = volatility_exposure(vol)
    neutral = neutralize(signal, exposure, winsorize_method=None)
    for _, day in neutral.groupby(level="datetime"):
        log_vol = exposure.loc[day.index, "predicted_volatility"]
        assert abs(np.corrcoef(day, log_vol)[0, 1]) < 1e-8
