"""Turn Kronos forecast sample paths into one cross-sectional score per instrument.

Conventions
-----------
- ``paths``: float array ``(N, P, H, F)`` -- N instruments, P sample paths, H forecast bars,
  F fields in the order ``open, high, low, close, volume, amount`` (only ``close`` at index 3 is
  used, so ``F >= 4``). Prices are in price space (not normalised).
- ``last_close``: float array ``(N,)``, the last *observed* close of each instrument.
- Every signal returns a float64 array ``(N,)``. Returns are fractions (0.01 = 1 %), volatility
  is in daily (per-bar) units.
- "Mean path" means the element-wise mean over the P sample paths, ``paths.mean(axis=1)``.

The four ``*_return`` variants over the mean path mirror the official Kronos Qlib demo
(``last``, ``mean``, ``max``, ``min``).
"""
from __future__ import annotations

from collections.abc import Callable

import numpy as np

CLOSE_INDEX = 3  # field order: open, high, low, close, volume, amount


def _validate(paths, last_close) -> tuple[np.ndarray, np.ndarray]:
    """Return ``(closes (N, P, H), last_close (N,))`` as float64 after boundary checks."""
    paths = np.asarray(paths, dtype=np.float64)
    last_close = np.asarray(last_close, dtype=np.float64)
    if paths.ndim != 4:
        raise ValueError(
            f"paths must have shape (N, P, H, F) = (instruments, sample paths, horizon, fields); "
            f"got shape {paths.shape}. Add the missing axis, e.g. paths[:, None] for one path."
        )
    n_inst, n_paths, horizon, n_fields = paths.shape
    if n_fields <= CLOSE_INDEX or n_paths == 0 or horizon == 0:
        raise ValueError(
            f"paths needs P >= 1, H >= 1 and F >= 4 (close at index {CLOSE_INDEX}); got shape {paths.shape}"
        )
    if last_close.shape != (n_inst,):
        raise ValueError(f"last_close must have shape (N,) = ({n_inst},); got {last_close.shape}")
    if not np.all(np.isfinite(last_close)) or np.any(last_close <= 0):
        raise ValueError("last_close must be finite and > 0 (prices in price space, not normalised)")
    closes = paths[..., CLOSE_INDEX]
    if not np.all(np.isfinite(closes)):
        raise ValueError("paths contain NaN/inf closes; drop or re-sample those instruments first")
    return closes, last_close


def expected_return(paths, last_close) -> np.ndarray:
    """Mean over paths of the horizon-end close, divided by ``last_close``, minus 1. ``(N,)``."""
    closes, last = _validate(paths, last_close)
    return closes[:, :, -1].mean(axis=1) / last - 1.0


def last_close_return(paths, last_close) -> np.ndarray:
    """Demo ``last``: mean-path close at the last step / ``last_close`` - 1. ``(N,)``.

    Equal to :func:`expected_return` (the mean commutes with taking the last step).
    """
    closes, last = _validate(paths, last_close)
    return closes.mean(axis=1)[:, -1] / last - 1.0


def mean_return(paths, last_close) -> np.ndarray:
    """Demo ``mean``: mean over the horizon of the mean-path close / ``last_close`` - 1. ``(N,)``."""
    closes, last = _validate(paths, last_close)
    return closes.mean(axis=1).mean(axis=1) / last - 1.0


def max_return(paths, last_close) -> np.ndarray:
    """Demo ``max``: max over the horizon of the mean-path close / ``last_close`` - 1. ``(N,)``."""
    closes, last = _validate(paths, last_close)
    return closes.mean(axis=1).max(axis=1) / last - 1.0


def min_return(paths, last_close) -> np.ndarray:
    """Demo ``min``: min over the horizon of the mean-path close / ``last_close`` - 1. ``(N,)``."""
    closes, last = _validate(paths, last_close)
    return closes.mean(axis=1).min(axis=1) / last - 1.0


def risk_adjusted_return(paths, last_close) -> np.ndarray:
    """Mean / std across paths of the per-path horizon-end return. ``(N,)``, unitless.

    The std is the population std (``ddof=0``) over the P paths, so P >= 2 paths are needed (one
    path is a ValueError). An instrument whose paths all end at the same close has no spread: its
    score is NaN (Qlib's IC skips it, Top-K sorts it last) rather than a division by a tiny floor.
    """
    closes, last = _validate(paths, last_close)
    if closes.shape[1] < 2:
        raise ValueError(
            "risk_adjusted_return needs >= 2 sample paths (it divides by their spread); "
            "sample more paths or use expected_return"
        )
    end_returns = closes[:, :, -1] / last[:, None] - 1.0  # (N, P)
    spread = end_returns.std(axis=1)
    no_spread = np.ptp(end_returns, axis=1) == 0  # identical paths: exactly no spread
    return np.where(no_spread, np.nan, end_returns.mean(axis=1) / np.where(no_spread, 1.0, spread))


def predicted_volatility(paths, last_close, *, horizon: int | None = None) -> np.ndarray:
    """Forecast daily volatility: per-path std of close log returns, averaged over paths. ``(N,)``.

    For each path the first ``horizon`` (default: all H) log returns are ``log(c_1 / last_close),
    log(c_2 / c_1), ..., log(c_h / c_{h-1})`` (the first step starts from the last real close). Their
    population std (``ddof=0``, so one bar gives 0) is taken per path and then averaged over the P paths.
    Units: per bar (daily for daily bars), as a fraction. A ``horizon`` longer than the forecast's H is a
    ValueError. For the volatility *at* a horizon (mean of squared returns, defined for h = 1) see
    :func:`kronos_quant.research.volatility.horizon_volatility`.
    """
    closes, last = _validate(paths, last_close)
    if horizon is not None:
        if int(horizon) < 1 or int(horizon) > closes.shape[2]:
            raise ValueError(f"horizon must be in [1, {closes.shape[2]}] (the forecast's bars), got {horizon}; "
                             "forecast more bars or use a shorter horizon")
        closes = closes[:, :, : int(horizon)]
    if np.any(closes <= 0):
        raise ValueError("predicted_volatility needs forecast closes > 0 (log returns)")
    n_inst, n_paths, _ = closes.shape
    start = np.broadcast_to(last[:, None, None], (n_inst, n_paths, 1))
    log_prices = np.log(np.concatenate([start, closes], axis=2))  # (N, P, h + 1)
    log_returns = np.diff(log_prices, axis=2)  # (N, P, h)
    return log_returns.std(axis=2).mean(axis=1)


def low_volatility(paths, last_close) -> np.ndarray:
    """Minus :func:`predicted_volatility`: a Top-K on this score holds the lowest forecast volatility. ``(N,)``."""
    return -predicted_volatility(paths, last_close)


def prob_up(paths, last_close) -> np.ndarray:
    """Fraction of paths whose horizon-end close is strictly above ``last_close``. ``(N,)`` in [0, 1]."""
    closes, last = _validate(paths, last_close)
    return (closes[:, :, -1] > last[:, None]).mean(axis=1)


SIGNALS: dict[str, Callable[..., np.ndarray]] = {
    "expected_return": expected_return,
    "last_close_return": last_close_return,
    "mean_return": mean_return,
    "max_return": max_return,
    "min_return": min_return,
    "risk_adjusted_return": risk_adjusted_return,
    "predicted_volatility": predicted_volatility,
    "low_volatility": low_volatility,
    "prob_up": prob_up,
}


def compute_signal(name: str, paths, last_close) -> np.ndarray:
    """Look up ``name`` in :data:`SIGNALS` and apply it to ``paths (N, P, H, F)``, ``last_close (N,)``."""
    if name not in SIGNALS:
        raise ValueError(f"unknown signal {name!r}; valid names: {', '.join(sorted(SIGNALS))}")
    return SIGNALS[name](paths, last_close)
