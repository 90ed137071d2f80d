"""Bar frequency: the spacing of a series' bars, written as a short string ("1D", "5min", "1h").

A checkpoint trained on daily bars forecasts 5-minute bars badly (it has never seen their intraday
rhythm), so the toolkit records the frequency a checkpoint was trained on
(:func:`kronos_quant.model.checkpoint.write_bar_freq`) and ``kronos-quant forecast`` compares it with
the frequency of the CSV it is given. Both sides come through this module:

- :func:`infer_bar_freq` reads real timestamps: the most common gap between consecutive bars (so
  weekends, holidays and lunch breaks do not count: daily A-share bars are "1D", 5-minute bars "5min");
- :func:`bar_freq_of_stamps` reads Kronos' time features (minute, hour, weekday, day, month) of
  training windows, which carry no year: intraday gaps come from minute-of-day within a day, longer
  ones from day-of-year.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

DAY = pd.Timedelta(days=1)
_MONTH_START = np.cumsum([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30])  # day-of-year offset, no leap years
SAME_FREQ_RATIO = 1.5  # two spacings within this factor of each other count as one frequency


def format_bar_freq(spacing: pd.Timedelta) -> str:
    """A positive Timedelta as "<n>D", "<n>h", "<n>min" or "<n>s" (the largest unit that divides it)."""
    spacing = pd.Timedelta(spacing)
    if spacing <= pd.Timedelta(0):
        raise ValueError(f"a bar spacing must be positive, got {spacing}")
    for unit, size in (("D", DAY), ("h", pd.Timedelta(hours=1)), ("min", pd.Timedelta(minutes=1))):
        if spacing % size == pd.Timedelta(0):
            return f"{spacing // size}{unit}"
    return f"{int(spacing.total_seconds())}s"


def parse_bar_freq(text: str) -> pd.Timedelta:
    """"5min" -> Timedelta(5 minutes); a ValueError names the accepted forms."""
    try:
        spacing = pd.Timedelta(str(text))
    except ValueError:
        raise ValueError(f"bar frequency {text!r} is not a spacing such as '1D', '1h' or '5min'") from None
    if spacing <= pd.Timedelta(0):
        raise ValueError(f"bar frequency {text!r} must be a positive spacing such as '1D' or '5min'")
    return spacing


def infer_bar_freq(times) -> str | None:
    """The most common gap between consecutive, sorted timestamps; None with fewer than two bars."""
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(times)))
    gaps = pd.Series(np.diff(index.sort_values().asi8)) if len(index) > 1 else pd.Series(dtype=np.int64)
    gaps = gaps[gaps > 0]
    if gaps.empty:
        return None
    return format_bar_freq(pd.Timedelta(int(gaps.value_counts().idxmax()), unit="ns"))


def bar_freq_of_stamps(stamps: np.ndarray, *, max_windows: int = 512) -> str | None:
    """The bar frequency of training windows from their time features; None when it cannot be told.

    Args:
        stamps: int (N, L, 5) minute, hour, weekday, day, month of each bar (:func:`time_features`).
        max_windows: windows read (the first ones; the frequency is the same in all of them).
    """
    stamps = np.asarray(stamps)[:max_windows]
    if stamps.ndim != 3 or stamps.shape[-1] != 5 or stamps.shape[1] < 2:
        return None
    minute_of_day = stamps[..., 1] * 60 + stamps[..., 0]  # (N, L)
    day_of_year = _MONTH_START[np.clip(stamps[..., 4], 1, 12) - 1] + stamps[..., 3]  # (N, L)
    same_day = np.diff(day_of_year, axis=1) == 0
    intraday = np.diff(minute_of_day, axis=1)[same_day]
    intraday = intraday[intraday > 0]
    if intraday.size:
        values, counts = np.unique(intraday, return_counts=True)
        return format_bar_freq(pd.Timedelta(minutes=int(values[counts.argmax()])))
    days = np.diff(day_of_year, axis=1) % 365
    days = days[days > 0]
    if not days.size:
        return None
    values, counts = np.unique(days, return_counts=True)
    return format_bar_freq(DAY * int(values[counts.argmax()]))


def same_bar_freq(first: str, second: str) -> bool:
    """Whether two bar frequencies agree within :data:`SAME_FREQ_RATIO` (e.g. "1D" and "1D")."""
    a, b = parse_bar_freq(first), parse_bar_freq(second)
    return max(a, b) / min(a, b) <= SAME_FREQ_RATIO
