"""The vectorised simulator reproduces qlib.backtest.backtest (TopkDropout, costs, lots, limits, suspensions)
on generated universes written as providers. Tolerance: 1e-6 on every daily return / cost / benchmark value
(the providers store float32 prices; the simulator reads the same float32 values)."""
from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from kronos_quant.universes.market import factor_signal, simulation_inputs
from kronos_quant.universes.provider import write_universe_provider
from kronos_quant.universes.simulator import ExchangeConfig, TopkDropout, simulate

TOLERANCE = 1e-6


def _stressed(universes):
    """Add suspensions and limit moves to the generated days, so the test exercises them."""
    paths = universes.paths.copy()
    paths[:, 1, 3:6] = np.nan  # member 1 suspended on generated days 3..5 in every universe
    paths[0, 2, 4:, :4] *= 1.12  # universe 0, member 2: a +12% jump on day 4 (limit up, clipped nowhere)
    paths[1, 3, 2:, :4] *= 0.85  # universe 1, member 3: a -15% gap on day 2 (limit down)
    paths[:, 4, 0:2] = np.nan  # member 4 suspended on the first two days
    return dataclasses.replace(universes, paths=paths)


def _qlib_report(provider, init_qlib, signal: pd.Series, start, end, strategy, exchange):
    from qlib.backtest import backtest
    from qlib.contrib.strategy import TopkDropoutStrategy

    init_qlib(provider)
    executor = {"class": "SimulatorExecutor", "module_path": "qlib.backtest.executor",
                "kwargs": {"time_per_step": "day", "generate_portfolio_metrics": True}}
    portfolio, _ = backtest(
        start_time=start, end_time=end, executor=executor, benchmark="EWINDEX", account=exchange.init_cash,
        strategy=TopkDropoutStrategy(signal=signal, topk=strategy.topk, n_drop=strategy.n_drop,
                                     risk_degree=exchange.risk_degree),
        exchange_kwargs={"freq": "day", "limit_threshold": exchange.limit_threshold, "deal_price": "close",
                         "open_cost": exchange.open_cost, "close_cost": exchange.close_cost,
                         "min_cost": exchange.min_cost, "trade_unit": exchange.trade_unit, "codes": "csi300"})
    return portfolio["1day"][0]


@pytest.mark.parametrize("index", [0, 1])
def test_simulator_matches_qlib_backtest(tiny_universes, init_qlib, tmp_path, index):
    universes = _stressed(tiny_universes)
    provider = write_universe_provider(universes, index, tmp_path / f"u{index}")
    strategy, exchange = TopkDropout(topk=6, n_drop=2), ExchangeConfig(trade_unit=100, init_cash=1e7)
    inputs = simulation_inputs(universes, "reversal_5")
    result = simulate(inputs.close, inputs.change, inputs.signal, inputs.bench, strategy, exchange)

    dates, panel = universes.all_dates(), universes.close_panel()[index].astype(np.float64)
    scores = pd.DataFrame(factor_signal("reversal_5", panel), index=dates, columns=list(universes.instruments))
    signal = scores.stack().rename("score")
    signal.index.names = ["datetime", "instrument"]
    report = _qlib_report(provider, init_qlib, signal, universes.dates[0], universes.dates[-1], strategy, exchange)

    assert len(report) == len(universes.dates)
    assert result.turnover[index].sum() > 0.5  # it really trades
    for column, ours in (("return", result.returns), ("cost", result.cost), ("bench", result.bench)):
        np.testing.assert_allclose(report[column].to_numpy(), ours[index], atol=TOLERANCE, err_msg=column)
    np.testing.assert_allclose(report["account"].to_numpy(), result.value[index], rtol=1e-7)
