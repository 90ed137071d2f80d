"""Qlib's binary day format, written and read without qlib.

Layout of a provider directory (what ``qlib.init(provider_uri=...)`` expects)::

    calendars/day.txt            one YYYY-MM-DD per line, ascending trading days
    calendars/day_future.txt     day.txt plus some future trading days (lets a backtest end on the last day)
    instruments/<name>.txt       INSTRUMENT<TAB>start<TAB>end, one line per membership span, codes uppercase
    features/<instrument lowercase>/<field>.day.bin
                                 little-endian float32: [start_index, v_0, v_1, ...] where start_index is the
                                 position of v_0 in calendars/day.txt

This mirrors qlib/data/storage/file_storage.py (FileFeatureStorage / FileCalendarStorage /
FileInstrumentStorage) and scripts/dump_bin.py, which the pyqlib wheel does not ship.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.data.instrument_codes import check_instrument_code

logger = logging.getLogger(__name__)

FREQ = "day"
DATE_FORMAT = "%Y-%m-%d"


def _check_freq(freq: str) -> None:
    if freq != FREQ:
        raise ValueError(f"only freq='day' is supported for now, got freq={freq!r}")


def feature_path(provider_dir: str | Path, instrument: str, field: str, freq: str = FREQ) -> Path:
    """Path of one feature file; instrument folders are lowercase, as qlib looks them up."""
    _check_freq(freq)
    code = check_instrument_code(instrument, source=f"{provider_dir} instrument")
    return Path(provider_dir) / "features" / code.lower() / f"{field.lower()}.{freq}.bin"


def write_calendar(provider_dir: str | Path, dates: Iterable, *, future: bool = False,
                   freq: str = FREQ) -> Path:
    """Write ``calendars/day.txt`` (or ``day_future.txt`` when ``future``) from ascending dates."""
    _check_freq(freq)
    index = pd.DatetimeIndex(pd.to_datetime(list(dates)))
    if not index.is_monotonic_increasing or index.has_duplicates:
        raise ValueError("calendar dates must be strictly increasing; sort and de-duplicate them first")
    path = Path(provider_dir) / "calendars" / (f"{freq}_future.txt" if future else f"{freq}.txt")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(d + "\n" for d in index.strftime(DATE_FORMAT)))
    return path


def read_calendar(provider_dir: str | Path, *, future: bool = False, freq: str = FREQ) -> pd.DatetimeIndex:
    """Trading days of ``calendars/day.txt`` (or ``day_future.txt``) as a DatetimeIndex."""
    _check_freq(freq)
    path = Path(provider_dir) / "calendars" / (f"{freq}_future.txt" if future else f"{freq}.txt")
    if not path.exists():
        raise FileNotFoundError(f"{path} not found; is {provider_dir} a Qlib provider directory?")
    numbered = [(number, line.strip()) for number, line in enumerate(path.read_text().splitlines(), 1)
                if line.strip()]
    parsed = pd.to_datetime(pd.Series([line for _, line in numbered], dtype=object), format="ISO8601",
                            errors="coerce")
    if parsed.isna().any():
        number, line = numbered[int(np.flatnonzero(parsed.isna())[0])]
        raise ValueError(f"{path} line {number}: {line!r} is not a date (expected YYYY-MM-DD); fix or re-import the "
                         "calendar")
    return pd.DatetimeIndex(parsed, name="datetime")


def write_instruments(provider_dir: str | Path, name: str, spans: pd.DataFrame) -> Path:
    """Write ``instruments/<name>.txt`` from a frame with columns instrument, start, end (one row per span)."""
    missing = {"instrument", "start", "end"} - set(spans.columns)
    if missing:
        raise ValueError(f"spans need columns instrument, start, end; missing {sorted(missing)}")
    frame = spans.loc[:, ["instrument", "start", "end"]].copy()
    frame["instrument"] = frame["instrument"].astype(str).str.upper()
    frame["start"] = pd.to_datetime(frame["start"]).dt.strftime(DATE_FORMAT)
    frame["end"] = pd.to_datetime(frame["end"]).dt.strftime(DATE_FORMAT)
    frame = frame.sort_values(["instrument", "start"])
    path = Path(provider_dir) / "instruments" / f"{name.lower()}.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, sep="\t", header=False, index=False)
    return path


def read_instruments(provider_dir: str | Path, name: str) -> pd.DataFrame:
    """Spans of ``instruments/<name>.txt`` as a frame (instrument, start, end), dates as Timestamps."""
    path = Path(provider_dir) / "instruments" / f"{name.lower()}.txt"
    if not path.exists():
        available = sorted(p.stem for p in path.parent.glob("*.txt"))
        raise FileNotFoundError(f"{path} not found; available universes: {available}")
    frame = pd.read_csv(path, sep="\t", header=None, names=["instrument", "start", "end"], dtype=str)
    for column in ("start", "end"):
        parsed = pd.to_datetime(frame[column], format="ISO8601", errors="coerce")
        if parsed.isna().any():
            row = int(np.flatnonzero(parsed.isna())[0])
            raise ValueError(f"{path} line {row + 1}: {column} date {frame[column].iloc[row]!r} is not a date "
                             "(expected INSTRUMENT<TAB>YYYY-MM-DD<TAB>YYYY-MM-DD); fix or re-import it")
        frame[column] = parsed
    return frame


def write_feature(provider_dir: str | Path, instrument: str, field: str, values: np.ndarray,
                  start_index: int, *, freq: str = FREQ) -> Path:
    """Write one feature series.

    Args:
        values: (T,) values for calendar positions start_index .. start_index + T - 1 (NaN = missing).
        start_index: position of ``values[0]`` in ``calendars/day.txt``.
    """
    values = np.asarray(values, dtype="<f4")
    if values.ndim != 1:
        raise ValueError(f"feature values must be 1-D, got shape {values.shape}")
    if start_index < 0:
        raise ValueError(f"start_index must be >= 0, got {start_index}")
    path = feature_path(provider_dir, instrument, field, freq)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.hstack([np.array([start_index], dtype="<f4"), values]).astype("<f4").tofile(path)
    return path


def read_feature(provider_dir: str | Path, instrument: str, field: str, *,
                 freq: str = FREQ) -> tuple[int, np.ndarray]:
    """Read one feature file: (start_index, float32 values (T,))."""
    return read_feature_file(feature_path(provider_dir, instrument, field, freq))


def read_feature_file(path: Path) -> tuple[int, np.ndarray]:
    """One ``.day.bin`` file: (start_index, float32 values (T,)); a corrupt file is a ValueError naming it."""
    path = Path(path)
    freq = path.name.split(".")[-2] if path.name.count(".") >= 2 else FREQ
    size = path.stat().st_size
    if size == 0 or size % 4:
        problem = "is empty" if size == 0 else f"has {size} bytes, not a multiple of 4 (truncated?)"
        raise ValueError(f"{path} {problem}; a .{freq}.bin file is float32 [start_index, values...]: re-import "
                         "or re-download this instrument")
    raw = np.fromfile(path, dtype="<f4")
    start = float(raw[0])
    if not np.isfinite(start) or start < 0 or start != int(start):
        raise ValueError(f"{path}: start index {start} is not a calendar position (a whole number >= 0); the file "
                         "is corrupt: re-import or re-download this instrument")
    return int(start), raw[1:].astype(np.float32)


def write_panel_features(provider_dir: str | Path, instrument: str, frame: pd.DataFrame,
                         calendar: pd.DatetimeIndex) -> int:
    """Write every column of ``frame`` (index: dates, a contiguous slice of ``calendar``) as features.

    Leading/trailing all-NaN rows are trimmed so the start index marks the first real bar.
    All-NaN columns are skipped. Returns the number of fields written.
    """
    valid = frame.notna().any(axis=1).to_numpy()
    if not valid.any():
        return 0
    first, last = np.flatnonzero(valid)[[0, -1]]
    frame = frame.iloc[first:last + 1]
    positions = calendar.get_indexer(frame.index)
    if (positions < 0).any():
        bad = frame.index[positions < 0][:3]
        raise ValueError(f"{instrument}: dates {list(bad.strftime(DATE_FORMAT))} are not in the calendar")
    if not (np.diff(positions) == 1).all():
        raise ValueError(f"{instrument}: rows must cover consecutive calendar days; reindex on the calendar")
    written = 0
    for field, column in frame.items():
        if column.isna().all():
            continue  # e.g. an index has no $industry: write no file rather than an all-NaN one
        write_feature(provider_dir, instrument, str(field), column.to_numpy(), int(positions[0]))
        written += 1
    return written


def write_provider(provider_dir: str | Path, calendar: pd.DatetimeIndex, fields: Mapping[str, pd.DataFrame],
                   universes: Mapping[str, pd.DataFrame], *, future_calendar: pd.DatetimeIndex | None = None
                   ) -> Path:
    """Write a whole provider from wide panels.

    Args:
        calendar: trading days, length D.
        fields: field name -> DataFrame (D, n_instruments) indexed by ``calendar``, columns = instruments.
        universes: universe name -> spans frame (instrument, start, end).
        future_calendar: calendar extended with future trading days for ``day_future.txt``.
    """
    provider_dir = Path(provider_dir)
    write_calendar(provider_dir, calendar)
    if future_calendar is not None:
        if not future_calendar[: len(calendar)].equals(calendar):
            raise ValueError("future_calendar must start with the calendar itself")
        write_calendar(provider_dir, future_calendar, future=True)
    names = list(fields)
    instruments = list(next(iter(fields.values())).columns)
    for instrument in instruments:
        frame = pd.DataFrame({name: fields[name][instrument] for name in names}, index=calendar)
        write_panel_features(provider_dir, instrument, frame, calendar)
    for name, spans in universes.items():
        write_instruments(provider_dir, name, spans)
    logger.info("wrote %d instruments x %d fields x %d days to %s",
                len(instruments), len(names), len(calendar), provider_dir)
    return provider_dir


def read_field_panel(provider_dir: str | Path, field: str, instruments: Iterable[str],
                     calendar: pd.DatetimeIndex | None = None) -> pd.DataFrame:
    """Wide panel of one field, NaN where an instrument has no data or no file.

    A ``.day.bin`` start index counts from the first day of ``calendars/day.txt``, so values are placed
    on that full calendar, then taken on ``calendar`` (any subset of its days; default: all of them).
    """
    full = read_calendar(provider_dir)
    calendar = full if calendar is None else pd.DatetimeIndex(calendar)
    rows = full.get_indexer(calendar)
    if (rows < 0).any():
        outside = calendar[rows < 0][:3].strftime("%Y-%m-%d").tolist()
        raise ValueError(f"calendar days {outside} are not in {provider_dir}/calendars/day.txt; pass days of "
                         "the provider's own calendar")
    instruments = list(instruments)
    out = np.full((len(full), len(instruments)), np.nan, dtype=np.float32)
    for j, instrument in enumerate(instruments):
        path = feature_path(provider_dir, instrument, field)
        if not path.exists():
            continue
        start, values = read_feature(provider_dir, instrument, field)
        if start >= len(full):
            raise ValueError(f"{path}: start index {start} lies outside calendars/day.txt ({len(full)} days); "
                             "rebuild the calendar or re-import this instrument")
        stop = min(start + len(values), len(full))
        out[start:stop, j] = values[: stop - start]
    out = out[rows]
    return pd.DataFrame(out, index=calendar, columns=instruments)
