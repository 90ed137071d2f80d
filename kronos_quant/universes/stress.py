"""The stress test: one strategy in every generated universe, and where the realised history falls.

Per universe, over the H generated days (daily excess = return - benchmark - cost, as Qlib's report):
- ``excess_return``: the sum of daily excess returns (Qlib's ``risk_analysis`` accumulates by sum);
- ``information_ratio``: mean / std * sqrt(238) of the daily excess (Qlib's day scaler);
- ``max_drawdown``: the lowest point of the cumulative excess below its running peak;
- ``absolute_return``: the sum of daily returns net of cost.
These are the formulas of ``qlib.contrib.evaluate.risk_analysis(mode="sum")``, vectorised over universes
(written here because calling it once per universe and metric is needlessly slow; a test checks equality).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from kronos_quant.universes.generate import Universes
from kronos_quant.universes.history import MarketHistory
from kronos_quant.universes.market import check_signal, inputs_from_panel
from kronos_quant.universes.qlib_signals import expression_of, is_expression, provider_scores, universe_scores
from kronos_quant.universes.simulator import ExchangeConfig, FixedPortfolio, SimulationResult, TopkDropout, simulate
from kronos_quant.universes.stress_checks import check_expression

logger = logging.getLogger(__name__)

TRADING_DAYS = 238  # Qlib risk_analysis day scaler (qlib.contrib.evaluate, freq="day")
QUANTILES = (0.05, 0.25, 0.5, 0.75, 0.95)
METRICS = ("excess_return", "information_ratio", "max_drawdown", "absolute_return")
STRATEGIES = {"topk_dropout": TopkDropout, "fixed": FixedPortfolio}


@dataclass(frozen=True)
class StrategySpec:
    """A named strategy: a signal (naive factor name) driving TopkDropout or a portfolio fixed at t0."""

    name: str
    signal: str  # reversal_<k> | momentum_<k> | "qlib:<any Qlib expression>" (computed by Qlib, slower)
    kind: str = "topk_dropout"  # topk_dropout | fixed
    topk: int = 50
    n_drop: int = 5

    def __post_init__(self) -> None:
        if self.kind not in STRATEGIES:
            raise ValueError(f"unknown strategy kind {self.kind!r}; choose one of {sorted(STRATEGIES)}")
        if is_expression(self.signal):
            check_expression(self.signal)
        else:
            check_signal(self.signal)
        for name, minimum in (("topk", 1), ("n_drop", 0)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f"strategy {self.name!r}: {name} must be a whole number >= {minimum}, got {value!r}")
        if self.n_drop > self.topk:
            raise ValueError(f"strategy {self.name!r}: n_drop {self.n_drop} > topk {self.topk}; lower n_drop")

    def build(self) -> TopkDropout | FixedPortfolio:
        if self.kind == "fixed":
            return FixedPortfolio(topk=self.topk)
        return TopkDropout(topk=self.topk, n_drop=self.n_drop)


def path_metrics(result: SimulationResult) -> pd.DataFrame:
    """One row per universe: the METRICS of its daily account figures (U, H)."""
    excess = result.excess_with_cost
    cumulative = np.cumsum(excess, axis=1)
    drawdown = cumulative - np.maximum.accumulate(cumulative, axis=1)
    std = excess.std(axis=1, ddof=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        ir = np.where(std > 0, excess.mean(axis=1) / std * np.sqrt(TRADING_DAYS), np.nan)
    return pd.DataFrame({"excess_return": excess.sum(axis=1), "information_ratio": ir,
                         "max_drawdown": drawdown.min(axis=1),
                         "absolute_return": (result.returns - result.cost).sum(axis=1)})


@dataclass(frozen=True)
class StressResult:
    """A strategy's figures across universes, and the realised history's when known."""

    strategy: StrategySpec
    metrics: pd.DataFrame  # (U, METRICS)
    cumulative_excess: np.ndarray  # (U, H) cumulative daily excess with cost
    dates: pd.DatetimeIndex  # H days
    realised: dict | None = None  # METRICS of the real future, plus its cumulative excess path
    extra: dict = field(default_factory=dict)

    def summary(self) -> dict:
        """P(loss), mean, quantiles of every metric, and the realised value's percentile among universes."""
        out = {"universes": len(self.metrics),
               "p_excess_loss": float((self.metrics["excess_return"] < 0).mean()),
               "p_absolute_loss": float((self.metrics["absolute_return"] < 0).mean())}
        for metric in METRICS:
            values = self.metrics[metric].dropna().to_numpy()
            out[f"{metric}_mean"] = float(values.mean()) if values.size else float("nan")
            for q in QUANTILES:
                out[f"{metric}_q{int(q * 100):02d}"] = float(np.quantile(values, q)) if values.size else float("nan")
            if self.realised is not None:
                real = self.realised[metric]
                out[f"{metric}_realised"] = float(real)
                out[f"{metric}_realised_percentile"] = luck_percentile(values, real)
        return out


def luck_percentile(values: np.ndarray, realised: float) -> float:
    """Share of universes (in %) whose value is below the realised one (ties count half)."""
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(realised) or values.size == 0:
        return float("nan")
    return float(100.0 * ((values < realised).mean() + 0.5 * (values == realised).mean()))


def stress_strategy(universes: Universes, spec: StrategySpec, *, exchange: ExchangeConfig = ExchangeConfig(),
                    realised_history: MarketHistory | None = None) -> StressResult:
    """Run ``spec`` in every universe; with ``realised_history`` (the same members' real bars through the last
    generated day), run it on the real future too."""
    panel = universes.close_panel().astype(np.float64)
    scores = universe_scores(universes, expression_of(spec.signal)) if is_expression(spec.signal) else None
    inputs = inputs_from_panel(panel, len(universes.history.dates), spec.signal, scores)
    result = simulate(inputs.close, inputs.change, inputs.signal, inputs.bench, spec.build(), exchange)
    realised = None
    if realised_history is not None:
        realised = realised_figures(universes, realised_history, spec, exchange)
    return StressResult(strategy=spec, metrics=path_metrics(result),
                        cumulative_excess=np.cumsum(result.excess_with_cost, axis=1), dates=universes.dates,
                        realised=realised, extra={"mean_turnover": float(result.turnover.mean())})


def realised_figures(universes: Universes, realised_history: MarketHistory, spec: StrategySpec,
                     exchange: ExchangeConfig) -> dict:
    """The strategy on the real bars of the generated days (same members, same benchmark definition)."""
    if not realised_history.dates[-len(universes.dates):].equals(universes.dates):
        raise ValueError("realised_history must end with the generated days; load it with t0 = the last "
                         "generated day")
    columns = [realised_history.instruments.index(name) for name in universes.instruments]
    panel = realised_history.close[:, columns].astype(np.float64)[None]  # (1, D, I)
    start = panel.shape[1] - len(universes.dates)
    scores = None
    if is_expression(spec.signal):
        if realised_history.provider is None:
            raise ValueError("a Qlib-expression signal needs realised_history loaded from a provider (load_history)")
        scores = provider_scores(realised_history.provider, expression_of(spec.signal),
                                 universes.instruments, realised_history.dates)[None]
    inputs = inputs_from_panel(panel, start, spec.signal, scores)
    result = simulate(inputs.close, inputs.change, inputs.signal, inputs.bench, spec.build(), exchange)
    figures = path_metrics(result).iloc[0].to_dict()
    figures["cumulative_excess"] = np.cumsum(result.excess_with_cost[0])
    return figures
