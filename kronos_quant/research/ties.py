"""Ties in a cross-section: a seeded tie-break for Top-K selection and a count of the names tied at the cutoff.

A signal with few distinct values (a shallow tree, a rounded factor) ties many names; Qlib's
``TopkDropoutStrategy`` sorts the scores with ``sort_values`` and so picks among tied names by the order
of the rows, i.e. by instrument code. :func:`break_ties` replaces each day's scores by their rank in
(0, 1], ties ordered by a seeded hash of (seed, datetime, instrument): a function of each row's own key,
so the result does not depend on row order, and the same for every signal given the same seed. Ranks keep
the order of distinct values exactly, so a signal without ties selects the same names as before.

Conventions: signals are Series indexed (datetime, instrument); NaN scores stay NaN (not ranked).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def row_keys(index: pd.MultiIndex, seed: int) -> np.ndarray:
    """uint64 hash per (datetime, instrument) row, a function of (seed, row key) only; (N,)."""
    keys = pd.DataFrame({"datetime": pd.DatetimeIndex(index.get_level_values(0)).asi8,
                         "instrument": index.get_level_values(1).astype(str)})
    return pd.util.hash_pandas_object(keys, index=False, hash_key=f"{int(seed) % 10**16:016d}").to_numpy()


def break_ties(signal: pd.Series, *, seed: int) -> pd.Series:
    """Daily rank / count in (0, 1] of ``signal``, ties broken by :func:`row_keys`; sorted by (datetime, instrument).

    Raises a ValueError unless ``signal`` is indexed (datetime, instrument).
    """
    if not isinstance(signal.index, pd.MultiIndex) or signal.index.nlevels != 2:
        raise ValueError("break_ties needs a Series indexed (datetime, instrument); set the index first")
    values = pd.Series(signal, dtype=float).sort_index()
    finite = values[np.isfinite(values.to_numpy())]
    order = pd.DataFrame({"day": pd.DatetimeIndex(finite.index.get_level_values(0)).asi8,
                          "score": finite.to_numpy(), "key": row_keys(finite.index, seed)})
    order = order.sort_values(["day", "score", "key"], kind="mergesort")
    ranks = order.groupby("day").cumcount().to_numpy() + 1.0
    counts = order.groupby("day")["score"].transform("size").to_numpy()
    ranked = pd.Series(np.nan, index=values.index, name=signal.name)
    ranked.iloc[values.index.get_indexer(finite.index[order.index.to_numpy()])] = ranks / counts
    return ranked


def cutoff_ties(signal: pd.Series, *, topk: int) -> pd.Series:
    """Per day, how many names share the ``topk``-th highest score (1 = no tie at the cutoff); NaN scores ignored.

    Returns a Series indexed by datetime (ints); a day with at most ``topk`` names has 0 (no cutoff).
    """
    if int(topk) < 1:
        raise ValueError(f"topk must be >= 1, got {topk}")
    values = pd.Series(signal, dtype=float).dropna()

    def tied(day: pd.Series) -> int:
        if len(day) <= topk:
            return 0
        cutoff = np.sort(day.to_numpy())[::-1][int(topk) - 1]
        return int((day.to_numpy() == cutoff).sum())

    return values.groupby(level=0).apply(tied).astype(int).rename("tied_at_cutoff")


def tie_summary(signal: pd.Series, *, topk: int) -> dict:
    """``{"tie_days": share of days with >1 name tied at the cutoff,
    "tied_at_cutoff": mean tied names on those days}``."""
    tied = cutoff_ties(signal, topk=topk)
    with_ties = tied[tied > 1]
    return {
        "tie_days": float((tied > 1).mean()) if len(tied) else float("nan"),
        "tied_at_cutoff": float(with_ties.mean()) if len(with_ties) else 0.0,
    }
