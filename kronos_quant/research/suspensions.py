"""Suspended days: a zero-volume bar is a suspension, wherever it appears (no qlib at import).

Both real providers (CSI300 and the broad A-share one) carry a suspended day forward as a flat bar:
open = high = low = close = the previous close, volume 0. Qlib treats a stock as suspended only when its
close is NaN, so without care such a day is scored (its label is a 0 return), and tradable at a stale
price. The synthetic market writes suspensions as NaN bars instead, which Qlib already skips.

Conventions: a row (t, instrument) is *touched* by a suspension over ``k`` label days when any of the
bars t, t+1, .., t+k has volume 0: :func:`zero_volume_expression` gives the Qlib expression of the
smallest volume over those bars (0 = touched). The study drops touched rows before scoring, per label.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def zero_volume_expression(label_days: int) -> str:
    """Qlib expression: the smallest ``$volume`` over bars t .. t+label_days (0 = a suspended bar among them)."""
    days = int(label_days)
    if days < 0:
        raise ValueError(f"label_days must be >= 0, got {label_days}")
    return "$volume" if days == 0 else f"Ref(Min($volume, {days + 1}), -{days})"


def touched(min_volume: pd.Series) -> pd.Series:
    """Bool per row: the smallest volume over the row's bars is 0 (NaN volume is not a zero-volume bar)."""
    values = pd.Series(min_volume, dtype=float)
    return (values == 0).rename("suspended")


def mask_suspended(label: pd.Series, suspended: pd.Series) -> pd.Series:
    """``label`` with NaN on the rows flagged in ``suspended`` (rows absent from ``suspended`` are kept)."""
    flags = suspended.reindex(label.index).fillna(False).astype(bool).to_numpy()
    out = pd.Series(label, dtype=float).copy()
    out[flags] = np.nan
    return out


def removed_rows(signals: Mapping[str, pd.Series], label: pd.Series, suspended: pd.Series) -> pd.Series:
    """Per signal, the rows with a finite signal and label that a suspension removes from scoring."""
    flags = suspended.reindex(label.index).fillna(False).astype(bool)
    finite_label = np.isfinite(pd.Series(label, dtype=float))
    counts = {}
    for name, signal in signals.items():
        scored = np.isfinite(pd.Series(signal, dtype=float).reindex(label.index)) & finite_label
        counts[name] = int((scored & flags).sum())
    out = pd.Series(counts, name="suspended_rows_removed", dtype=int)
    logger.info("zero-volume (suspended) rows removed per signal: %s", out.to_dict())
    return out
