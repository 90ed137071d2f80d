"""Per-instrument CSV files -> a Qlib provider directory (day frequency).

Input: ``SRC_DIR/<INSTRUMENT>.csv`` with a date column (``date``, ``datetime``, ``timestamps`` or
``trade_date``) and ``open, high, low, close, volume``; optional ``amount, factor, vwap, change``.
Prices are taken as they are (Qlib's convention: already adjusted, ``factor`` = adjusted / raw);
without a ``factor`` column factor = 1. ``change`` is recomputed as close / previous close - 1 (a
fraction); a supplied ``change`` that looks like percent is rejected.

Why ``volume`` is required here but optional in ``kronos-quant forecast``: a provider's volume is
what marks a suspended day (no volume, no trade: :mod:`kronos_quant.data.windows` drops such bars
from Kronos' windows), and Alpha158, the exposures and the backtest read it. A provider without it
would have every bar suspended. ``forecast`` reads one series and, like the official Kronos
predictor, fills a missing volume (and amount) with 0.

Output: feature binaries, ``calendars/day.txt`` (union of all dates), ``calendars/day_future.txt``
(``day.txt`` plus the next ``future_days`` sessions), ``instruments/all.txt`` and, given a spans file
(instrument,start,end), ``instruments/<universe_name>.txt``.

The future sessions come from :mod:`kronos_quant.data.market_calendar`: the ``exchange``'s real
sessions from ``exchange_calendars`` (default XSHG: Shanghai holidays such as the National Day
week are skipped), plain Monday-Friday business days with ``exchange=None``, or the dates of
``future_calendar`` (any iterable of dates, e.g. read from the exchange's published holiday list).
"""
from __future__ import annotations

import logging
from collections.abc import Iterable
from pathlib import Path

import pandas as pd

from kronos_quant.data import qlib_bin
from kronos_quant.data.dates import parse_dates
from kronos_quant.data.instrument_codes import codes_from_paths
from kronos_quant.data.market_calendar import DEFAULT_EXCHANGE, next_sessions
from kronos_quant.validation import check_bar_frame, raise_for_issues

logger = logging.getLogger(__name__)

DATE_COLUMNS = ("date", "datetime", "timestamps", "trade_date")
REQUIRED_COLUMNS = ("open", "high", "low", "close", "volume")
OPTIONAL_COLUMNS = ("amount", "factor", "vwap", "change")


def _date_column(columns: list[str], path: Path) -> str:
    for name in DATE_COLUMNS:
        if name in columns:
            return name
    raise ValueError(f"{path.name}: no date column; name one of {DATE_COLUMNS} (columns found: {columns})")


def read_instrument_csv(path: str | Path, *, date_format: str | None = None) -> pd.DataFrame:
    """Read and validate one instrument's CSV (bars checked by :mod:`kronos_quant.validation`).

    Dates are ISO 8601 unless ``date_format`` (a strftime format such as ``"%d/%m/%Y"``) is given:
    day-first and month-first dates are never guessed.

    Returns:
        DataFrame indexed by sorted unique dates with the required columns, any optional ones
        present, and ``factor`` and ``change`` always filled in
        (``attrs['factor_filled']`` says whether factor was missing).
    """
    path = Path(path)
    frame = pd.read_csv(path)
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    date_column = _date_column(list(frame.columns), path)
    missing = [c for c in REQUIRED_COLUMNS if c not in frame.columns]
    if missing:
        why = (" (volume marks suspended days: a provider without it has no tradable bar; `kronos-quant "
               "forecast` takes a single series without volume)") if "volume" in missing else ""
        raise ValueError(f"{path.name}: missing columns {missing}; required: {REQUIRED_COLUMNS}{why}")
    if frame.empty:
        raise ValueError(f"{path.name}: no rows")
    dates = pd.Series(parse_dates(frame[date_column], source=f"{path.name}: unparsable dates in column "
                                  f"{date_column!r}", date_format=date_format))
    if (dates != dates.dt.normalize()).any():
        raise ValueError(f"{path.name}: dates carry times of day; only freq='day' is supported for now")
    if dates.duplicated().any():
        dup = dates[dates.duplicated()].dt.strftime("%Y-%m-%d").head(3).tolist()
        raise ValueError(f"{path.name}: duplicated dates {dup}; keep one row per day")
    columns = [c for c in REQUIRED_COLUMNS + OPTIONAL_COLUMNS if c in frame.columns]
    values = frame[columns].apply(pd.to_numeric, errors="coerce")
    bad_cells = values.isna() & frame[columns].notna()
    if bad_cells.any().any():
        column = bad_cells.any().idxmax()
        raise ValueError(f"{path.name}: non-numeric values in column {column!r}, e.g. "
                         f"{frame.loc[bad_cells[column], column].iloc[0]!r}")
    values.index = pd.DatetimeIndex(dates, name="datetime")
    values = values.sort_index()
    raise_for_issues(check_bar_frame(values, allow_missing=True), source=path.name)
    return _fill_factor_and_change(values, path.name)


def _fill_factor_and_change(values: pd.DataFrame, name: str) -> pd.DataFrame:
    values.attrs["factor_filled"] = "factor" not in values
    if "factor" not in values:
        values["factor"] = 1.0
    computed = values["close"] / values["close"].ffill().shift(1) - 1
    if "change" in values:
        given, reference = values["change"].abs().median(), computed.abs().median()
        if reference > 0 and given > 20 * reference:
            raise ValueError(f"{name}: column 'change' looks like percent (median |change| {given:.3g} vs "
                             f"{reference:.3g} from close); divide it by 100 or drop it to have it computed")
    values["change"] = computed
    return values


def read_spans_file(path: str | Path) -> pd.DataFrame:
    """Universe spans CSV with columns instrument,start,end (one row per membership span)."""
    path = Path(path)
    spans = pd.read_csv(path)
    spans.columns = [str(c).strip().lower() for c in spans.columns]
    missing = {"instrument", "start", "end"} - set(spans.columns)
    if missing:
        raise ValueError(f"{path.name}: spans file needs columns instrument,start,end; missing {sorted(missing)}")
    for column in ("start", "end"):
        spans[column] = parse_dates(spans[column], source=f"{path.name}: unparsable {column} dates")
    if (spans["end"] < spans["start"]).any():
        raise ValueError(f"{path.name}: some spans end before they start")
    spans["instrument"] = spans["instrument"].astype(str).str.upper()
    return spans[["instrument", "start", "end"]]


def import_csv_dir(src_dir: str | Path, out_dir: str | Path, *, universe_file: str | Path | None = None,
                   universe_name: str = "csi300", freq: str = "day", future_days: int = 30,
                   date_format: str | None = None, exchange: str | None = DEFAULT_EXCHANGE,
                   future_calendar: Iterable | None = None) -> Path:
    """Convert a directory of per-instrument CSVs into a Qlib provider at ``out_dir``.

    ``exchange`` / ``future_calendar`` choose the sessions of ``day_future.txt`` (module docstring).
    """
    if freq != "day":
        raise ValueError(f"only freq='day' is supported for now, got {freq!r}")
    src_dir = Path(src_dir)
    if not src_dir.is_dir():
        raise ValueError(f"source directory {src_dir} does not exist")
    paths = sorted(src_dir.glob("*.csv"))
    if not paths:
        raise ValueError(f"no <INSTRUMENT>.csv files in {src_dir}")
    frames = {code: read_instrument_csv(path, date_format=date_format)
              for code, path in codes_from_paths(paths).items()}
    no_factor = [name for name, frame in frames.items() if frame.attrs.get("factor_filled")]
    if no_factor:
        logger.warning("%d instruments have no factor column; using factor = 1 (prices taken as adjusted)",
                       len(no_factor))
    calendar = pd.DatetimeIndex(sorted(set().union(*(f.index for f in frames.values()))), name="datetime")
    out_dir = Path(out_dir)
    qlib_bin.write_calendar(out_dir, calendar)
    future = next_sessions(calendar[-1], future_days, exchange=exchange, calendar=future_calendar)
    qlib_bin.write_calendar(out_dir, calendar.append(future), future=True)
    spans = []
    for name, frame in frames.items():
        full = frame.reindex(calendar[calendar.slice_indexer(frame.index[0], frame.index[-1])])
        qlib_bin.write_panel_features(out_dir, name, full, calendar)
        spans.append((name, frame.index[0], frame.index[-1]))
    qlib_bin.write_instruments(out_dir, "all", pd.DataFrame(spans, columns=["instrument", "start", "end"]))
    if universe_file is not None:
        universe = read_spans_file(universe_file)
        unknown = sorted(set(universe["instrument"]) - set(frames))
        if unknown:
            logger.warning("universe %s lists %d instruments without a CSV, e.g. %s",
                           universe_name, len(unknown), unknown[:3])
        qlib_bin.write_instruments(out_dir, universe_name, universe)
    logger.info("imported %d instruments over %d days into %s", len(frames), len(calendar), out_dir)
    return out_dir
