"""Volatility from Kronos sample paths, realised volatility, and range-based variance estimators.

Conventions
-----------
- ``paths``: float ``(N, P, H, F)`` price-space sample paths (fields open, high, low, close, ...), as in
  :mod:`kronos_quant.research.signals`; ``last_close``: ``(N,)`` the last observed close.
- Bar log returns ``r_j = log(c_j / c_{j-1})`` with ``c_0 = last_close``; every volatility here is in
  **per-bar units** (daily for daily bars), as a fraction: the h-bar volatility is
  ``sqrt(mean(r_1^2 .. r_h^2))``, so volatilities at different horizons are comparable.
- The forecast target (the *realised* volatility at horizon h) is built the same way from the h traded
  bars after t: ``RV_h = sqrt(mean(r_{t+1}^2 .. r_{t+h}^2))``. Its forecast under the paths' distribution
  is ``sqrt(E_paths[mean r^2])`` (:func:`horizon_volatility`), defined with a single path.
- The *spread* of the horizon return across paths (:func:`spread_volatility`) needs P >= 2.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from kronos_quant.research.signals import CLOSE_INDEX, predicted_volatility

HORIZONS = (1, 5, 10, 20)  # bars
OPEN, HIGH, LOW = 0, 1, 2  # field indices (close is CLOSE_INDEX)
PARKINSON_FACTOR = 1.0 / (4.0 * np.log(2.0))  # Parkinson (1980): E[(log H/L)^2] = 4 log 2 sigma^2
GK_FACTOR = 2.0 * np.log(2.0) - 1.0  # Garman-Klass (1980) close-open weight


def check_horizons(horizons: Sequence[int], available: int) -> tuple[int, ...]:
    """Validated horizons (ints >= 1, each <= ``available`` forecast bars)."""
    horizons = tuple(int(h) for h in horizons)
    if not horizons or min(horizons) < 1:
        raise ValueError(f"horizons must be a non-empty list of bars >= 1, got {horizons}")
    too_long = [h for h in horizons if h > available]
    if too_long:
        raise ValueError(f"horizons {too_long} are longer than the forecast ({available} bars); forecast at least "
                         f"{max(horizons)} bars (ForecastSettings.horizon) or drop those horizons")
    return horizons


def path_log_returns(paths, last_close) -> np.ndarray:
    """Per-bar close log returns of every path: float64 ``(N, P, H)`` (first bar from ``last_close``)."""
    paths = np.asarray(paths, dtype=np.float64)
    last_close = np.asarray(last_close, dtype=np.float64)
    if paths.ndim != 4 or paths.shape[-1] <= CLOSE_INDEX:
        raise ValueError(
            f"paths must be (N, P, H, F>=4) = (instruments, sample paths, bars, fields); got {paths.shape}"
        )
    if last_close.shape != paths.shape[:1]:
        raise ValueError(f"last_close must have shape ({paths.shape[0]},); got {last_close.shape}")
    closes = paths[..., CLOSE_INDEX]
    if not (np.all(np.isfinite(closes)) and np.all(closes > 0) and np.all(last_close > 0)):
        raise ValueError("closes and last_close must be finite and > 0 (price space) for log returns")
    start = np.broadcast_to(last_close[:, None, None], closes.shape[:2] + (1,))
    return np.diff(np.log(np.concatenate([start, closes], axis=2)), axis=2)


def horizon_volatility(paths, last_close, horizons: Sequence[int] = HORIZONS) -> np.ndarray:
    """Forecast per-bar volatility over the first h bars, ``sqrt(mean over paths and bars of r^2)``.

    Returns float64 ``(N, len(horizons))``. A ValueError when a horizon exceeds the paths' H.
    """
    returns = path_log_returns(paths, last_close)
    horizons = check_horizons(horizons, returns.shape[2])
    squared = returns**2
    return np.stack([np.sqrt(squared[:, :, :h].mean(axis=(1, 2))) for h in horizons], axis=1)


def horizon_returns(paths, last_close, horizon: int) -> np.ndarray:
    """h-bar log return of every path, ``log(c_h / last_close)``: float64 ``(N, P)``."""
    returns = path_log_returns(paths, last_close)
    (horizon,) = check_horizons([horizon], returns.shape[2])
    return returns[:, :, :horizon].sum(axis=2)


def spread_volatility(paths, last_close, horizon: int) -> np.ndarray:
    """Std across paths (ddof=1) of the h-bar log return, divided by sqrt(h): per-bar units, ``(N,)``.

    The spread of one path is undefined: a ValueError asks for sample_count >= 2.
    """
    if np.asarray(paths).ndim == 4 and np.asarray(paths).shape[1] < 2:
        raise ValueError(
            "the spread of a one-path forecast is undefined; sample at least 2 paths "
            "(ForecastSettings.sample_count >= 2)"
        )
    return horizon_returns(paths, last_close, horizon).std(axis=1, ddof=1) / np.sqrt(horizon)


def signal_volatility(paths, last_close, horizon: int) -> np.ndarray:
    """The signals module's ``predicted_volatility`` over the first ``horizon`` bars (within-path std)."""
    return predicted_volatility(paths, last_close, horizon=horizon)


def parkinson_variance(high, low) -> np.ndarray:
    """Parkinson (1980) per-bar variance ``(log(H/L))^2 / (4 log 2)``; same shape as the inputs."""
    high, low = np.asarray(high, dtype=np.float64), np.asarray(low, dtype=np.float64)
    return PARKINSON_FACTOR * np.log(high / low) ** 2


def garman_klass_variance(open_, high, low, close) -> np.ndarray:
    """Garman-Klass (1980) per-bar variance ``0.5 log(H/L)^2 - (2 log 2 - 1) log(C/O)^2``."""
    open_, high, low, close = (np.asarray(a, dtype=np.float64) for a in (open_, high, low, close))
    return 0.5 * np.log(high / low) ** 2 - GK_FACTOR * np.log(close / open_) ** 2


def traded_series(bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
    """Per instrument, its traded bars (all of open/high/low/close finite and > 0, volume > 0), by date.

    Args:
        bars: long frame indexed ``(datetime, instrument)`` with columns open, high, low, close, volume.
    Returns:
        ``{instrument: frame indexed by datetime (sorted) with open, high, low, close and ``ret``}``, where
        ``ret`` is the close log return from the previous *traded* bar (NaN on the first). Suspended days
        are skipped, as Kronos' windows skip them.
    """
    needed = ["open", "high", "low", "close", "volume"]
    missing = [c for c in needed if c not in bars.columns]
    if missing:
        raise ValueError(f"bars needs columns {needed}; missing {missing}")
    if list(bars.index.names) != ["datetime", "instrument"]:
        raise ValueError(f"bars must be indexed (datetime, instrument), got {bars.index.names}")
    prices = bars[["open", "high", "low", "close"]]
    traded = np.isfinite(prices).all(axis=1) & (prices > 0).all(axis=1) & (bars["volume"] > 0)
    out = {}
    for instrument, frame in bars[traded].groupby(level="instrument", sort=True):
        frame = frame.droplevel("instrument").sort_index()[["open", "high", "low", "close"]].astype(np.float64)
        frame["ret"] = np.log(frame["close"]).diff()
        out[str(instrument)] = frame
    return out


def rows_by_instrument(series: dict[str, pd.DataFrame], index: pd.MultiIndex):
    """For each instrument of ``index`` that has a traded series: (its frame, the positions of its rows in
    ``index`` int (n,), each row's position in the frame int (n,), -1 where it did not trade that day)."""
    positions = pd.Series(np.arange(len(index)), index=index)
    for instrument, rows in positions.groupby(level="instrument"):
        frame = series.get(str(instrument))
        if frame is not None:
            yield frame, rows.to_numpy(), frame.index.get_indexer(rows.index.get_level_values("datetime"))


def realised_volatility(
    series: dict[str, pd.DataFrame], index: pd.MultiIndex, horizons: Sequence[int] = HORIZONS
) -> pd.DataFrame:
    """Realised per-bar volatility over the h traded bars after each row's date, and the h-bar log return.

    Args:
        series: :func:`traded_series` output.
        index: rows ``(datetime, instrument)``; a row whose instrument did not trade on its date, or
            without h later traded bars, gets NaN.
    Returns:
        frame on ``index`` with columns ``("rv", h)`` and ``("ret", h)`` for each horizon.
    """
    horizons = check_horizons(horizons, max(horizons))
    out = np.full((len(index), 2 * len(horizons)), np.nan)
    for frame, rows, where in rows_by_instrument(series, index):
        returns = frame["ret"].to_numpy()
        for k, h in enumerate(horizons):
            ok = (where >= 0) & (where + h < len(returns))
            window = np.stack([returns[np.where(ok, where + j, 0)] for j in range(1, h + 1)], axis=1)
            out[rows[ok], k] = np.sqrt((window[ok] ** 2).mean(axis=1))
            out[rows[ok], len(horizons) + k] = window[ok].sum(axis=1)
    columns = pd.MultiIndex.from_tuples([("rv", h) for h in horizons] + [("ret", h) for h in horizons])
    return pd.DataFrame(out, index=index, columns=columns)


def volatility_exposure(volatility: pd.Series, *, log: bool = True) -> pd.DataFrame:
    """A numeric exposure column for :func:`kronos_quant.research.neutralize.neutralize`.

    ``volatility``: Series indexed ``(datetime, instrument)`` (e.g. Kronos' 20-bar volatility). Returns a
    one-column frame ``predicted_volatility`` (its log by default: volatility is right-skewed, and the
    regression is per date so the log's level does not matter). Non-positive values become NaN.
    """
    values = volatility.astype(np.float64).where(volatility > 0)
    column = np.log(values) if log else values
    return pd.DataFrame({"predicted_volatility": column}, index=volatility.index)
