"""Forward-return labels of several horizons for a signal's rows, read from the Qlib provider (IC decay).

The close panel is loaded for the signal's instruments *as a list of codes* over the whole date range
(plus the trading days the longest label needs after the last signal date), not through a universe
name: ``D.features("csi300", ...)`` blanks an instrument outside its membership spans, so the label
of a row a few days before the instrument leaves the index would need a masked close and become NaN.
Labels follow :func:`kronos_quant.research.ic_analysis.forward_returns` (Qlib's convention,
``close[t+h+1] / close[t+1] - 1``). Requires ``qlib.init`` with a provider.
"""
from __future__ import annotations

import logging

import pandas as pd

from kronos_quant.research.ic_analysis import DECAY_HORIZONS, as_panel_series, forward_returns

logger = logging.getLogger(__name__)


def _end_with_room(last_date: pd.Timestamp, extra_days: int) -> pd.Timestamp:
    """The trading day ``extra_days`` sessions after ``last_date`` (or the provider's last day)."""
    from qlib.data import D

    future = D.calendar(start_time=last_date)
    if len(future) == 0:
        raise ValueError(f"no trading days on or after {last_date.date()} in the provider calendar")
    return pd.Timestamp(future[min(extra_days, len(future) - 1)])


def load_close(instruments, start_time, end_time) -> pd.DataFrame:
    """``$close`` as a ``(dates, instruments)`` panel for a *list* of codes (no universe masking)."""
    from qlib.data import D

    if isinstance(instruments, str):
        raise TypeError("instruments must be a list of codes, not a universe name: a universe masks closes "
                        "outside membership spans (pass sorted(signal's instruments))")
    raw = D.features(list(instruments), ["$close"], start_time=start_time, end_time=end_time)
    if raw.empty:
        raise ValueError(f"D.features returned no $close for {len(instruments)} instruments in "
                         f"{start_time}..{end_time}; check the provider")
    return raw["$close"].unstack("instrument").sort_index()


def decay_labels(signal, horizons=DECAY_HORIZONS) -> dict[int, pd.Series]:
    """``{h: label Series (datetime, instrument)}`` on the signal's rows, for every ``h`` in ``horizons``."""
    signal = as_panel_series(signal, "signal")
    horizons = sorted(int(h) for h in horizons)
    if not horizons or horizons[0] < 1:
        raise ValueError(f"horizons must be a non-empty list of days >= 1; got {horizons}")
    dates = signal.index.get_level_values("datetime")
    instruments = sorted(signal.index.get_level_values("instrument").unique())
    end = _end_with_room(dates.max(), horizons[-1] + 1)
    close = load_close(instruments, dates.min(), end)
    labels = forward_returns(close, horizons)
    return {h: label.reindex(signal.index).dropna() for h, label in labels.items()}
