"""The numbers behind the backtest/IC report: inputs, portfolio curves, risk tables, metrics.

Conventions
-----------
- A :class:`SignalResult` bundles one signal's ``pred`` and ``label`` Series (indexed
  ``(datetime, instrument)``) and, optionally, Qlib's portfolio report
  (``portfolio_analysis/report_normal_1day.pkl``: a DataFrame indexed by datetime with at
  least the columns ``return, bench, cost, turnover``) and its risk tables
  (``portfolio_analysis/port_analysis_1day.pkl``).
- Excess return without cost = ``return - bench``; with cost = ``return - bench - cost``
  (exactly as Qlib's ``PortAnaRecord``). Returns are daily fractions; cumulative curves are
  cumulative *sums* and drawdown is ``cumsum - running max of cumsum`` (Qlib's convention).
- Risk tables come from ``qlib.contrib.evaluate.risk_analysis`` (imported lazily):
  rows ``mean, std, annualized_return, information_ratio, max_drawdown``.
"""
from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kronos_quant.research.ic_analysis import SignalAnalysis, analyze_signal, as_panel_series, summarize_analysis
from kronos_quant.research.report_headline import finite_or_none

logger = logging.getLogger(__name__)

PORTFOLIO_COLUMNS = ("return", "bench", "cost", "turnover")
RAW_SUFFIX = "_raw"  # the signal before NeutralizeSignalRecord is reported as "<name>_raw"
# Qlib's return labels: Ref($f, -a) / Ref($f, -b) - 1 (or / $f, b = 0) span a - b days
RETURN_LABEL = re.compile(
    r"^\s*Ref\(\s*\$(\w+)\s*,\s*-(\d+)\s*\)\s*/\s*(?:Ref\(\s*\$\1\s*,\s*-(\d+)\s*\)|\$\1)\s*-\s*1\s*$"
)


def raw_signal_name(name: str) -> str:
    """The report name of a signal's raw (not neutralized) version: ``"kronos" -> "kronos_raw"``."""
    return f"{name}{RAW_SUFFIX}"


def label_horizon_of(expression: str | None) -> int | None:
    """Days spanned by a Qlib return label ``Ref($close, -a) / Ref($close, -b) - 1`` (``a - b``).

    ``None`` when the expression is missing or not of that form (the caller then states it as is).
    """
    if not expression:
        return None
    match = RETURN_LABEL.match(expression)
    if match is None:
        return None
    horizon = int(match.group(2)) - int(match.group(3) or 0)
    return horizon if horizon >= 1 else None
EXCESS_KEYS = ("excess_return_without_cost", "excess_return_with_cost")  # Qlib's port_analysis keys


@dataclass(frozen=True)
class SignalResult:
    """One signal's workflow outputs, as read from a Qlib recorder or built in memory."""

    name: str  # e.g. "kronos_raw", "kronos_neutral", "lgbm"
    pred: pd.Series  # (datetime, instrument) scores
    label: pd.Series  # (datetime, instrument) forward returns
    portfolio_report: pd.DataFrame | None = None  # report_normal_1day.pkl
    risk_tables: pd.DataFrame | None = None  # port_analysis_1day.pkl; recomputed when None
    decay_labels: Mapping[int, pd.Series] | None = None  # {horizon: label} for IC decay
    label_expression: str | None = None  # the handler's label, e.g. "Ref($close, -2) / Ref($close, -1) - 1"
    label_horizon: int | None = None  # days the label spans; None: parsed from label_expression, else 1

    def __post_init__(self):
        if not self.name or not isinstance(self.name, str):
            raise ValueError("SignalResult.name must be a non-empty string, e.g. 'kronos_raw'")
        if self.label_horizon is None:
            object.__setattr__(self, "label_horizon", label_horizon_of(self.label_expression) or 1)
        if int(self.label_horizon) < 1:
            raise ValueError(f"{self.name}.label_horizon must be >= 1 day; got {self.label_horizon}")
        object.__setattr__(self, "pred", as_panel_series(self.pred, f"{self.name}.pred"))
        object.__setattr__(self, "label", as_panel_series(self.label, f"{self.name}.label"))
        if self.portfolio_report is not None:
            missing = [c for c in PORTFOLIO_COLUMNS if c not in self.portfolio_report.columns]
            if missing:
                raise ValueError(
                    f"{self.name}.portfolio_report lacks columns {missing}; pass Qlib's "
                    "portfolio_analysis/report_normal_1day.pkl or a DataFrame with return, bench, cost, turnover"
                )


def portfolio_curves(report: pd.DataFrame) -> pd.DataFrame:
    """Daily and cumulative curves from a Qlib portfolio report, indexed by datetime.

    Columns: ``return, bench, cost, turnover, excess_without_cost, excess_with_cost`` (daily)
    and ``cum_return, cum_bench, cum_excess_without_cost, cum_excess_with_cost,
    drawdown_without_cost, drawdown_with_cost`` (cumulative sums).

    The numbers equal Qlib's ``analysis_position.report._calculate_report_data`` (tested), which is
    not called because its module imports plotly (not a dependency) and it turns the index into
    date strings in place.
    """
    curves = report.loc[:, list(PORTFOLIO_COLUMNS)].astype(float).copy()
    curves["excess_without_cost"] = curves["return"] - curves["bench"]
    curves["excess_with_cost"] = curves["excess_without_cost"] - curves["cost"]
    for column in ("return", "bench", "excess_without_cost", "excess_with_cost"):
        curves[f"cum_{column}"] = curves[column].cumsum()
    for suffix in ("without_cost", "with_cost"):
        cumulative = curves[f"cum_excess_{suffix}"]
        curves[f"drawdown_{suffix}"] = cumulative - cumulative.cummax()
    return curves


def risk_tables(report: pd.DataFrame, freq: str = "day") -> pd.DataFrame:
    """Qlib ``risk_analysis`` of excess return without/with cost. DataFrame ``(metrics, 2 keys)``."""
    from qlib.contrib.evaluate import risk_analysis  # lazy: research/ must import without qlib

    curves = portfolio_curves(report)
    return pd.DataFrame(
        {
            "excess_return_without_cost": risk_analysis(curves["excess_without_cost"], freq=freq)["risk"],
            "excess_return_with_cost": risk_analysis(curves["excess_with_cost"], freq=freq)["risk"],
        }
    )


def normalize_risk_tables(table: pd.DataFrame) -> pd.DataFrame:
    """Turn Qlib's ``port_analysis_1day.pkl`` (rows ``(key, metric)``, column ``risk``) into ``(metrics, keys)``."""
    if isinstance(table.index, pd.MultiIndex) and "risk" in table.columns:
        present = table.index.get_level_values(0)
        return table["risk"].unstack(0).reindex(columns=[k for k in EXCESS_KEYS if k in present])
    return table


def monthly_excess(curves: pd.DataFrame, column: str = "excess_with_cost") -> pd.DataFrame:
    """Summed daily excess return per month: DataFrame ``(years, months 1..12)``."""
    daily = curves[column]
    index = pd.DatetimeIndex(daily.index)
    table = daily.groupby([index.year, index.month]).sum().unstack()
    table.index.name, table.columns.name = "year", "month"
    return table.reindex(columns=range(1, 13))


@dataclass(frozen=True)
class ReportEntry:
    """A :class:`SignalResult` with everything computed from it."""

    result: SignalResult
    analysis: SignalAnalysis
    curves: pd.DataFrame | None  # portfolio_curves(...) when a portfolio report was given
    risk: pd.DataFrame | None  # (metrics, [excess_return_without_cost, excess_return_with_cost])
    metrics: dict  # JSON-ready headline numbers


def build_entry(result: SignalResult, *, n_quantiles: int = 5, rolling_window: int = 20) -> ReportEntry:
    """Compute the IC analysis, portfolio curves, risk tables and metrics of one signal."""
    analysis = analyze_signal(
        result.pred,
        result.label,
        n_quantiles=n_quantiles,
        rolling_window=rolling_window,
        decay_labels=result.decay_labels,
        label_horizon=result.label_horizon,
    )
    metrics = summarize_analysis(analysis)
    curves = risk = None
    if result.portfolio_report is not None:
        curves = portfolio_curves(result.portfolio_report)
        risk = (
            normalize_risk_tables(result.risk_tables)
            if result.risk_tables is not None
            else risk_tables(result.portfolio_report)
        )
        for key in risk.columns:
            for metric, value in risk[key].items():
                metrics[f"{key}.{metric}"] = finite_or_none(value)
        metrics["turnover_mean"] = finite_or_none(curves["turnover"].mean())
    return ReportEntry(result=result, analysis=analysis, curves=curves, risk=risk, metrics=metrics)


def summary_table(entries: list[ReportEntry]) -> pd.DataFrame:
    """Headline metrics side by side: DataFrame ``(metrics, signal names)``."""
    return pd.DataFrame({entry.result.name: entry.metrics for entry in entries}).astype(float)


def drop_nan_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows with at least one finite value (for compact tables)."""
    return frame[np.isfinite(frame.astype(float)).any(axis=1)]
