"""Load style/industry exposures for a signal's instruments and dates from the Qlib provider.

Requires ``qlib.init(...)`` first. Fields read with ``D.features``:

- ``$close`` and ``$amount`` (when the provider has no ``$amount`` -- all NaN -- it is derived
  as ``$volume * ($open + $high + $low + $close) / 4``);
- the benchmark's ``$close`` (default ``SH000300``) for the rolling beta;
- ``$mktcap`` and ``$industry`` when present (the synthetic market stores ``$industry`` as a
  float code); a user CSV with columns ``instrument,industry`` overrides ``$industry``.

Exposures are computed by :func:`kronos_quant.research.exposures.style_exposures` on a window
that starts ``buffer_days`` trading days before ``start_time`` (the 60-day beta needs the
history), then cut to ``[start_time, end_time]``.
"""
from __future__ import annotations

import logging
from pathlib import Path

import pandas as pd

from kronos_quant.normalization import DERIVED_AMOUNT_EXPRESSION
from kronos_quant.research.exposures import style_exposures

logger = logging.getLogger(__name__)

DEFAULT_BENCHMARK = "SH000300"
BUFFER_DAYS = 90  # trading days of history before start_time (> 60-day beta window)
AMOUNT_PROXY = DERIVED_AMOUNT_EXPRESSION
FIELDS = {"close": "$close", "amount": "$amount", "amount_proxy": AMOUNT_PROXY, "mktcap": "$mktcap",
          "industry": "$industry"}


def buffered_start(start_time, buffer_days: int = BUFFER_DAYS) -> pd.Timestamp:
    """The trading day ``buffer_days`` sessions before ``start_time`` (or the first calendar day)."""
    from qlib.data import D

    calendar = D.calendar(end_time=start_time)
    if len(calendar) == 0:
        raise ValueError(f"no trading days on or before start_time={start_time}; check the provider calendar")
    return pd.Timestamp(calendar[max(0, len(calendar) - 1 - buffer_days)])


def read_industry_csv(path) -> pd.Series:
    """``instrument,industry`` CSV -> Series of industry labels indexed by upper-case instrument."""
    table = pd.read_csv(Path(path))
    missing = {"instrument", "industry"} - set(table.columns)
    if missing:
        raise ValueError(f"industry CSV {path} needs columns instrument,industry; missing {sorted(missing)}")
    return table.assign(instrument=table["instrument"].str.upper()).set_index("instrument")["industry"]


def _wide(raw: pd.DataFrame, column: str) -> pd.DataFrame:
    """``(instrument, datetime)`` long column -> ``(dates, instruments)`` panel."""
    return raw[column].unstack("instrument").sort_index()


def _present(panel: pd.DataFrame) -> bool:
    return bool(panel.notna().to_numpy().any())


def load_market_panels(instruments, start_time, end_time, *, benchmark: str = DEFAULT_BENCHMARK) -> dict:
    """Raw panels ``{close, amount, benchmark_close, market_cap|None, industry|None}`` from ``D.features``."""
    from qlib.data import D

    if isinstance(instruments, str):
        instruments = D.instruments(instruments)
    raw = D.features(instruments, list(FIELDS.values()), start_time=start_time, end_time=end_time)
    if raw.empty:
        raise ValueError(f"D.features returned no rows for {start_time}..{end_time}; check instruments and dates")
    raw.columns = list(FIELDS)
    panels = {name: _wide(raw, name) for name in FIELDS}
    if not _present(panels["amount"]):
        logger.info("provider has no $amount; using %s", AMOUNT_PROXY)
        panels["amount"] = panels["amount_proxy"]
    bench = D.features([benchmark], ["$close"], start_time=start_time, end_time=end_time)
    if bench.empty:
        raise ValueError(f"benchmark {benchmark} has no $close in the provider; pass benchmark=<code>")
    return {
        "close": panels["close"],
        "amount": panels["amount"],
        "benchmark_close": bench["$close"].droplevel("instrument").sort_index(),
        "market_cap": panels["mktcap"] if _present(panels["mktcap"]) else None,
        "industry": panels["industry"] if _present(panels["industry"]) else None,
    }


def load_exposures(
    instruments,
    start_time,
    end_time,
    *,
    benchmark: str = DEFAULT_BENCHMARK,
    buffer_days: int = BUFFER_DAYS,
    industry_csv=None,
) -> pd.DataFrame:
    """Exposures indexed ``(datetime, instrument)`` for ``start_time..end_time``.

    ``instruments``: a list of codes or a market name such as ``"csi300"``. Columns: ``beta,
    size, mom_20, mom_60, vol_20, liquidity``, plus ``industry`` (code; from ``industry_csv``
    if given, else ``$industry`` if the provider has it) and ``mktcap`` (raw market cap, for
    WLS weights) when available. See :mod:`kronos_quant.research.exposures` for definitions.
    """
    start = buffered_start(start_time, buffer_days)
    panels = load_market_panels(instruments, start, end_time, benchmark=benchmark)
    industry = read_industry_csv(industry_csv) if industry_csv is not None else panels["industry"]
    frame = style_exposures(
        panels["close"], panels["amount"], panels["benchmark_close"],
        market_cap=panels["market_cap"], industry=industry,
    )
    if panels["market_cap"] is not None:
        frame["mktcap"] = panels["market_cap"].stack(future_stack=True).reindex(frame.index).to_numpy()
    dates = frame.index.get_level_values("datetime")
    frame = frame[(dates >= pd.Timestamp(start_time)) & (dates <= pd.Timestamp(end_time))]
    logger.info("loaded exposures %s for %d rows", list(frame.columns), len(frame))
    return frame
