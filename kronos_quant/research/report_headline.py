"""The report's headline: a compact, formatted table of the few numbers a reader looks at first.

Also the one place that turns metrics into JSON-ready values (NaN/inf -> ``None``), so
``metrics.json``, the HTML tables and other reports (walk-forward study, volatility report) agree.

Conventions
-----------
- ``metrics``: ``{signal name: {metric key: float | None}}`` (the layout of ``metrics.json``), or a
  single ``{metric key: value}`` dict (one unnamed signal). Keys follow
  :func:`kronos_quant.research.ic_analysis.summarize_analysis` and the report's risk keys
  (``excess_return_with_cost.annualized_return`` ...). Returns are fractions (0.0123 = 1.23 %).
- A missing key or a non-finite value renders as an empty cell (``MISSING``), never as ``nan``.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pandas as pd

MISSING = ""  # how a missing or non-finite value renders


def finite_or_none(value):
    """``float(value)`` when finite, else ``None``; non-numbers (str, int counts...) pass unchanged.

    ``bool`` and ``int`` are kept as they are (JSON has them); numpy scalars become ``float``.
    """
    if value is None or isinstance(value, (bool, int, str)):
        return value
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    return number if math.isfinite(number) else None


def json_ready(metrics: Mapping) -> dict:
    """Copy of a (possibly nested) metrics mapping with NaN/inf replaced by ``None`` (valid JSON)."""
    return {
        key: json_ready(value) if isinstance(value, Mapping) else finite_or_none(value)
        for key, value in metrics.items()
    }


def format_percent(value, digits: int = 2) -> str:
    """A fraction as a percentage: ``0.01234 -> "1.23%"``; ``None``/NaN -> ``MISSING``."""
    value = finite_or_none(value)
    return MISSING if value is None else f"{100.0 * value:.{digits}f}%"


def format_number(value, digits: int = 3) -> str:
    """A plain number with ``digits`` decimals: ``0.04567 -> "0.046"``; ``None``/NaN -> ``MISSING``."""
    value = finite_or_none(value)
    return MISSING if value is None else f"{value:.{digits}f}"


@dataclass(frozen=True)
class HeadlineRow:
    """One headline line: the label shown, the metric key read, and how it is formatted."""

    label: str
    key: str
    kind: str = "number"  # "number" | "percent" | "count"
    digits: int | None = None  # decimals; default 3 for numbers, 2 for percentages

    def __post_init__(self):
        if self.kind not in ("number", "percent", "count"):
            raise ValueError(f"HeadlineRow.kind must be 'number', 'percent' or 'count'; got {self.kind!r}")

    def format(self, value) -> str:
        if self.kind == "percent":
            return format_percent(value, 2 if self.digits is None else self.digits)
        if self.kind == "count":
            value = finite_or_none(value)
            return MISSING if value is None else f"{int(round(value)):d}"
        return format_number(value, 3 if self.digits is None else self.digits)


WITH_COST = "excess_return_with_cost"
WITHOUT_COST = "excess_return_without_cost"
HEADLINE_ROWS: tuple[HeadlineRow, ...] = (
    HeadlineRow("IC (mean)", "IC_mean", digits=4),
    HeadlineRow("RankIC (mean)", "RankIC_mean", digits=4),
    HeadlineRow("ICIR", "IC_icir"),
    HeadlineRow("RankICIR", "RankIC_icir"),
    HeadlineRow("HAC t (IC)", "IC_hac_t", digits=2),
    HeadlineRow("HAC t (RankIC)", "RankIC_hac_t", digits=2),
    HeadlineRow("Long-short, mean per date", "long_short_mean", "percent", 3),  # in label units
    HeadlineRow("HAC t (long-short)", "long_short_hac_t", digits=2),
    HeadlineRow("Annualised excess return, no cost", f"{WITHOUT_COST}.annualized_return", "percent"),
    HeadlineRow("Annualised excess return, with cost", f"{WITH_COST}.annualized_return", "percent"),
    HeadlineRow("Information ratio, with cost", f"{WITH_COST}.information_ratio", digits=2),
    HeadlineRow("Max drawdown, with cost", f"{WITH_COST}.max_drawdown", "percent"),
    HeadlineRow("Turnover, daily mean", "turnover_mean", "percent"),
    HeadlineRow("Days", "IC_n_days", "count"),
)


def _by_signal(metrics: Mapping) -> dict[str, Mapping]:
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a dict {{signal: {{metric: value}}}}; got {type(metrics).__name__}")
    if metrics and all(isinstance(value, Mapping) for value in metrics.values()):
        return dict(metrics)
    if any(isinstance(value, Mapping) for value in metrics.values()):
        raise ValueError("metrics mixes per-signal dicts and plain values; pass {signal: {metric: value}}")
    return {"signal": metrics}


def headline_values(metrics: Mapping, rows: Sequence[HeadlineRow] = HEADLINE_ROWS) -> pd.DataFrame:
    """The headline numbers, unformatted: DataFrame ``(row labels, signals)`` of floats (NaN if missing)."""
    table = {}
    for name, values in _by_signal(metrics).items():
        table[name] = [finite_or_none(values.get(row.key)) for row in rows]
    frame = pd.DataFrame(table, index=[row.label for row in rows], dtype=float)
    return frame.rename_axis("metric")


def headline_table(
    metrics: Mapping, rows: Sequence[HeadlineRow] = HEADLINE_ROWS, *, drop_empty: bool = True
) -> pd.DataFrame:
    """The formatted headline: DataFrame of strings ``(row labels, signals)``, percentages as ``"1.23%"``.

    ``rows`` chooses and orders the lines (default :data:`HEADLINE_ROWS`); ``drop_empty`` leaves out
    lines no signal has (e.g. the backtest lines of a run without ``PortAnaRecord``).
    """
    values = headline_values(metrics, rows)
    formatted = pd.DataFrame(
        {name: [row.format(value) for row, value in zip(rows, values[name])] for name in values.columns},
        index=values.index,
    )
    if drop_empty:
        formatted = formatted[values.notna().any(axis=1).to_numpy()]
    return formatted
