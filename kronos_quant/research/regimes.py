"""Market regimes defined point in time from the benchmark, and every signal's statistics by regime (no qlib).

Two regime kinds, each known at the close of day t from benchmark closes up to t:

* ``trend``: the benchmark's trailing ``trend_window``-day return close[t]/close[t-w]-1: ``up`` above
  +``flat_band``, ``down`` below -``flat_band``, ``flat`` between;
* ``volatility``: the std of its last ``vol_window`` daily returns, ``high`` above the median of that std over
  all EARLIER days (an expanding median, at least ``vol_min_history`` of them; before that: no label), else ``low``.

A signal's IC on day t (label t+1 -> t+2) counts under the regime of day t; a Top-K day's excess return
(earned from the close of t-1 on positions decided then) counts under the regime of t-1.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

ANN_DAYS = 238  # as Qlib's risk_analysis scales daily data


@dataclass(frozen=True)
class RegimeSettings:
    """How the regimes are cut (see the module docstring)."""

    trend_window: int = 60  # trading days of the trailing benchmark return
    flat_band: float = 0.05  # |trailing return| below this is "flat" (fraction)
    vol_window: int = 60  # trading days of the trailing daily-return std
    vol_min_history: int = 120  # earlier days of that std needed before "high"/"low" is defined

    def __post_init__(self) -> None:
        if min(int(self.trend_window), int(self.vol_window), int(self.vol_min_history)) < 2:
            raise ValueError("trend_window, vol_window and vol_min_history must be >= 2 trading days")
        if not 0 <= float(self.flat_band) < 1:
            raise ValueError(f"flat_band must be a fraction in [0, 1), got {self.flat_band}")

    def describe(self) -> dict[str, str]:
        """One line per regime kind, for the report."""
        return {"trend": f"benchmark close[t]/close[t-{self.trend_window}]-1: up > +{self.flat_band:.0%}, "
                         f"down < -{self.flat_band:.0%}, flat between",
                "volatility": f"std of the last {self.vol_window} daily benchmark returns: high above its median "
                              f"over all earlier days (from {self.vol_min_history} of them), else low"}


def market_regimes(close: pd.Series, *, settings: RegimeSettings = RegimeSettings()) -> pd.DataFrame:
    """DataFrame (datetime x [trend, volatility]) of regime labels (strings; None where undefined).

    Args:
        close: the benchmark's daily closes indexed by datetime, in date order, from before the first day
            to be labelled (the windows need history).
    """
    close = pd.Series(close, dtype=float).sort_index()
    trailing = close / close.shift(int(settings.trend_window)) - 1
    band = float(settings.flat_band)
    trend = pd.Series(np.where(trailing > band, "up", np.where(trailing < -band, "down", "flat")),
                      index=close.index, dtype=object).where(trailing.notna(), None)
    vol = close.pct_change(fill_method=None).rolling(int(settings.vol_window)).std()
    threshold = vol.expanding(min_periods=int(settings.vol_min_history)).median().shift(1)  # earlier days only
    volatility = pd.Series(np.where(vol > threshold, "high", "low"), index=close.index,
                           dtype=object).where(vol.notna() & threshold.notna(), None)
    return pd.DataFrame({"trend": trend, "volatility": volatility}).rename_axis("datetime")


def regime_table(ics: Mapping[str, pd.DataFrame], excess: Mapping[str, pd.Series], regimes: pd.DataFrame
                 ) -> pd.DataFrame:
    """Rows (regime, state, signal): days, mean daily IC and RankIC, annualized mean Top-K excess return.

    Args:
        ics: ``{signal: DataFrame(datetime x [IC, RankIC])}``.
        excess: ``{signal: daily Top-K excess return (with cost), indexed by datetime}``.
        regimes: :func:`market_regimes` output covering the test days.
    """
    rows = []
    for kind in regimes.columns:
        for name, ic in ics.items():
            state_of_day = regimes[kind].reindex(ic.index)
            daily = excess.get(name)
            # excess on day d comes from positions decided at the close of the previous trading day
            previous = regimes[kind].shift(1).reindex(daily.index) if daily is not None else None
            for state in sorted(s for s in state_of_day.dropna().unique()):
                on = state_of_day == state
                row = {"regime": kind, "state": state, "signal": name, "days": int(on.sum()),
                       "IC": float(ic.loc[on, "IC"].mean()), "RankIC": float(ic.loc[on, "RankIC"].mean())}
                if daily is not None:
                    row["topk_excess_ann"] = float(daily[previous == state].mean() * ANN_DAYS)
                    row["topk_days"] = int((previous == state).sum())
                rows.append(row)
    if not rows:
        return pd.DataFrame(columns=["regime", "state", "signal", "days", "IC", "RankIC"])
    return pd.DataFrame(rows).set_index(["regime", "state", "signal"]).sort_index()
