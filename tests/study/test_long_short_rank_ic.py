"""The L-S column is top minus bottom; incremental IC also rank on rank (issue 21)."""
from __future__ import annotations

import numpy as np
import pytest
from test_compare import panel

from kronos_quant.study import compare


def test_long_short_is_top_minus_bottom_quantile():
    frame = panel(n_days=40, n_names=50, seed=3)
    table = compare.long_short(frame, ["c1"], quantile=0.2)
    by_hand = []
    for _, day in frame.groupby(level="datetime"):
        ordered = day.sort_values("c1")
        by_hand.append(ordered["label"].iloc[-10:].mean() - ordered["label"].iloc[:10].mean())  # 20% of 50
    assert table.loc["c1", "long_short_ann"] == pytest.approx(np.mean(by_hand) * compare.ANN_DAYS, rel=1e-9)
    assert table.loc["c1", "long_short_ann"] > 0


def test_rank_incremental_ic_ignores_a_monotone_transform_of_a_control():
    frame = panel(n_days=30, n_names=40, seed=4)
    frame["convex"] = np.exp(3.0 * frame["c1"])  # same ranks as c1, different values
    ranked = compare.rank_incremental_ic(frame, "convex", ["c1"])
    assert (ranked["IC"] == 0.0).all() and (ranked["RankIC"] == 0.0).all()  # nothing beyond c1's ranks
    raw = compare.incremental_ic(frame, "convex", ["c1"])
    assert (raw["RankIC"].abs() > 0.05).mean() > 0.5  # the raw regression leaves a nonlinear residual
    # and a genuinely new signal keeps its IC under both
    frame["new"] = frame["noise"] + 0.1 * frame["c1"]
    assert compare.rank_incremental_ic(frame, "new", ["c1"])["IC"].mean() > 0.05
