"""A point-in-time liquid universe as a Qlib instruments file (no qlib here: reads the .day.bin files).

At each rebalance day r (the first trading day of every month) the members for r .. the day before the
next rebalance are the ``top_n`` stocks by median traded value over the ``window`` trading days BEFORE
r (close x volume: adjusted close x adjusted volume = raw price x raw shares, 0 on a suspended day),
among stocks with a traded value on at least ``min_days`` of them and not in the ``exclude`` universe
on day r (e.g. CSI300, from its own point-in-time spans); a member that joins the excluded universe
before the next rebalance leaves on the day it joins (the month then has fewer than ``top_n`` members).
Membership at t therefore uses traded values before t's rebalance and the excluded universe's spans at
t only. Index codes (SH000xxx, SZ399xxx) are never members.

``build_universe(provider, name=...)`` writes ``<out>/instruments/<name>.txt``; with ``overlay`` the
output folder is a provider of its own whose calendars/ and features/ link to the source (a read-only
provider cannot take a new instruments file), so a study config can point ``provider_uri`` at it.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.data import qlib_bin
from kronos_quant.data.synth_calendar import mask_to_spans

logger = logging.getLogger(__name__)

INDEX_CODE = re.compile(r"^(SH000|SZ399)\d{3}$", re.IGNORECASE)


@dataclass(frozen=True)
class UniverseSettings:
    """How the liquid universe is chosen (see the module docstring)."""

    top_n: int = 1000  # members at each rebalance
    window: int = 60  # trailing trading days of traded value, before the rebalance day
    min_days: int = 40  # days with a traded value needed in the window (recent listings wait)
    exclude: str | None = "csi300"  # universe whose members at r are left out (None: none)

    def __post_init__(self) -> None:
        if int(self.top_n) < 1:
            raise ValueError(f"top_n must be >= 1, got {self.top_n}")
        if not 1 <= int(self.min_days) <= int(self.window):
            raise ValueError(f"need 1 <= min_days <= window, got min_days={self.min_days}, window={self.window}")


def rebalance_days(calendar: pd.DatetimeIndex) -> pd.DatetimeIndex:
    """The first trading day of each month in ``calendar``."""
    calendar = pd.DatetimeIndex(calendar)
    months = calendar.to_period("M")
    return calendar[np.r_[True, months[1:] != months[:-1]]]


def span_membership(spans: pd.DataFrame, calendar: pd.DatetimeIndex, instruments) -> pd.DataFrame:
    """Bool (D, N): instrument inside one of its (start, end) spans on each day."""
    out = pd.DataFrame(False, index=pd.DatetimeIndex(calendar), columns=list(instruments))
    for row in spans.itertuples(index=False):
        code = str(row.instrument).upper()
        if code in out.columns:
            out.loc[(out.index >= row.start) & (out.index <= row.end), code] = True
    return out


def liquid_membership(value: pd.DataFrame, *, settings: UniverseSettings,
                      excluded: pd.DataFrame | None = None, start=None, end=None) -> pd.DataFrame:
    """Bool (D, N) membership on the days of ``value`` from ``start`` to ``end``.

    Args:
        value: (D, N) daily traded value on the full calendar (NaN = not listed / no bar).
        excluded: bool (D, N) or None, True where a stock is in the excluded universe.
    """
    calendar = pd.DatetimeIndex(value.index)
    columns = [c for c in value.columns if not INDEX_CODE.match(str(c))]
    value = value[columns]
    keep = (calendar >= pd.Timestamp(start or calendar[0])) & (calendar <= pd.Timestamp(end or calendar[-1]))
    days = calendar[keep]
    members = pd.DataFrame(False, index=days, columns=columns)
    rebalances = rebalance_days(days)
    rolling = value.rolling(int(settings.window), min_periods=int(settings.min_days))
    median = rolling.median().shift(1)  # row r: the window of days BEFORE r
    for i, day in enumerate(rebalances):
        scores = median.loc[day].dropna()
        if excluded is not None:
            out_now = excluded.reindex(columns=scores.index, fill_value=False).loc[day]
            scores = scores[~out_now.to_numpy(dtype=bool)]
        chosen = scores.sort_index().sort_values(ascending=False, kind="mergesort").index[: int(settings.top_n)]
        stop = rebalances[i + 1] if i + 1 < len(rebalances) else days[-1] + pd.Timedelta(days=1)
        members.loc[(days >= day) & (days < stop), chosen] = True
    if excluded is not None:  # a stock that joins the excluded universe mid-month leaves on that day
        members &= ~excluded.reindex(index=days, columns=columns, fill_value=False).astype(bool)
    return members


def membership_spans(members: pd.DataFrame) -> pd.DataFrame:
    """Instruments-file spans (instrument, start, end) of a bool (D, N) membership; consecutive days merge."""
    return mask_to_spans(members.to_numpy(dtype=bool), members.index, list(members.columns))


def traded_value(provider_dir, instruments) -> pd.DataFrame:
    """(D, N) close x volume on the provider's calendar (0 where volume is 0, NaN where a bar is missing)."""
    close = qlib_bin.read_field_panel(provider_dir, "close", instruments)
    volume = qlib_bin.read_field_panel(provider_dir, "volume", instruments)
    return close.astype(float) * volume.astype(float)


def build_universe(provider_dir, *, name: str, settings: UniverseSettings = UniverseSettings(), out_dir=None,
                   start=None, end=None, overlay: bool = False) -> Path:
    """Write ``instruments/<name>.txt`` under ``out_dir`` (default: the provider) and return its path."""
    provider = Path(provider_dir)
    if not (provider / "calendars" / "day.txt").is_file():
        raise ValueError(f"{provider} is not a Qlib provider (no calendars/day.txt); pass the provider folder")
    if not re.fullmatch(r"[a-z0-9_]+", name):
        raise ValueError(f"universe name {name!r}: use lower-case letters, digits and '_' (it names a file)")
    everything = qlib_bin.read_instruments(provider, "all")
    instruments = sorted(everything["instrument"].str.upper())
    value = traded_value(provider, instruments)
    excluded = None
    if settings.exclude:
        excluded = span_membership(qlib_bin.read_instruments(provider, settings.exclude), value.index, instruments)
    members = liquid_membership(value, settings=settings, excluded=excluded, start=start, end=end)
    spans = membership_spans(members)
    if spans.empty:
        raise ValueError(f"no stock qualifies between {start} and {end}: each needs {settings.min_days} traded days "
                         f"in the {settings.window} before a rebalance; start later or lower min_days")
    out = Path(out_dir) if out_dir is not None else provider
    if overlay:
        _link_overlay(provider, out)
    path = qlib_bin.write_instruments(out, name, spans)
    logger.info("universe %s: %d spans of %d instruments, %.0f members a day on average -> %s", name, len(spans),
                spans["instrument"].nunique(), members.sum(axis=1).mean(), path)
    return path


def _link_overlay(provider: Path, out: Path) -> None:
    """``out`` as a provider: calendars/ and features/ link to ``provider``, its instruments files are copied."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    for part in ("calendars", "features"):
        link = out / part
        if link.is_symlink() or link.exists():
            if link.resolve() != (provider / part).resolve():
                raise ValueError(f"{link} exists and is not a link to {provider / part}; choose an empty --out")
            continue
        link.symlink_to((provider / part).resolve(), target_is_directory=True)
    (out / "instruments").mkdir(exist_ok=True)
    for source in (provider / "instruments").glob("*.txt"):
        shutil.copyfile(source, out / "instruments" / source.name)
