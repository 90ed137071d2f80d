"""Finance-aware checks of OHLCV bars, in one place for every entry point.

The predictor's input preparation, ``import-csv``, ``data check`` and the Qlib handler all run the
same rules. Each rule has one severity: ``"error"`` (the data would give wrong numbers; callers
raise :class:`BarValidationError`) or ``"warning"`` (suspicious but usable; callers log it or report
it). Every issue names the column, the first offending row or date, and the fix.

Rules (name: severity):

- ``duplicate_columns``: error. Two columns share one name, so a field is ambiguous.
- ``non_numeric``: error. A field column holds text or objects.
- ``missing_values``: error where gaps are not allowed (the predictor), else not checked.
- ``non_positive_price``: error. open/high/low/close <= 0 (prices are raw or adjusted, never 0).
- ``high_below_low``: error. high < low on one bar.
- ``ohlc_inconsistent``: warning. open or close outside [low, high] (usually vendor rounding).
- ``negative_volume`` / ``negative_amount``: error.
- ``amount_without_volume``: warning. Kronos (like the official predictor) sets volume and amount
  to 0 when volume is absent, so a user's amount is ignored.
- ``too_few_bars``: error. Fewer than :data:`MIN_LOOKBACK` bars cannot be normalised.
- ``constant_prices``: warning. The close never moves over the lookback: the normalised input is
  all zeros and the forecast is the model's prior, not a reading of this series.

Comparisons allow a relative tolerance of :data:`RELATIVE_TOLERANCE` (float32 storage rounds).
"""
from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

PRICE_COLUMNS = ("open", "high", "low", "close")
MIN_LOOKBACK = 2  # bars: one bar has zero std, so every normalised value is 0
RELATIVE_TOLERANCE = 1e-6  # float32 rounding of stored prices
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class BarIssue:
    """One broken rule: which rule, how severe, where, and how to fix it."""

    rule: str
    severity: str  # "error" or "warning"
    column: str
    count: int  # offending bars (or 1 for whole-frame rules)
    where: str  # the first offending row/date (and instrument), or "" for whole-frame rules
    problem: str
    fix: str

    def message(self) -> str:
        at = f", first at {self.where}" if self.where else ""
        plural = f"{self.count} bars " if self.count > 1 else ""
        return f"column {self.column!r}: {plural}{self.problem}{at}; fix: {self.fix}"


class BarValidationError(ValueError):
    """Bars that break an error rule; ``issues`` holds every BarIssue found."""

    def __init__(self, message: str, issues: Sequence[BarIssue]):
        super().__init__(message)
        self.issues = tuple(issues)


Locator = Callable[[np.ndarray], str]  # boolean mask -> description of its first True position


def _issue(rule: str, severity: str, column: str, mask: np.ndarray, locate: Locator, problem: str,
           fix: str) -> list[BarIssue]:
    count = int(np.count_nonzero(mask))
    return [BarIssue(rule, severity, column, count, locate(mask), problem, fix)] if count else []


def check_bar_arrays(columns: Mapping[str, np.ndarray], *, locate: Locator, allow_missing: bool) -> list[BarIssue]:
    """Value rules on float arrays of one shape (a column (T,) or a panel (T, N)) per field.

    Args:
        columns: field name -> float array; any of open, high, low, close, volume, amount.
        locate: maps a boolean mask of that shape to e.g. "row 3 (2024-01-05)".
        allow_missing: NaN means "no bar" (suspended day) and is skipped; False makes it an error.
    """
    issues: list[BarIssue] = []
    with np.errstate(invalid="ignore"):
        for name, values in columns.items():
            if not allow_missing:
                issues += _issue("missing_values", "error", name, ~np.isfinite(values), locate,
                                 "NaN/inf values (Kronos cannot take gaps)",
                                 "drop or fill those bars (e.g. suspended days) first")
            if name in PRICE_COLUMNS:
                issues += _issue("non_positive_price", "error", name, values <= 0, locate, "zero or negative prices",
                                 "prices must be raw or adjusted prices > 0; drop those bars or fix the export")
            elif name in ("volume", "amount"):
                issues += _issue(f"negative_{name}", "error", name, values < 0, locate, f"negative {name}",
                                 f"{name} is a traded quantity >= 0; fix the export")
        if {"high", "low"} <= set(columns):
            high, low = columns["high"], columns["low"]
            issues += _issue("high_below_low", "error", "high", high < low * (1 - RELATIVE_TOLERANCE), locate,
                             "high below low", "swap or fix high/low of those bars (column order in the export?)")
        if set(PRICE_COLUMNS) <= set(columns):
            high, low = columns["high"], columns["low"]
            body_high = np.maximum(columns["open"], columns["close"])
            body_low = np.minimum(columns["open"], columns["close"])
            outside = (high < body_high * (1 - RELATIVE_TOLERANCE)) | (low > body_low * (1 + RELATIVE_TOLERANCE))
            issues += _issue("ohlc_inconsistent", "warning", "open/close", outside & (high >= low), locate,
                             "open or close outside [low, high]", "usually vendor errors; clip high/low or drop "
                             "those bars")
    return issues


def _frame_locator(index: pd.Index) -> Locator:
    def locate(mask: np.ndarray) -> str:
        row = int(np.flatnonzero(mask)[0])
        label = index[row]
        return f"row {row}" + ("" if label == row else f" ({label})")
    return locate


def _frame_rules(frame: pd.DataFrame, min_bars: int) -> list[BarIssue]:
    issues: list[BarIssue] = []
    duplicated = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
    for name in duplicated:
        issues.append(BarIssue("duplicate_columns", "error", name, 1, "", "appears more than once",
                               "rename or drop the duplicates (df.loc[:, ~df.columns.duplicated()])"))
    if "amount" in frame.columns and "volume" not in frame.columns:
        issues.append(BarIssue("amount_without_volume", "warning", "amount", 1, "",
                               "is ignored because there is no 'volume' column: Kronos sets volume and amount "
                               "to 0 without volume", "pass volume too, or drop amount"))
    if len(frame) < min_bars:
        issues.append(BarIssue("too_few_bars", "error", "*", 1, "", f"only {len(frame)} bars",
                               f"pass at least {min_bars} bars of history (more is better: Kronos was trained "
                               "on hundreds)"))
    return issues


def check_bar_frame(frame: pd.DataFrame, *, allow_missing: bool = False, min_bars: int = 1) -> list[BarIssue]:
    """Every rule on one series' bars (rows = bars, columns = fields; extra columns are ignored).

    Returns the issues; values of a column that is not numeric (or is duplicated) are not checked.
    """
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"bars must be a pandas DataFrame, got {type(frame).__name__}")
    issues = _frame_rules(frame, min_bars)
    duplicated = set(frame.columns[frame.columns.duplicated()])
    arrays = {}
    for name in PRICE_COLUMNS + ("volume", "amount"):
        if name not in frame.columns or name in duplicated:
            continue
        column = frame[name]
        numbers = pd.to_numeric(column, errors="coerce") if column.dtype == object else column
        lost = numbers.isna() & column.notna()  # text that is not a number (object columns of floats are fine)
        if lost.any() or not pd.api.types.is_numeric_dtype(numbers.dtype) or pd.api.types.is_bool_dtype(numbers.dtype):
            shown = f" (e.g. {column[lost].iloc[0]!r})" if lost.any() else ""
            issues.append(BarIssue("non_numeric", "error", name, 1, "", f"is not numeric ({column.dtype}){shown}",
                                   f"convert it, e.g. pd.to_numeric(df[{name!r}])"))
            continue
        arrays[name] = numbers.to_numpy(dtype=np.float64)
    issues += check_bar_arrays(arrays, locate=_frame_locator(frame.index), allow_missing=allow_missing)
    if len(frame) >= min_bars and "close" in arrays and not issues_with_severity(issues, "error"):
        close = arrays["close"][np.isfinite(arrays["close"])]
        if close.size > 1 and np.ptp(close) == 0:
            issues.append(BarIssue("constant_prices", "warning", "close", close.size, "",
                                   "never moves over the lookback, so the normalised input is all zeros",
                                   "check for a suspended or stale series; its forecast is the model's prior"))
    return issues


def check_bar_panels(panels: Mapping[str, pd.DataFrame]) -> list[BarIssue]:
    """Value rules on wide panels (dates x instruments), one per field; NaN = no bar (allowed)."""
    first = next(iter(panels.values()))
    dates, instruments = first.index, first.columns

    def locate(mask: np.ndarray) -> str:
        row, column = np.argwhere(mask)[0]
        date = dates[row]
        text = date.strftime("%Y-%m-%d") if isinstance(date, pd.Timestamp) else str(date)
        return f"{text}, {instruments[column]}"

    arrays = {name: panel.to_numpy(dtype=np.float64) for name, panel in panels.items()}
    return check_bar_arrays(arrays, locate=locate, allow_missing=True)


def issues_with_severity(issues: Sequence[BarIssue], severity: str) -> list[BarIssue]:
    return [issue for issue in issues if issue.severity == severity]


def raise_for_issues(issues: Sequence[BarIssue], *, source: str) -> None:
    """Log warnings; raise :class:`BarValidationError` naming ``source`` when any rule is an error."""
    for issue in issues_with_severity(issues, "warning"):
        logger.warning("%s: %s", source, issue.message())
    errors = issues_with_severity(issues, "error")
    if errors:
        lines = "\n  ".join(issue.message() for issue in errors)
        raise BarValidationError(f"{source} has invalid bars:\n  {lines}", errors)
