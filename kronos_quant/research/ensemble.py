"""Seed ensembles: the ensemble's signal is the mean of its members' signals (no qlib here)."""
from __future__ import annotations

from collections.abc import Sequence

import pandas as pd


def ensemble_signal(members: Sequence[pd.Series], *, name: str = "ensemble") -> pd.Series:
    """Mean of member signals, each indexed (datetime, instrument), on the union of their rows.

    A row that some member lacks (or holds NaN for) is NaN in the ensemble: an average over fewer
    members would mix signals of different quality without saying so. Drop such rows explicitly.
    """
    if len(members) == 0:
        raise ValueError("ensemble_signal needs at least one member signal")
    names = {tuple(member.index.names) for member in members}
    if len(names) != 1:
        raise ValueError(f"member signals are indexed differently ({sorted(names)}); index all of them by "
                         "(datetime, instrument)")
    table = pd.concat([member.rename(k) for k, member in enumerate(members)], axis=1, join="outer")
    return table.mean(axis=1, skipna=False).rename(name).sort_index()
