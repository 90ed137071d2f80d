"""The market as it stood on t0: members' bars up to t0 read from a Qlib provider, nothing later.

Reads the binary provider directly (kronos_quant.data.qlib_bin), so it needs no qlib. Values after t0 are
cut off right after each file is read; no later bar reaches a caller (tests perturb them to check).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kronos_quant.data.qlib_bin import read_calendar, read_field_panel, read_instruments
from kronos_quant.normalization import FEATURE_COLUMNS, fill_volume_amount

logger = logging.getLogger(__name__)

PRICE_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class MarketHistory:
    """Members' daily bars over the ``days`` trading days ending at t0.

    bars: float32 (D, I, 6) open, high, low, close, volume, amount; NaN rows where a member was suspended
    (NaN close or zero volume) or not yet listed. Amount is volume * mean(OHLC) when the provider has none.
    benchmark_close: float64 (D,) the provider's benchmark close, or None.
    """

    dates: pd.DatetimeIndex
    instruments: tuple[str, ...]
    bars: np.ndarray
    benchmark_close: np.ndarray | None
    benchmark: str | None
    provider: str | None = None  # where the bars were read from

    @property
    def t0(self) -> pd.Timestamp:
        return self.dates[-1]

    @property
    def close(self) -> np.ndarray:
        """float32 (D, I) closes, NaN when suspended."""
        return self.bars[:, :, 3]

    def valid(self) -> np.ndarray:
        """bool (D, I): a real traded bar (finite prices, volume > 0)."""
        return np.isfinite(self.bars[:, :, :4]).all(axis=-1) & (self.bars[:, :, 4] > 0)


def members_at(provider_dir, universe: str, t0: pd.Timestamp) -> list[str]:
    """Instruments whose membership span in ``instruments/<universe>.txt`` contains t0."""
    spans = read_instruments(provider_dir, universe)
    inside = (spans["start"] <= t0) & (spans["end"] >= t0)
    return sorted(spans.loc[inside, "instrument"].unique())


def resolve_t0(calendar: pd.DatetimeIndex, t0, days: int) -> pd.Timestamp:
    """The last trading day <= t0, checked to have ``days`` trading days up to and including it."""
    stamp = pd.Timestamp(t0)
    position = int(calendar.searchsorted(stamp, side="right")) - 1
    if position < 0:
        raise ValueError(f"t0={stamp.date()} is before the provider's first trading day {calendar[0].date()}; "
                         "pick a later t0")
    if position + 1 < days:
        raise ValueError(f"t0={stamp.date()} has {position + 1} trading days up to it but {days} are needed "
                         f"(lookback + signal history); pick a t0 on or after {calendar[days - 1].date()} "
                         "or shorten the lookback")
    return calendar[position]


def load_history(provider_dir, *, universe: str, t0, days: int, benchmark: str | None = None,
                 instruments: list[str] | None = None) -> MarketHistory:
    """Bars of the universe's members at t0 over the ``days`` trading days ending at t0.

    Args:
        universe: instruments file name (e.g. "csi300"); members are those listed on t0.
        days: trading days to load (>= the model lookback plus whatever the signals look back).
        benchmark: an instrument whose close is loaded too (e.g. "SH000300"), or None.
        instruments: override the member list (e.g. a subset for a quick run).
    """
    calendar = read_calendar(provider_dir)
    t0 = resolve_t0(calendar, t0, days)
    end = int(calendar.get_loc(t0))
    dates = calendar[end + 1 - days:end + 1]
    members = instruments if instruments is not None else members_at(provider_dir, universe, t0)
    if not members:
        raise ValueError(f"universe {universe!r} has no members on {t0.date()}")
    panels = {field: read_field_panel(provider_dir, field, members, dates).to_numpy(np.float64)
              for field in PRICE_FIELDS}
    raw = np.stack([panels[f] for f in PRICE_FIELDS] + [np.zeros_like(panels["close"])], axis=-1)
    bars = fill_volume_amount(raw, has_volume=True, has_amount=False)
    amount_path = read_field_panel(provider_dir, "amount", members, dates).to_numpy(np.float64)
    if np.isfinite(amount_path).any():
        bars[..., 5] = amount_path
    suspended = ~np.isfinite(bars[..., :4]).all(axis=-1) | ~(bars[..., 4] > 0)
    bars[suspended] = np.nan
    bench = None
    if benchmark is not None:
        bench = read_field_panel(provider_dir, "close", [benchmark], dates).to_numpy(np.float64)[:, 0]
        if not np.isfinite(bench).any():
            raise ValueError(f"benchmark {benchmark!r} has no close before {t0.date()} in {provider_dir}")
    assert bars.shape[-1] == len(FEATURE_COLUMNS)
    return MarketHistory(dates=dates, instruments=tuple(members), bars=bars.astype(np.float32),
                         benchmark_close=bench, benchmark=benchmark, provider=str(provider_dir))


def future_dates(provider_dir, t0: pd.Timestamp, horizon: int) -> pd.DatetimeIndex:
    """The ``horizon`` trading days after t0: the provider's own (day_future.txt, then day.txt) where it has
    them, then business days. Only dates are read here, never bars."""
    known = read_calendar(provider_dir)
    try:
        known = known.union(read_calendar(provider_dir, future=True))
    except FileNotFoundError:
        pass
    after = known[known > t0][:horizon]
    if len(after) < horizon:
        start = after[-1] if len(after) else t0
        extra = pd.bdate_range(start + pd.Timedelta(days=1), periods=horizon - len(after))
        after = after.append(extra)
    return pd.DatetimeIndex(after, name="datetime")
