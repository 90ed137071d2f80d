"""Scoring volatility forecasts against realised volatility: QLIKE, MSE of log vol, Mincer-Zarnowitz, DM.

Conventions: ``forecast`` and ``realised`` are per-bar volatilities (not variances) on the same rows;
losses are computed on variances ``f = forecast^2``, ``v = realised^2``:

- QLIKE ``v/f - log(v/f) - 1`` (Patton 2011: robust to a noisy unbiased proxy; 0 at a perfect forecast);
- MSE of log volatility ``(log forecast - log realised)^2``.

Both need ``realised > 0``; a row with zero realised volatility (a flat close, e.g. a one-bar horizon on
a limit-locked day) is left out of every model's losses alike, and counted.

Panels are (date, instrument): rows of one date share a market shock, and horizons h > 1 overlap. The
Diebold-Mariano test therefore averages the loss differential per date (one value per date) and takes
a Newey-West t-statistic with at least h lags (:func:`kronos_quant.research.hac.hac_mean`). The
Mincer-Zarnowitz regression uses statsmodels' Driscoll-Kraay errors (``cov_type="hac-groupsum"``), which
allow for both the same-date correlation and the overlap.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
import pandas as pd

from kronos_quant.research.hac import hac_mean

SPACES = ("variance", "log")


def _pair(forecast, realised) -> tuple[np.ndarray, np.ndarray]:
    forecast, realised = np.asarray(forecast, dtype=np.float64), np.asarray(realised, dtype=np.float64)
    if forecast.shape != realised.shape:
        raise ValueError(f"forecast {forecast.shape} and realised {realised.shape} must have the same shape")
    if np.any(forecast[np.isfinite(forecast)] <= 0):
        raise ValueError("volatility forecasts must be > 0; floor or drop non-positive forecasts first")
    return forecast, realised


def qlike(forecast, realised) -> np.ndarray:
    """QLIKE per row, ``v/f - log(v/f) - 1`` on variances; NaN where either is NaN or realised <= 0."""
    forecast, realised = _pair(forecast, realised)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(realised > 0, realised ** 2 / forecast ** 2, np.nan)
        return ratio - np.log(ratio) - 1.0


def mse_log_vol(forecast, realised) -> np.ndarray:
    """Squared error of log volatility per row; NaN where either is NaN or realised <= 0."""
    forecast, realised = _pair(forecast, realised)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(realised > 0, (np.log(forecast) - np.log(np.where(realised > 0, realised, 1.0))) ** 2,
                        np.nan)


LOSSES = {"qlike": qlike, "mse_log_vol": mse_log_vol}


def common_rows(forecasts: pd.DataFrame, realised: pd.Series) -> pd.Series:
    """Boolean mask of rows where every forecast column is finite and realised is finite and > 0."""
    return forecasts.apply(np.isfinite).all(axis=1) & np.isfinite(realised) & (realised > 0)


def loss_table(forecasts: pd.DataFrame, realised: pd.Series) -> pd.DataFrame:
    """Mean QLIKE and MSE of log vol per model (column of ``forecasts``) on their common rows.

    Returns a frame indexed by model with columns qlike, mse_log_vol, n (rows used).
    """
    mask = common_rows(forecasts, realised)
    rows = []
    for model in forecasts.columns:
        losses = {name: float(np.mean(fn(forecasts.loc[mask, model], realised[mask]))) for name, fn in LOSSES.items()}
        rows.append(dict(model=model, **losses, n=int(mask.sum())))
    return pd.DataFrame(rows).set_index("model")


class MZResult(NamedTuple):
    """Mincer-Zarnowitz ``realised = a + b forecast + e``: coefficients, their HAC errors, R^2, Wald test."""

    intercept: float
    slope: float
    intercept_se: float
    slope_se: float
    r2: float
    wald_p: float  # joint test of a = 0, b = 1
    n: int


def mincer_zarnowitz(forecast: pd.Series, realised: pd.Series, *, space: str = "variance", lags: int = 1) -> MZResult:
    """MZ regression on variances (``space="variance"``) or log volatilities (``"log"``).

    ``forecast``/``realised``: Series on a (datetime, instrument) index. Standard errors are Driscoll-Kraay
    (statsmodels ``hac-groupsum`` over dates) with ``lags`` (use the horizon h).
    """
    import statsmodels.api as sm

    if space not in SPACES:
        raise ValueError(f"space must be one of {SPACES}, got {space!r}")
    frame = pd.DataFrame({"f": forecast, "v": realised})
    frame = frame[np.isfinite(frame).all(axis=1) & (frame["v"] > 0) & (frame["f"] > 0)]
    if len(frame) < 3:
        raise ValueError(f"Mincer-Zarnowitz needs at least 3 scorable rows, got {len(frame)}")
    frame = frame.sort_index(level="datetime", sort_remaining=True)
    x, y = (frame["f"] ** 2, frame["v"] ** 2) if space == "variance" else (np.log(frame["f"]), np.log(frame["v"]))
    time = pd.factorize(frame.index.get_level_values("datetime"), sort=True)[0]
    fit = sm.OLS(y.to_numpy(), sm.add_constant(x.to_numpy())).fit(
        cov_type="hac-groupsum", cov_kwds={"time": time, "maxlags": int(lags)})
    wald = fit.wald_test((np.eye(2), np.array([0.0, 1.0])), scalar=True)
    return MZResult(float(fit.params[0]), float(fit.params[1]), float(fit.bse[0]), float(fit.bse[1]),
                    float(fit.rsquared), float(wald.pvalue), len(frame))


class DMResult(NamedTuple):
    """Diebold-Mariano test of equal expected loss; mean_diff < 0 means the first forecast is better."""

    mean_diff: float  # mean over dates of the per-date mean of loss_a - loss_b
    stat: float  # mean_diff / Newey-West se
    p_value: float  # two-sided, standard normal
    lags: int
    n_dates: int


def diebold_mariano(loss_a: pd.Series, loss_b: pd.Series, *, horizon: int = 1, lags: int | None = None) -> DMResult:
    """DM test of two loss series on the same (datetime, instrument) rows (or a plain date index).

    The differential is averaged per date first; its mean gets a Newey-West (Bartlett) standard error
    with at least ``horizon`` lags (statsmodels, via :func:`kronos_quant.research.hac.hac_mean`).
    """
    if not loss_a.index.equals(loss_b.index):
        raise ValueError("loss_a and loss_b must share the same index (score both forecasts on the same rows)")
    diff = (loss_a - loss_b).dropna()
    if isinstance(diff.index, pd.MultiIndex):
        diff = diff.groupby(level="datetime").mean()
    diff = diff.sort_index()
    result = hac_mean(diff.to_numpy(), lags=lags, label_horizon=int(horizon))
    p_value = math.erfc(abs(result.t_stat) / math.sqrt(2.0)) if np.isfinite(result.t_stat) else float("nan")
    return DMResult(result.mean, result.t_stat, p_value, result.lags, result.n)


def dm_table(forecasts: pd.DataFrame, realised: pd.Series, *, reference: str, horizon: int,
             loss: str = "qlike") -> pd.DataFrame:
    """DM tests of ``reference`` against every other column of ``forecasts`` on their common rows."""
    if loss not in LOSSES:
        raise ValueError(f"loss must be one of {sorted(LOSSES)}, got {loss!r}")
    if reference not in forecasts.columns:
        raise ValueError(f"reference {reference!r} is not a forecast column; have {list(forecasts.columns)}")
    mask = common_rows(forecasts, realised)
    losses = {m: pd.Series(LOSSES[loss](forecasts.loc[mask, m], realised[mask]), index=realised[mask].index)
              for m in forecasts.columns}
    rows = [dict(baseline=m, **diebold_mariano(losses[reference], losses[m], horizon=horizon)._asdict())
            for m in forecasts.columns if m != reference]
    return pd.DataFrame(rows).set_index("baseline")
