"""Style risk exposures from price/volume panels (pure pandas, no lookahead).

Conventions
-----------
- Panels are wide DataFrames ``(dates, instruments)`` on a common trading calendar; the
  benchmark close is a Series ``(dates,)``. ``amount`` is traded value (price x volume).
- Every exposure at date ``t`` uses data up to and including ``t`` only (trailing windows that
  need ``ceil(2/3 * window)`` valid days, so suspensions leave gaps rather than NaN streaks);
  it may be used with a signal formed at the close of ``t``.
- Returns are simple daily returns as fractions.

Exposures
---------
- ``beta``: rolling 60-day OLS slope of the stock's daily return on the benchmark's (days where
  both returns exist).
- ``size``: ``log(market cap)`` when a market-cap panel is given, otherwise the proxy
  ``log(20-day mean amount)`` (traded value grows with capitalisation).
- ``mom_20`` / ``mom_60``: ``close[t] / close[t - n] - 1``.
- ``vol_20``: 20-day std (``ddof=1``) of daily returns, daily units.
- ``liquidity``: ``-log(Amihud)`` with ``Amihud = 20-day mean of |return| / amount`` (higher =
  more liquid); windows with zero Amihud (no price move) are NaN.
- ``industry``: categorical code column (kept as codes; :func:`industry_dummies` expands it).
"""
from __future__ import annotations

import math

import numpy as np
import pandas as pd

BETA_WINDOW = 60  # trading days for the benchmark beta
SIZE_WINDOW = 20  # trading days of amount averaged for the size proxy
MOMENTUM_WINDOWS = (20, 60)  # trading days
VOLATILITY_WINDOW = 20  # trading days
LIQUIDITY_WINDOW = 20  # trading days of the Amihud average
MIN_FRACTION = 2 / 3  # a window needs this fraction of valid days (suspensions leave gaps)


def _check_panel(panel, name: str) -> pd.DataFrame:
    if not isinstance(panel, pd.DataFrame):
        raise TypeError(
            f"{name} must be a wide DataFrame (index datetime, columns instrument); got {type(panel).__name__}"
        )
    if not panel.index.is_monotonic_increasing:
        raise ValueError(f"{name} index must be sorted by date; call .sort_index() first")
    return panel.astype(float)


def daily_returns(close: pd.DataFrame) -> pd.DataFrame:
    """Simple returns ``close[t] / close[t-1] - 1`` (no forward filling of gaps)."""
    return _check_panel(close, "close").pct_change(fill_method=None)


def min_obs(window: int) -> int:
    """Observations a trailing window needs: ``ceil(MIN_FRACTION * window)`` (tolerates suspensions)."""
    return max(1, math.ceil(MIN_FRACTION * window))


def beta_to_benchmark(close: pd.DataFrame, benchmark_close: pd.Series, window: int = BETA_WINDOW) -> pd.DataFrame:
    """Rolling ``cov(r_i, r_b) / var(r_b)`` over ``window`` days on days where both returns exist."""
    if not isinstance(benchmark_close, pd.Series):
        raise TypeError("benchmark_close must be a Series indexed by datetime")
    returns = daily_returns(close)
    bench = benchmark_close.astype(float).reindex(returns.index).pct_change(fill_method=None)
    valid = returns.notna() & bench.notna().to_numpy()[:, None]
    stock = returns.where(valid)
    market = valid.mul(bench.fillna(0.0), axis=0).where(valid)

    def rolling_sum(frame):
        return frame.rolling(window, min_periods=1).sum()

    count = valid.astype(float).rolling(window, min_periods=1).sum()
    sum_s, sum_m = rolling_sum(stock), rolling_sum(market)
    covariance = rolling_sum(stock * market) - sum_s * sum_m / count
    variance = rolling_sum(market * market) - sum_m * sum_m / count
    beta = covariance / variance.where(variance > 0)
    return beta.where(count >= min_obs(window))


def size(amount: pd.DataFrame, market_cap: pd.DataFrame | None = None, window: int = SIZE_WINDOW) -> pd.DataFrame:
    """``log(market_cap)`` if given, else ``log(window-day mean amount)``; non-positive -> NaN."""
    if market_cap is not None:
        base = _check_panel(market_cap, "market_cap")
    else:
        base = _check_panel(amount, "amount").rolling(window, min_periods=min_obs(window)).mean()
    return np.log(base.where(base > 0))


def momentum(close: pd.DataFrame, window: int) -> pd.DataFrame:
    """``close[t] / close[t - window] - 1``."""
    close = _check_panel(close, "close")
    return close / close.shift(window) - 1.0


def volatility(close: pd.DataFrame, window: int = VOLATILITY_WINDOW) -> pd.DataFrame:
    """Trailing std (``ddof=1``) of daily returns, daily units."""
    return daily_returns(close).rolling(window, min_periods=min_obs(window)).std()


def liquidity(close: pd.DataFrame, amount: pd.DataFrame, window: int = LIQUIDITY_WINDOW) -> pd.DataFrame:
    """``-log`` of the trailing mean Amihud ratio ``|return| / amount`` (NaN where it is 0 or amount <= 0)."""
    amount = _check_panel(amount, "amount")
    ratio = daily_returns(close).abs() / amount.where(amount > 0)
    amihud = ratio.rolling(window, min_periods=min_obs(window)).mean()
    return -np.log(amihud.where(amihud > 0))


def industry_dummies(industry: pd.Series, prefix: str = "industry") -> pd.DataFrame:
    """One 0/1 column per industry code, on ``industry``'s index; NaN codes give NaN rows."""
    dummies = pd.get_dummies(industry.astype(str).where(industry.notna()), prefix=prefix, prefix_sep="=", dtype=float)
    return dummies.where(industry.notna(), axis=0)


def _stack(panel: pd.DataFrame) -> pd.Series:
    return panel.stack(future_stack=True).rename_axis(["datetime", "instrument"])


def style_exposures(
    close: pd.DataFrame,
    amount: pd.DataFrame,
    benchmark_close: pd.Series,
    *,
    market_cap: pd.DataFrame | None = None,
    industry: pd.DataFrame | pd.Series | None = None,
) -> pd.DataFrame:
    """All style exposures as a long DataFrame indexed ``(datetime, instrument)``.

    Columns: ``beta, size, mom_20, mom_60, vol_20, liquidity`` and, when ``industry`` is given
    (a ``(dates, instruments)`` panel of codes, or a Series of static codes indexed by
    instrument), an ``industry`` code column. Rows where every numeric exposure is NaN (the
    warm-up period) are dropped.
    """
    close = _check_panel(close, "close")
    amount = _check_panel(amount, "amount").reindex_like(close)
    if market_cap is not None:
        market_cap = _check_panel(market_cap, "market_cap").reindex_like(close)
    panels = {
        "beta": beta_to_benchmark(close, benchmark_close),
        "size": size(amount, market_cap),
        **{f"mom_{window}": momentum(close, window) for window in MOMENTUM_WINDOWS},
        f"vol_{VOLATILITY_WINDOW}": volatility(close),
        "liquidity": liquidity(close, amount),
    }
    frame = pd.DataFrame({name: _stack(panel) for name, panel in panels.items()})
    frame = frame.dropna(how="all")
    if industry is not None:
        if isinstance(industry, pd.Series):
            codes = industry.reindex(frame.index.get_level_values("instrument")).to_numpy()
        else:
            codes = _stack(industry.reindex_like(close)).reindex(frame.index).to_numpy()
        frame["industry"] = codes
    return frame
