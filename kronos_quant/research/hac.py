"""Newey–West (HAC) inference for the mean of a daily series (IC, RankIC, long–short returns).

With a label horizon h > 1 day, consecutive daily ICs share h - 1 days of their forward returns, so they
are autocorrelated and ``t = ICIR * sqrt(n)`` overstates significance. The HAC standard error corrects
for that. The arithmetic is statsmodels' (an OLS of the series on a constant with ``cov_type="HAC"``
and Bartlett weights); this module only chooses the lag and handles NaN and degenerate input.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd


class HACMean(NamedTuple):
    """Mean of a series with its Newey–West standard error (same units as the series)."""

    mean: float
    se: float
    t_stat: float  # mean / se
    lags: int  # Bartlett lags used
    n: int  # finite observations used


def default_lags(n: int, label_horizon: int = 1) -> int:
    """At least the label horizon, and at least the Newey–West (1994) rule floor(4 (n/100)^(2/9))."""
    if n < 1:
        return max(int(label_horizon), 0)
    rule = int(math.floor(4.0 * (n / 100.0) ** (2.0 / 9.0)))
    return max(int(label_horizon), rule)


def hac_mean(values, *, lags: int | None = None, label_horizon: int = 1) -> HACMean:
    """Mean, Newey–West standard error and t-statistic of ``values`` (NaN ignored).

    Args:
        values: 1-D array or Series of daily observations, in date order.
        lags: Bartlett lags; default :func:`default_lags` (never fewer than ``label_horizon``).
        label_horizon: days each observation's label spans; lags are at least this.
    Returns:
        :class:`HACMean`. Fewer than 3 finite values, or a constant series, give NaN se and t.
    """
    import statsmodels.api as sm  # lazy: keeps `import kronos_quant` light

    if label_horizon < 1:
        raise ValueError(f"label_horizon must be >= 1 day, got {label_horizon}")
    series = pd.Series(np.asarray(values, dtype=float).ravel())
    finite = series[np.isfinite(series)].to_numpy()
    n = int(finite.size)
    used_lags = default_lags(n, label_horizon) if lags is None else int(lags)
    if used_lags < 0:
        raise ValueError(f"lags must be >= 0, got {lags}")
    mean = float(finite.mean()) if n else float("nan")
    if n < 3 or float(np.ptp(finite)) == 0.0:
        return HACMean(mean, float("nan"), float("nan"), used_lags, n)
    used_lags = min(used_lags, n - 1)
    fit = sm.OLS(finite, np.ones((n, 1))).fit(cov_type="HAC", cov_kwds={"maxlags": used_lags, "use_correction": True})
    se = float(fit.bse[0])
    return HACMean(mean, se, mean / se if se > 0 else float("nan"), used_lags, n)
