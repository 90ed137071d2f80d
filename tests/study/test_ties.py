"""Ties at the Top-K cutoff: a seeded tie-break, not instrument order, picks among tied names (issue 21)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research.ties import break_ties, cutoff_ties, tie_summary


def tied_panel(n_days=5, n_names=30, seed=0) -> pd.Series:
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([pd.bdate_range("2022-01-04", periods=n_days),
                                        [f"SH60{i:04d}" for i in range(n_names)]], names=["datetime", "instrument"])
    return pd.Series(rng.integers(0, 4, size=len(index)).astype(float), index=index)  # 4 distinct values


def test_break_ties_keeps_the_order_of_distinct_values_and_ignores_row_order():
    signal = tied_panel()
    signal.iloc[3] = np.nan
    ranked = break_ties(signal, seed=3)
    assert np.isnan(ranked.iloc[3]) and ranked.notna().sum() == signal.notna().sum()
    for _, day in pd.concat({"raw": signal, "rank": ranked}, axis=1).dropna().groupby(level=0):
        assert day["rank"].is_unique and day["rank"].max() == 1.0
        # a higher raw value always ranks higher: the tie-break acts only inside a tie
        order = day.sort_values("rank")
        assert order["raw"].is_monotonic_increasing
    shuffled = signal.sample(frac=1.0, random_state=5)
    pd.testing.assert_series_equal(break_ties(shuffled, seed=3), ranked)
    assert not break_ties(signal, seed=4).equals(ranked)  # the seed matters
    # within ties the order is not the instrument-code order (it was, in Qlib's sort)
    all_tied = break_ties(pd.Series(1.0, index=signal.index), seed=3).xs(signal.index[0][0], level=0)
    assert abs(np.corrcoef(np.arange(len(all_tied)), all_tied.to_numpy())[0, 1]) < 0.5
    with pytest.raises(ValueError, match="indexed"):
        break_ties(pd.Series([1.0, 2.0]), seed=0)


def test_cutoff_ties_counts_the_names_sharing_the_kth_score():
    index = pd.MultiIndex.from_product([[pd.Timestamp("2022-01-04"), pd.Timestamp("2022-01-05")], list("abcdef")])
    values = [5, 4, 3, 3, 3, 1,   # top-3 cutoff value 3 is shared by 3 names
              6, 5, 4, 3, 2, 1]   # no tie
    tied = cutoff_ties(pd.Series(values, index=index, dtype=float), topk=3)
    assert tied.tolist() == [3, 1]
    summary = tie_summary(pd.Series(values, index=index, dtype=float), topk=3)
    assert summary == {"tie_days": 0.5, "tied_at_cutoff": 3.0}


@pytest.mark.slow
def test_topk_backtest_does_not_depend_on_instrument_order(tiny_market, init_qlib):
    from qlib.data import D

    from kronos_quant.study.backtest import topk_backtest
    from kronos_quant.study.config import BacktestSettings

    init_qlib(tiny_market)
    frame = D.features(D.instruments("csi300"), ["$close / Ref($close, 5) - 1"], start_time="2022-01-04",
                       end_time="2022-02-28").iloc[:, 0]
    frame = frame.swaplevel().sort_index().rename_axis(["datetime", "instrument"])
    coarse = frame.groupby(level=0).transform(lambda x: np.ceil(3 * x.rank(pct=True))).dropna()  # 3 values a day
    settings = BacktestSettings(topk=5, n_drop=1)
    report, positions = topk_backtest(coarse, settings=settings, benchmark="SH000300", seed=0)
    for permuted in (coarse.sort_index(level="instrument", ascending=False), coarse.sample(frac=1.0, random_state=2)):
        other, other_positions = topk_backtest(permuted, settings=settings, benchmark="SH000300", seed=0)
        pd.testing.assert_frame_equal(other, report)
        assert all(sorted(other_positions[d].get_stock_list()) == sorted(positions[d].get_stock_list())
                   for d in positions)
    assert report["return"].abs().sum() > 0  # it traded
    # a constant signal (everything tied): not the alphabetically first names, which Qlib's sort would pick
    constant = pd.Series(1.0, index=coarse.index)
    _, held = topk_backtest(constant, settings=settings, benchmark="SH000300", seed=0)
    signal_day, first_day = sorted(held)[:2]  # the signal of day t trades on day t+1
    bought = sorted(held[first_day].get_stock_list())
    assert len(bought) == 5
    assert bought != sorted(coarse.xs(signal_day, level="datetime").index)[:5]
