"""Simulator rules (Qlib's TopkDropout lists, fixed portfolio, limits), stress metrics equal to Qlib's
risk_analysis, and clear errors."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.universes.simulator import (
    ExchangeConfig,
    FixedPortfolio,
    TopkDropout,
    simulate,
    topk_dropout_targets,
    tradable_mask,
)
from kronos_quant.universes.stress import StrategySpec, luck_percentile, path_metrics


def test_topk_dropout_lists_follow_qlib():
    score = np.array([[5.0, 4, 3, 2, 1, np.nan]])
    held = np.array([[0, 0, 1, 1, 1, 1]], dtype=bool)
    sell, buy = topk_dropout_targets(score, held, TopkDropout(topk=4, n_drop=2))
    assert sell.tolist() == [[False, False, False, False, True, True]]  # the two lowest held (NaN is lowest)
    assert buy.tolist() == [[True, True, False, False, False, False]]
    sell, buy = topk_dropout_targets(score, np.zeros_like(held), TopkDropout(topk=3, n_drop=1))
    assert not sell.any() and buy.tolist() == [[True, True, True, False, False, False]]  # first day: top 3
    # a held stock scoring above every candidate is kept even when n_drop asks for a swap
    sell, buy = topk_dropout_targets(np.array([[9.0, 1, 2]]), np.array([[1, 0, 0]], bool), TopkDropout(1, 1))
    assert not sell.any() and not buy.any()
    # n_drop = 0 sells everything (Qlib's get_last_n(comb, 0) is the whole list)
    sell, _ = topk_dropout_targets(score, held, TopkDropout(topk=4, n_drop=0))
    assert sell.sum() == held.sum()


def test_fixed_portfolio_holds_and_limits_block_trades():
    close = np.array([[[10.0, 20.0, 30.0], [11.0, 20.0, 30.0], [12.1, 20.0, 30.0]]])  # (1, 3, 3)
    change = np.array([[[0.0, 0.0, 0.10], [0.1, 0.0, 0.0], [0.1, 0.0, 0.0]]])  # instrument 2 limit-up on day 0
    signal = np.array([[[3.0, 1.0, 2.0]] * 3])
    exchange = ExchangeConfig(min_cost=0, open_cost=0, close_cost=0, risk_degree=1, init_cash=1000)  # ints, as YAML
    result = simulate(close, change, signal, np.zeros((1, 3)), FixedPortfolio(topk=2), exchange)
    # half the cash in instrument 0 (+10%, +10%), the other half stays cash (instrument 2 could not be bought)
    np.testing.assert_allclose(result.value[0], [1000.0, 1050.0, 1105.0])
    np.testing.assert_allclose(result.returns[0], [0.0, 0.05, 55 / 1050])
    assert tradable_mask(close[0, 0], change[0, 0], 0.095).tolist() == [True, True, False]


def test_path_metrics_equal_qlib_risk_analysis():
    from qlib.contrib.evaluate import risk_analysis

    rng = np.random.default_rng(0)
    returns, bench, cost = rng.normal(0.001, 0.01, (3, 40)), rng.normal(0, 0.01, (3, 40)), np.full((3, 40), 1e-4)
    from kronos_quant.universes.simulator import SimulationResult

    result = SimulationResult(returns=returns, cost=cost, bench=bench, turnover=cost, value=cost)
    ours = path_metrics(result)
    for row in range(3):
        qlib = risk_analysis(pd.Series(returns[row] - bench[row] - cost[row]), freq="day", mode="sum")["risk"]
        assert ours.loc[row, "information_ratio"] == pytest.approx(qlib["information_ratio"], rel=1e-9)
        assert ours.loc[row, "max_drawdown"] == pytest.approx(qlib["max_drawdown"], rel=1e-9)
        assert ours.loc[row, "excess_return"] == pytest.approx(qlib["annualized_return"] / 238 * 40, rel=1e-9)


def test_luck_percentile():
    values = np.arange(100.0)
    assert luck_percentile(values, 49.5) == 50.0 and luck_percentile(values, -1) == 0.0
    assert luck_percentile(values, 1000) == 100.0 and np.isnan(luck_percentile(values, np.nan))


def test_bad_strategy_inputs():
    with pytest.raises(ValueError, match="unknown strategy kind"):
        StrategySpec(name="x", signal="reversal_5", kind="pairs")
    with pytest.raises(ValueError, match="unknown signal"):
        StrategySpec(name="x", signal="rsi_14")
    with pytest.raises(TypeError, match="TopkDropout or FixedPortfolio"):
        simulate(np.ones((1, 2, 2)), np.zeros((1, 2, 2)), np.ones((1, 2, 2)), np.zeros((1, 2)), "topk")
    with pytest.raises(ValueError, match="share one"):
        simulate(np.ones((1, 2, 2)), np.zeros((1, 2, 3)), np.ones((1, 2, 2)), np.zeros((1, 2)), TopkDropout())
