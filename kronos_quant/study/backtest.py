"""Top-K backtests of study signals with Qlib (``qlib.backtest.backtest`` + ``TopkDropoutStrategy``).

One Qlib backtest per signal, at the configured round-trip cost (half charged on buying, half on
selling, ``min_cost`` 0). Qlib's report keeps the gross ``return`` and the ``cost`` apart (as
``PortAnaRecord`` does), so excess return without cost is ``return - bench`` and with cost
``return - bench - cost``. With ``min_cost`` 0 the cost is proportional to the traded value, so the
cost-sensitivity line rescales that column: ``excess(c) = return - bench - cost * c / cost_bp`` (the
trades are those of the configured-cost run; cash drag of other costs is ignored, a second-order effect).

Ties: the scores are replaced by their daily rank with a seeded tie-break (:mod:`kronos_quant.research.ties`)
before Qlib sees them, so names tied at the cutoff are not picked by instrument code. Suspensions: a
zero-volume bar (the providers carry a suspended day forward as a flat bar with volume 0) is neither bought
nor sold (:func:`limit_expressions`); a name already held is kept and valued at the carried price.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)


def limit_expressions(threshold: float) -> tuple[str, str]:
    """Qlib ``limit_threshold`` expressions (buy, sell): at the price limit (``$change`` beyond +-threshold, as
    Qlib's float threshold) OR a zero-volume bar. The providers carry a suspended day forward as a flat bar
    with volume 0 and a price, which Qlib's exchange (suspended only when ``$close`` is NaN) would trade at the
    stale price; here such a day is neither bought nor sold."""
    threshold = float(threshold)
    return (f"Or(Ge($change, {threshold!r}), Eq($volume, 0))", f"Or(Le($change, {-threshold!r}), Eq($volume, 0))")


def topk_backtest(signal: pd.Series, *, settings, benchmark: str, seed: int = 0) -> tuple[pd.DataFrame, dict]:
    """(Qlib's daily report, positions ``{datetime: Position}``) of a TopkDropout strategy on ``signal``.

    The scores go through :func:`kronos_quant.research.ties.break_ties` first (same seed for every
    signal), so names tied at the Top-K cutoff are chosen by a seeded key, not by instrument order.
    Zero-volume bars are untradable (:func:`limit_expressions`).
    """
    from qlib.backtest import backtest
    from qlib.contrib.strategy import TopkDropoutStrategy

    from kronos_quant.research.ties import break_ties

    dates = signal.index.get_level_values("datetime")
    one_way = float(settings.cost_bp) / 2.0 / 1e4
    scores = break_ties(signal, seed=seed).dropna()
    strategy = TopkDropoutStrategy(signal=scores.to_frame("score"), topk=int(settings.topk),
                                   n_drop=int(settings.n_drop))
    executor = {"class": "SimulatorExecutor", "module_path": "qlib.backtest.executor",
                "kwargs": {"time_per_step": "day", "generate_portfolio_metrics": True}}
    exchange = {"limit_threshold": limit_expressions(settings.limit_threshold), "deal_price": settings.deal_price,
                "open_cost": one_way, "close_cost": one_way, "min_cost": 0}
    portfolio, _ = backtest(start_time=dates.min(), end_time=dates.max(), strategy=strategy, executor=executor,
                            benchmark=benchmark, account=float(settings.account), exchange_kwargs=exchange)
    report, positions = portfolio["1day"]
    return report, positions


def topk_report(signal: pd.Series, *, settings, benchmark: str, seed: int = 0) -> pd.DataFrame:
    """Qlib's daily portfolio report (return, bench, cost, turnover, ...) of :func:`topk_backtest`.

    Args:
        signal: scores indexed (datetime, instrument); the backtest spans its first..last date.
        settings: :class:`~kronos_quant.study.config.BacktestSettings`.
        seed: the tie-break seed (the study's ``random_seed``).
    """
    return topk_backtest(signal, settings=settings, benchmark=benchmark, seed=seed)[0]


def topk_summary(report: pd.DataFrame, *, settings) -> dict:
    """Annualized (Qlib's risk_analysis: mean x 238 for daily data) excess return, information ratio and max
    drawdown with/without cost, turnover, cost line."""
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
    return pd.DataFrame(
        {name: [s.get(f"topk_excess_{c:g}bp", np.nan) for c in grid] for name, s in summaries.items()},
        index=pd.Index([float(c) for c in grid], name="round_trip_bp"),
    )
