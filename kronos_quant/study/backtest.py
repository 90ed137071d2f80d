"""Top-K backtests of study signals with Qlib (``qlib.backtest.backtest`` + ``TopkDropoutStrategy``).

One Qlib backtest per signal, at the configured round-trip cost (half charged on buying, half on
selling, ``min_cost`` 0). Qlib's report keeps the gross ``return`` and the ``cost`` apart (as
``PortAnaRecord`` does), so excess return without cost is ``return - bench`` and with cost
``return - bench - cost``. With ``min_cost`` 0 the cost is proportional to the traded value, so the
cost-sensitivity line rescales that column: ``excess(c) = return - bench - cost * c / cost_bp`` (the
trades are those of the configured-cost run; cash drag of other costs is ignored, a second-order effect).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def topk_report(signal: pd.Series, *, settings, benchmark: str) -> pd.DataFrame:
    """Qlib's daily portfolio report (return, bench, cost, turnover, ...) of a TopkDropout strategy.

    Args:
        signal: scores indexed (datetime, instrument); the backtest spans its first..last date.
        settings: :class:`~kronos_quant.study.config.BacktestSettings`.
    """
    from qlib.backtest import backtest
    from qlib.contrib.strategy import TopkDropoutStrategy

    dates = signal.index.get_level_values("datetime")
    one_way = float(settings.cost_bp) / 2.0 / 1e4
    strategy = TopkDropoutStrategy(signal=signal.to_frame("score"), topk=int(settings.topk),
                                   n_drop=int(settings.n_drop))
    executor = {"class": "SimulatorExecutor", "module_path": "qlib.backtest.executor",
                "kwargs": {"time_per_step": "day", "generate_portfolio_metrics": True}}
    exchange = {"limit_threshold": float(settings.limit_threshold), "deal_price": settings.deal_price,
                "open_cost": one_way, "close_cost": one_way, "min_cost": 0}
    portfolio, _ = backtest(start_time=dates.min(), end_time=dates.max(), strategy=strategy, executor=executor,
                            benchmark=benchmark, account=float(settings.account), exchange_kwargs=exchange)
    report, _positions = portfolio["1day"]
    return report


def topk_summary(report: pd.DataFrame, *, settings) -> dict:
    """Annualized (Qlib's risk_analysis: mean x 238 for daily data) excess return, information ratio and max drawdown with/without cost, turnover, cost line."""
    from qlib.contrib.evaluate import risk_analysis

    out = {"turnover": float(report["turnover"].mean())}
    gross = report["return"] - report["bench"]
    for suffix, excess in (("without_cost", gross), ("with_cost", gross - report["cost"])):
        risk = risk_analysis(excess, freq="day")["risk"]
        out[f"topk_excess_{suffix}"] = float(risk["annualized_return"])
        out[f"topk_ir_{suffix}"] = float(risk["information_ratio"])
        out[f"topk_mdd_{suffix}"] = float(risk["max_drawdown"])
    for cost in settings.cost_grid_bp:
        excess = gross - report["cost"] * (cost / float(settings.cost_bp))
        out[f"topk_excess_{cost:g}bp"] = float(risk_analysis(excess, freq="day")["risk"]["annualized_return"])
    return out


def cost_line(summaries: dict[str, dict], grid) -> pd.DataFrame:
    """Rows = round-trip cost (bp), columns = signals: annualized Top-K excess return."""
    return pd.DataFrame({name: [s.get(f"topk_excess_{c:g}bp", np.nan) for c in grid] for name, s in summaries.items()},
                        index=pd.Index([float(c) for c in grid], name="round_trip_bp"))
