"""A forecast a user can read: history, mean path, quantile band and the high/low envelope."""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def plot_forecast(history: pd.DataFrame, forecast: pd.DataFrame, *, actual: pd.DataFrame | None = None,
                  path: str | Path | None = None, title: str | None = None, band: tuple = (0.1, 0.9)):
    """Plot the close of ``history`` and of ``forecast``; returns the matplotlib Figure.

    Args:
        history: past bars indexed by time, with a ``close`` column (``high``/``low`` optional).
        forecast: :meth:`ForecastResult.quantiles` frame of one series: columns (field, level) with
            level ``"mean"`` and the two ``band`` levels, indexed by the forecast bars' times. Pass a
            repaired result (:meth:`ForecastResult.repair_ohlc`) so the high/low envelope bounds the close.
        actual: realised bars of the forecast period (holdout), drawn for comparison.
        path: write a PNG there when given.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    low, high = band
    missing = [key for key in (("close", "mean"), ("close", low), ("close", high)) if key not in forecast.columns]
    if missing:
        raise ValueError(f"forecast lacks columns {missing}; pass ForecastResult.quantiles(({low}, 0.5, {high}))[i]")
    figure, axis = plt.subplots(figsize=(11, 4.5))
    # bars on an evenly spaced axis (nights, lunch breaks and weekends take no room), labelled by time
    past, ahead = np.arange(len(history)), len(history) + np.arange(len(forecast))
    axis.plot(past, history["close"].to_numpy(), color="0.3", lw=1.0, label="close (history)")
    axis.plot(ahead, forecast[("close", "mean")].to_numpy(), color="C0", lw=1.4, label="close (forecast mean)")
    axis.fill_between(ahead, forecast[("close", low)].to_numpy(), forecast[("close", high)].to_numpy(), color="C0",
                      alpha=0.2, label=f"close {low:.0%}-{high:.0%} of paths")
    if ("high", "mean") in forecast.columns and ("low", "mean") in forecast.columns:
        axis.plot(ahead, forecast[("high", "mean")].to_numpy(), color="C2", lw=0.8, ls="--", label="high / low (mean)")
        axis.plot(ahead, forecast[("low", "mean")].to_numpy(), color="C2", lw=0.8, ls="--")
    if actual is not None:
        axis.plot(ahead[:len(actual)], actual["close"].to_numpy()[:len(ahead)], color="C3", lw=1.0,
                  label="close (actual)")
    axis.axvline(len(history) - 0.5, color="0.6", lw=0.8, ls=":")
    times = list(history.index) + list(forecast.index)
    ticks = np.linspace(0, len(times) - 1, 8).astype(int)
    axis.set_xticks(ticks, [pd.Timestamp(times[i]).strftime("%Y-%m-%d %H:%M") for i in ticks], rotation=20,
                    fontsize=8)
    axis.set_title(title or "Kronos forecast")
    axis.legend(loc="best", fontsize=8)
    figure.tight_layout()
    if path is not None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        figure.savefig(path, dpi=110)
        logger.info("forecast plot written to %s", path)
    return figure
