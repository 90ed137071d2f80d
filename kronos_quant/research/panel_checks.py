"""Checks that two ``(datetime, instrument)`` panels belong together, and that a signal can rank anything.

The research functions compare a signal with a label (or exposures) row by row. When the two
indexes barely overlap (instrument codes in another case, dates as strings, another period)
pandas aligns them silently and the statistics come from a handful of rows, or from none. And a
signal that is all NaN, constant across instruments, or has one instrument per date cannot rank:
its IC, quantile spread and hit rate are not measurements. These checks make both cases loud.
"""
from __future__ import annotations

import logging

import pandas as pd

logger = logging.getLogger(__name__)

MIN_COMMON_FRACTION = 0.5  # below this share of the smaller input's rows, the pair is an error


def check_common_rows(left, right, *, names: tuple[str, str] = ("signal", "label"),
                      min_fraction: float = MIN_COMMON_FRACTION) -> int:
    """The number of (datetime, instrument) rows both inputs have; a ValueError when it is too few.

    Args:
        left, right: Series or DataFrames indexed (datetime, instrument).
        min_fraction: the common rows must be at least this share of the smaller input's rows.

    The error shows an example row of each index and, when they match ignoring case, says so.
    """
    left_index, right_index = left.index, right.index
    smaller = min(len(left_index), len(right_index))
    if smaller == 0:
        empty = names[0] if len(left_index) == 0 else names[1]
        raise ValueError(f"{empty} is empty: nothing to compare with {names[1] if empty == names[0] else names[0]}")
    common = int(left_index.isin(right_index).sum())  # as DataFrame alignment counts (intersection() may coerce)
    if common >= min_fraction * smaller:
        return common
    raise ValueError(f"{names[0]} and {names[1]} share {common} of {smaller} (datetime, instrument) rows; "
                     f"e.g. {names[0]} has {_example(left_index)} and {names[1]} has {_example(right_index)}. "
                     f"{_hint(left_index, right_index)}")


def _example(index: pd.Index) -> str:
    date, instrument = index[0]
    return f"({date!r}, {instrument!r})"


def _hint(left: pd.MultiIndex, right: pd.MultiIndex) -> str:
    left_codes = pd.Index(left.get_level_values(-1).astype(str))
    right_codes = pd.Index(right.get_level_values(-1).astype(str))
    if not left_codes.intersection(right_codes).size and left_codes.str.upper().intersection(
            right_codes.str.upper()).size:
        return "The instrument codes differ only in case: upper-case both (Qlib uses e.g. SH600000)."
    left_dates, right_dates = left.get_level_values(0), right.get_level_values(0)
    if left_dates.dtype != right_dates.dtype:
        return (f"The datetime levels have different types ({left_dates.dtype} vs {right_dates.dtype}): convert "
                "both with pd.to_datetime.")
    return "Check that both cover the same period and universe."


def degenerate_reason(signal: pd.Series) -> str | None:
    """Why ``signal`` cannot rank instruments (all NaN, one instrument per date, constant), or None."""
    values = signal.dropna()
    if values.empty:
        return "it is all NaN"
    by_date = values.groupby(level=0)
    if (by_date.size() < 2).all():
        return "it has at most one instrument per date"
    if (by_date.nunique() < 2).all():
        return "it is constant across instruments on every date"
    return None


def warn_if_degenerate(signal: pd.Series, *, name: str = "signal") -> bool:
    """Log a warning and return True when :func:`degenerate_reason` finds a reason."""
    reason = degenerate_reason(signal)
    if reason is not None:
        logger.warning("%s cannot rank instruments: %s; its IC, quantile spread and hit rate are NaN, not "
                       "measurements", name, reason)
    return reason is not None
