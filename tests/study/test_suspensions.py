"""A zero-volume bar is a suspended day: never traded in a backtest, never a scored row (issue 21).

The real providers carry a suspension forward as a flat bar (open = high = low = close = the previous
close, volume 0); the synthetic market writes NaN bars, so the test writes carried-forward bars itself.
"""
from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest

from kronos_quant.data import qlib_bin
from kronos_quant.research.suspensions import mask_suspended, removed_rows, touched, zero_volume_expression

pytestmark = pytest.mark.slow

SUSPENDED_FROM = pd.Timestamp("2022-02-14")  # three suspended trading days from here
N_SUSPENDED = 3


def carried_forward_market(tiny_market, out):
    """A copy of the tiny market where one csi300 member is suspended for 3 days as flat, zero-volume bars.

    Returns (provider, instrument, suspended days)."""
    provider = out / "carried"
    shutil.copytree(tiny_market, provider)
    calendar = qlib_bin.read_calendar(provider)
    members = qlib_bin.read_instruments(provider, "csi300")
    first = int(calendar.get_loc(SUSPENDED_FROM))
    days = calendar[first:first + N_SUSPENDED]
    for instrument in sorted(members["instrument"]):
        start, close = qlib_bin.read_feature(provider, instrument, "close")
        rows = np.arange(first - 1, first + N_SUSPENDED + 1) - start
        if rows[0] >= 0 and rows[-1] < len(close) and np.isfinite(close[rows]).all():
            break
    previous = close[rows[0]]
    for field in ("open", "high", "low", "close", "vwap", "volume", "amount", "change"):
        if not qlib_bin.feature_path(provider, instrument, field).exists():
            continue
        start, values = qlib_bin.read_feature(provider, instrument, field)
        fill = {"volume": 0.0, "amount": 0.0, "change": 0.0}.get(field, previous)
        values[rows[1:-1]] = fill
        if field == "change":
            values[rows[-1]] = close[rows[-1]] / previous - 1
        qlib_bin.write_feature(provider, instrument, field, values, start)
    return provider, instrument.upper(), days


def test_expression_and_masks():
    assert zero_volume_expression(0) == "$volume" and zero_volume_expression(2) == "Ref(Min($volume, 3), -2)"
    index = pd.MultiIndex.from_product([pd.bdate_range("2022-01-03", periods=2), ["A", "B"]])
    flags = touched(pd.Series([0.0, 5.0, np.nan, 1.0], index=index))
    assert flags.tolist() == [True, False, False, False]
    label = pd.Series([0.01, 0.02, 0.03, np.nan], index=index)
    assert np.isnan(mask_suspended(label, flags).iloc[0]) and mask_suspended(label, flags).iloc[1] == 0.02
    removed = removed_rows({"s": pd.Series(1.0, index=index), "t": pd.Series([np.nan, 1, 1, 1.0], index=index)},
                           label, flags)
    assert removed.to_dict() == {"s": 1, "t": 0}


def test_zero_volume_day_is_never_bought_or_sold(tiny_market, tmp_path, init_qlib):
    from kronos_quant.study.backtest import topk_backtest
    from kronos_quant.study.config import BacktestSettings

    provider, stock, days = carried_forward_market(tiny_market, tmp_path)
    init_qlib(provider)
    from qlib.data import D

    close = D.features(D.instruments("csi300"), ["$close"], start_time="2022-01-24", end_time="2022-03-11")["$close"]
    index = close.swaplevel().sort_index().dropna().index.set_names(["datetime", "instrument"])
    rng = np.random.default_rng(0)
    base = pd.Series(rng.uniform(0.0, 0.5, size=len(index)), index=index)
    dates = index.get_level_values(0)
    is_stock = index.get_level_values(1) == stock
    day_before = dates[dates < days[0]].max()
    settings = BacktestSettings(topk=5, n_drop=1)

    # buy: the stock becomes the best name on the eve of its suspension
    buy = base.where(~(is_stock & (dates >= day_before)), 1.0).where(~(is_stock & (dates < day_before)), 0.0)
    _, held = topk_backtest(buy, settings=settings, benchmark="SH000300")
    assert all(held[d].get_stock_amount(stock) == 0 for d in days)  # not bought while suspended ...
    after = min(d for d in held if d > days[-1])
    assert held[after].get_stock_amount(stock) > 0  # ... but on its first trading day

    # sell: held before, the worst name from the eve of its suspension
    sell = base.where(~(is_stock & (dates < day_before)), 1.0).where(~(is_stock & (dates >= day_before)), -1.0)
    _, held = topk_backtest(sell, settings=settings, benchmark="SH000300")
    amount = held[day_before].get_stock_amount(stock)
    assert amount > 0
    assert all(held[d].get_stock_amount(stock) == amount for d in days)  # not sold while suspended ...
    assert held[after].get_stock_amount(stock) == 0  # ... sold on its first trading day


def test_zero_volume_day_is_not_a_scored_row(tiny_market, tmp_path):
    from study_test_helpers import study_dict

    from kronos_quant.data.checks import check_provider
    from kronos_quant.study.config import study_config_from_dict
    from kronos_quant.study.run import run_study

    provider, stock, days = carried_forward_market(tiny_market, tmp_path)
    assert "zero_volume_bars" in check_provider(provider).codes("info")  # data check reports the flat bars
    assert "zero_volume_bars" not in check_provider(tiny_market).codes()
    config = study_config_from_dict(study_dict(provider, tmp_path / "out", signals=("reversal_5d", "random"),
                                               test_start="2022-01-04", test_end="2022-03-31"))
    result = run_study(config)
    scored = result.frame.xs(stock, level="instrument").index
    calendar = qlib_bin.read_calendar(provider)
    first = int(calendar.get_loc(days[0]))
    touched_days = calendar[first - 2:first + N_SUSPENDED]  # t, t+1 or t+2 suspended: 2 + 3 days
    assert not scored.isin(touched_days).any()
    assert calendar[first - 5:first - 2].isin(scored).all() and len(scored.intersection(calendar[first + 3:])) > 5
    assert result.summary["suspended_rows_removed"].to_dict() == {"reversal_5d": 5, "random": 5}
