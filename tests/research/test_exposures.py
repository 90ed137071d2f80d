"""Checks for kronos_quant.research.exposures: hand-computed values and no lookahead."""
import numpy as np
import pandas as pd
import pytest

from kronos_quant.research import exposures as ex

N_DATES = 90


def _market(seed: int = 0):
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2021-01-04", periods=N_DATES, name="datetime")
    bench_ret = rng.normal(0, 0.01, N_DATES)
    betas = np.array([0.5, 1.0, 1.5])
    rets = bench_ret[:, None] * betas + rng.normal(0, 0.002, (N_DATES, 3))
    close = pd.DataFrame(10 * np.cumprod(1 + rets, axis=0), index=dates, columns=["A", "B", "C"])
    bench = pd.Series(1000 * np.cumprod(1 + bench_ret), index=dates)
    amount = pd.DataFrame(rng.uniform(1e6, 1e7, (N_DATES, 3)), index=dates, columns=close.columns)
    return close, amount, bench


def test_hand_computed_momentum_size_volatility_liquidity():
    dates = pd.bdate_range("2021-01-04", periods=3)
    close = pd.DataFrame({"A": [10.0, 11.0, 9.9]}, index=dates)
    amount = pd.DataFrame({"A": [100.0, 200.0, 300.0]}, index=dates)
    assert ex.momentum(close, 2).iloc[-1, 0] == pytest.approx(9.9 / 10 - 1)
    assert ex.size(amount, window=2).iloc[-1, 0] == pytest.approx(np.log(250.0))
    assert ex.size(amount, market_cap=amount * 10).iloc[0, 0] == pytest.approx(np.log(1000.0))
    assert ex.volatility(close, 2).iloc[-1, 0] == pytest.approx(np.std([0.1, -0.1], ddof=1))
    amihud = (0.1 / 200 + 0.1 / 300) / 2  # |r| / amount averaged over 2 days
    assert ex.liquidity(close, amount, 2).iloc[-1, 0] == pytest.approx(-np.log(amihud))
    assert np.isnan(ex.momentum(close, 2).iloc[1, 0])  # warm-up is NaN, not 0


def test_beta_recovers_true_beta():
    close, _, bench = _market()
    beta = ex.beta_to_benchmark(close, bench)
    assert beta.iloc[:40].isna().all().all() and beta.iloc[40:].notna().all().all()  # 40 of 60 returns needed
    np.testing.assert_allclose(beta.iloc[-1], [0.5, 1.0, 1.5], atol=0.05)
    returns, bench_returns = close.pct_change().iloc[-60:], bench.pct_change().iloc[-60:]
    direct = returns["B"].cov(bench_returns) / bench_returns.var()
    assert beta.iloc[-1]["B"] == pytest.approx(direct, rel=1e-9)


def test_beta_skips_suspended_days():
    close, _, bench = _market(3)
    gappy = close.copy()
    gappy.iloc[70:75, 0] = np.nan  # suspension: 5 missing closes -> 6 missing returns
    beta = ex.beta_to_benchmark(gappy, bench)
    returns, bench_returns = gappy["A"].pct_change(fill_method=None).iloc[-60:], bench.pct_change().iloc[-60:]
    both = returns.notna()
    direct = returns[both].cov(bench_returns[both]) / bench_returns[both].var()
    assert beta.iloc[-1]["A"] == pytest.approx(direct, rel=1e-9)


def test_no_lookahead():
    close, amount, bench = _market(1)
    cap = close * 1e8
    industry = pd.Series({"A": 1.0, "B": 2.0, "C": 1.0})
    full = ex.style_exposures(close, amount, bench, market_cap=cap, industry=industry)
    cut = 75
    truncated = ex.style_exposures(
        close.iloc[:cut], amount.iloc[:cut], bench.iloc[:cut], market_cap=cap.iloc[:cut], industry=industry
    )
    last_date = close.index[cut - 1]
    pd.testing.assert_frame_equal(full.loc[[last_date]], truncated.loc[[last_date]])
    # changing the future leaves the past unchanged
    shocked = close.copy()
    shocked.iloc[cut:] *= 3.0
    again = ex.style_exposures(shocked, amount, bench, market_cap=cap, industry=industry)
    pd.testing.assert_frame_equal(again.loc[:last_date], full.loc[:last_date])


def test_style_exposures_columns_and_industry():
    close, amount, bench = _market(2)
    frame = ex.style_exposures(close, amount, bench, industry=pd.Series({"A": 1.0, "B": 2.0, "C": 1.0}))
    assert list(frame.columns) == ["beta", "size", "mom_20", "mom_60", "vol_20", "liquidity", "industry"]
    assert frame.index.names == ["datetime", "instrument"]
    assert frame.xs("B", level="instrument")["industry"].eq(2.0).all()
    dummies = ex.industry_dummies(frame["industry"])
    assert list(dummies.columns) == ["industry=1.0", "industry=2.0"]
    assert dummies.sum(axis=1).eq(1.0).all()


def test_bad_inputs():
    close, amount, bench = _market()
    with pytest.raises(TypeError, match="wide DataFrame"):
        ex.momentum(close["A"], 20)
    with pytest.raises(ValueError, match="sort_index"):
        ex.volatility(close.iloc[::-1])
    with pytest.raises(TypeError, match="benchmark_close"):
        ex.beta_to_benchmark(close, bench.to_frame())
