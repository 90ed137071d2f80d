"""Strict date parsing and comparison for files, configs and the command line.

Dates are parsed as ISO 8601 (``2024-01-05``, ``20240105``, ``2024/01/05``) unless the caller
gives an explicit ``strftime`` format: ``05/01/2024`` is 5 January in Europe and 1 May in the
US, so a guess would silently shift every bar. Ranges are compared as timestamps, never as
strings (``"2024-1-5" > "2024-01-10"`` as strings).
"""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd

ISO_HINT = "use YYYY-MM-DD (ISO 8601), or give the format explicitly, e.g. '%d/%m/%Y'"


def parse_dates(values, *, source: str, date_format: str | None = None) -> pd.DatetimeIndex:
    """Parse a column of dates strictly.

    Args:
        values: strings (or integers such as 20240105) or datetimes, length T.
        source: what the values are, for the message (e.g. "AAPL.csv column 'date'").
        date_format: a strftime format; None accepts ISO 8601 only.

    Returns:
        DatetimeIndex (T,); a ValueError names ``source``, the first bad value and its row.
    """
    series = pd.Series(values).reset_index(drop=True)
    if pd.api.types.is_datetime64_any_dtype(series.dtype):
        parsed = series
    else:
        text = series.astype(str).str.strip()  # integers such as 20240105 become "20240105"
        parsed = pd.to_datetime(text, format=date_format or "ISO8601", errors="coerce")
    bad = parsed.isna()
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        hint = f"they do not match the format {date_format!r}" if date_format else ISO_HINT
        raise ValueError(f"{source}: {int(bad.sum())} dates could not be read, first {series.iloc[row]!r} at row "
                         f"{row}; {hint}")
    return pd.DatetimeIndex(parsed)


def parse_date(value, *, name: str) -> pd.Timestamp:
    """One ISO date from a config or command-line argument; the error names the argument."""
    try:
        stamp = pd.Timestamp(pd.to_datetime(str(value).strip(), format="ISO8601"))
    except (TypeError, ValueError):
        raise ValueError(f"{name}: {value!r} is not a date; write it as YYYY-MM-DD") from None
    if pd.isna(stamp):
        raise ValueError(f"{name}: {value!r} is not a date; write it as YYYY-MM-DD")
    return stamp


def parse_range(values: Sequence, *, name: str) -> tuple[pd.Timestamp, pd.Timestamp]:
    """A (start, end) pair of dates with start <= end, compared as timestamps."""
    if isinstance(values, (str, bytes)) or len(values) != 2:
        raise ValueError(f"{name} must be [start, end] dates, e.g. [2010-01-04, 2021-12-31], got {values!r}")
    start, end = parse_date(values[0], name=f"{name} start"), parse_date(values[1], name=f"{name} end")
    if start > end:
        raise ValueError(f"{name}: start {start:%Y-%m-%d} is after end {end:%Y-%m-%d}; swap them")
    return start, end


def check_ordered_ranges(ranges: dict, *, owner: str) -> None:
    """Named (start, end) ranges, in the given order, each valid and ending before the next starts.

    Example: ``check_ordered_ranges({"train": (...), "valid": (...), "test": (...)}, owner="data")``.
    """
    parsed = {name: parse_range(values, name=f"{owner}.{name}") for name, values in ranges.items() if values}
    names = list(parsed)
    for before, after in zip(names, names[1:]):
        if parsed[before][1] >= parsed[after][0]:
            raise ValueError(f"{owner}: {before} {_show(parsed[before])} must end before {after} "
                             f"{_show(parsed[after])} starts (a model never scores the period it trained on)")


def _show(pair: tuple[pd.Timestamp, pd.Timestamp]) -> str:
    return f"[{pair[0]:%Y-%m-%d}, {pair[1]:%Y-%m-%d}]"
