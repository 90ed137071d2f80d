"""Side-by-side statistics of the study's signals on exactly the same (datetime, instrument) rows.

Conventions: signals and the label are Series indexed (datetime, instrument); the label is the return
close[t+2]/close[t+1]-1 (fractions). IC = daily Pearson, RankIC = daily Spearman (Qlib's ``calc_ic``
via :func:`kronos_quant.research.ic_analysis.ic_series`); t-statistics are Newey-West (HAC) from
:func:`kronos_quant.research.hac.hac_mean`; hit rate = share of days with RankIC > 0.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from kronos_quant.research.hac import hac_mean

logger = logging.getLogger(__name__)

ANN_DAYS = 238  # trading days per year, as Qlib's risk_analysis scales daily data
RESIDUAL_TOL = 1e-9  # a residual below this fraction of the target's norm is zero (no incremental information)


def align_signals(signals: Mapping[str, pd.Series], label: pd.Series) -> pd.DataFrame:
    """Columns ``[*signals, "label"]`` on the rows where EVERY signal and the label are finite.

    Raises a ValueError when the intersection is empty (say which signal has no overlap).
    """
    if not signals:
        raise ValueError("align_signals needs at least one signal")
    columns = {name: pd.Series(series, dtype=float) for name, series in signals.items()}
    columns["label"] = pd.Series(label, dtype=float)
    frame = pd.concat(columns, axis=1, join="inner")
    frame = frame[np.isfinite(frame.to_numpy()).all(axis=1)].sort_index()
    if frame.empty:
        counts = {name: int(np.isfinite(series).sum()) for name, series in columns.items()}
        raise ValueError(f"no (datetime, instrument) row has every signal and the label; finite rows per signal: "
                         f"{counts}")
    frame.index = frame.index.set_names(["datetime", "instrument"])
    logger.info("aligned %d signals on %d rows over %d days", len(signals), len(frame),
                frame.index.get_level_values(0).nunique())
    return frame


def daily_ics(frame: pd.DataFrame, names: Sequence[str]) -> dict[str, pd.DataFrame]:
    """``{name: DataFrame(datetime x [IC, RankIC])}`` against ``frame["label"]``."""
    from kronos_quant.research.ic_analysis import ic_series

    return {name: ic_series(frame[name], frame["label"]) for name in names}


def summary_table(ics: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """Rows = signals; IC, RankIC, ICIR, RankICIR, HAC t of both, hit rate, days."""
    rows = {}
    for name, ic in ics.items():
        row = {}
        for column in ("IC", "RankIC"):
            values = ic[column].dropna()
            hac = hac_mean(values.to_numpy(), label_horizon=1)
            row[column] = hac.mean
            row[f"{column}IR"] = values.mean() / values.std(ddof=1) if len(values) > 1 else np.nan
            row[f"{column}_t_HAC"] = hac.t_stat
        row["hit_rate"] = float((ic["RankIC"].dropna() > 0).mean())
        row["days"] = int(ic["RankIC"].notna().sum())
        rows[name] = row
    return pd.DataFrame(rows).T


def constant_days(frame: pd.DataFrame, names: Sequence[str]) -> pd.Series:
    """Per signal, the share of days on which it is constant across instruments (a degenerate signal:
    no IC, and a Top-K backtest that only follows the sort order of the instrument codes)."""
    spread = frame[list(names)].groupby(level="datetime").agg(lambda values: values.max() - values.min())
    share = (spread == 0).mean()
    for name, value in share.items():
        if value > 0.5:
            logger.warning("signal %s is constant across instruments on %.0f%% of days: its IC is undefined and "
                           "its Top-K backtest is meaningless there", name, 100 * value)
    return share.rename("constant_days")


def period_label(dates: pd.DatetimeIndex, freq: str) -> pd.Index:
    """``"2021"`` (freq ``year``) or ``"2021H1"`` (freq ``half``) per date."""
    if freq == "year":
        return pd.Index(dates.year.astype(str))
    if freq == "half":
        return pd.Index([f"{d.year}H{1 if d.month <= 6 else 2}" for d in dates])
    raise ValueError(f"freq must be 'year' or 'half', got {freq!r}")


def by_period(ics: Mapping[str, pd.DataFrame], *, freq: str = "year", column: str = "RankIC") -> pd.DataFrame:
    """Mean daily ``column`` per period: rows = periods, columns = signals."""
    table = {}
    for name, ic in ics.items():
        series = ic[column]
        table[name] = series.groupby(period_label(pd.DatetimeIndex(series.index), freq)).mean()
    return pd.DataFrame(table)


def residualize(frame: pd.DataFrame, target: str, controls: Sequence[str]) -> pd.Series:
    """Date-by-date OLS residual of ``target`` on ``[1, controls]`` (N,), indexed like ``frame``.

    Hand-written with ``numpy.linalg.lstsq`` rather than statsmodels: only the residual is needed (no
    inference), once per date. Residuals smaller than ``RESIDUAL_TOL`` x the target's norm are set to
    0: the target is then an exact linear combination of the controls and adds nothing.
    """
    missing = [c for c in (target, *controls) if c not in frame]
    if missing:
        raise ValueError(f"residualize: columns {missing} not in the frame ({list(frame.columns)})")
    parts = []
    for _, day in frame.groupby(level="datetime", sort=True):
        y = day[target].to_numpy(dtype=float)
        x = np.column_stack([np.ones(len(day)), day[list(controls)].to_numpy(dtype=float)])
        coef, *_ = np.linalg.lstsq(x, y, rcond=None)
        resid = y - x @ coef
        scale = np.linalg.norm(y - y.mean())
        if np.linalg.norm(resid) <= RESIDUAL_TOL * max(scale, 1e-300):
            resid = np.zeros_like(resid)
        parts.append(pd.Series(resid, index=day.index))
    return pd.concat(parts).rename(f"{target}_resid")


def incremental_ic(frame: pd.DataFrame, target: str, controls: Sequence[str]) -> pd.DataFrame:
    """Daily IC/RankIC of the residual of ``target`` on ``controls`` against the label.

    A day whose residual is identically 0 has IC 0 (no incremental information), not NaN.
    """
    resid = residualize(frame, target, controls)
    rows = {}
    for date, day in resid.groupby(level="datetime", sort=True):
        label = frame.loc[day.index, "label"]
        if not np.any(day.to_numpy()):
            rows[date] = (0.0, 0.0)
            continue
        rows[date] = (day.corr(label), day.rank().corr(label.rank()))
    out = pd.DataFrame.from_dict(rows, orient="index", columns=["IC", "RankIC"])
    out.index = pd.DatetimeIndex(out.index, name="datetime")
    return out


def long_short(frame: pd.DataFrame, names: Sequence[str], *, quantile: float = 0.2, seed: int = 0) -> pd.DataFrame:
    """Rows = signals: annualized mean, HAC t and Sharpe of the daily top-minus-bottom quantile spread of the
    label, before cost: mean label of the top ``quantile`` of names minus that of the bottom ``quantile``.

    Qlib's ``calc_long_short_return`` returns half that spread ((long - short) / 2), so it is doubled here.
    Ties are broken as in the backtest (:func:`kronos_quant.research.ties.break_ties`, ``seed``).
    """
    from qlib.contrib.eva.alpha import calc_long_short_return

    from kronos_quant.research.ties import break_ties

    rows = {}
    for name in names:
        half_spread, _ = calc_long_short_return(break_ties(frame[name], seed=seed), frame["label"].sort_index(),
                                                quantile=quantile, dropna=True)
        spread = 2.0 * half_spread
        hac = hac_mean(spread.to_numpy(), label_horizon=1)
        rows[name] = {"long_short_ann": hac.mean * ANN_DAYS, "long_short_t_HAC": hac.t_stat,
                      "long_short_sharpe": hac.mean / spread.std(ddof=1) * np.sqrt(ANN_DAYS)}
    return pd.DataFrame(rows).T


def rank_incremental_ic(frame: pd.DataFrame, target: str, controls: Sequence[str]) -> pd.DataFrame:
    """:func:`incremental_ic` on daily ranks: the target's and controls' cross-sectional percentile ranks
    (ties averaged) replace their raw values before the regression, so ties and outliers (a shallow tree's
    repeated values, an abnormal-volume spike) carry no extra weight. The label stays raw."""
    ranked = frame.copy()
    columns = [target, *controls]
    ranked[columns] = frame[columns].groupby(level="datetime").rank(pct=True)
    return incremental_ic(ranked, target, controls)
