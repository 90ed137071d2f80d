"""Forecast horizons scored against their own labels (no qlib at import).

A forecast of the cumulative return t -> t+k (``close[t+k] / close[t] - 1``) is scored against the
realised return over the same span, :func:`realised_return_expression` (k), as well as against the
study's headline label (``close[t+2] / close[t+1] - 1``). Scoring every horizon against the headline
label only says how well a k-day forecast ranks tomorrow's step, not whether it has skill at k days.

Rows of :func:`horizon_table` name the forecast and the label they use; t-statistics are Newey-West
with at least ``k`` lags for a k-day label (overlapping spans).
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

from kronos_quant.research.hac import hac_mean

logger = logging.getLogger(__name__)

HEADLINE_LABEL = "close[t+2]/close[t+1]-1 (headline)"


def realised_return_expression(k: int) -> str:
    """Qlib expression of the realised return over the forecast span t -> t+k: ``close[t+k] / close[t] - 1``."""
    if int(k) < 1:
        raise ValueError(f"horizon k must be >= 1 bar, got {k}")
    return f"Ref($close, -{int(k)}) / $close - 1"


def own_label_name(k: int) -> str:
    return f"close[t+{int(k)}]/close[t]-1 (own span)"


def _score(signal: pd.Series, label: pd.Series, label_horizon: int) -> dict:
    from kronos_quant.research.ic_analysis import ic_series

    joined = pd.concat({"signal": signal, "label": label}, axis=1, join="inner").dropna()
    if joined.empty:
        return {"IC": np.nan, "RankIC": np.nan, "IC_t_HAC": np.nan, "RankIC_t_HAC": np.nan, "days": 0, "rows": 0}
    ic = ic_series(joined["signal"], joined["label"])
    row = {}
    for column in ("IC", "RankIC"):
        hac = hac_mean(ic[column].dropna().to_numpy(), label_horizon=int(label_horizon))
        row[column], row[f"{column}_t_HAC"] = hac.mean, hac.t_stat
    row["days"], row["rows"] = int(ic["RankIC"].notna().sum()), int(len(joined))
    return row


def horizon_table(headline: pd.Series, headline_label: pd.Series, forecasts: Mapping[int, pd.Series],
                  realised: Mapping[int, pd.Series]) -> pd.DataFrame:
    """IC/RankIC (mean, HAC t), days and rows of each horizon's forecast, with the label each row uses.

    Args:
        headline: the headline signal on the study's aligned rows, indexed (datetime, instrument).
        headline_label: the headline label on those rows.
        forecasts: ``{k: forecast of close[t+k]/close[t]-1}`` (same index; rows outside ``headline`` ignored).
        realised: ``{k: realised close[t+k]/close[t]-1}``; a row without it (the span's last k days) is
            dropped from that horizon's own-label row only.
    Returns:
        rows: the headline, then per k ``t->t+k vs own span`` and ``t->t+k vs headline label``; columns
        IC, RankIC, IC_t_HAC, RankIC_t_HAC, days, rows, label, label_days.
    """
    rows = {"headline signal": {**_score(headline, headline_label, 1), "label": HEADLINE_LABEL, "label_days": 1}}
    for k in sorted(forecasts):
        forecast = forecasts[k].reindex(headline.index)
        if k in realised:
            rows[f"t->t+{k} vs own span"] = {**_score(forecast, realised[k].reindex(headline.index), k),
                                            "label": own_label_name(k), "label_days": int(k)}
        rows[f"t->t+{k} vs headline label"] = {**_score(forecast, headline_label, 1), "label": HEADLINE_LABEL,
                                               "label_days": 1}
    table = pd.DataFrame(rows).T
    numeric = ["IC", "RankIC", "IC_t_HAC", "RankIC_t_HAC"]
    table[numeric] = table[numeric].astype(float)
    table[["days", "rows", "label_days"]] = table[["days", "rows", "label_days"]].astype(int)
    return table
