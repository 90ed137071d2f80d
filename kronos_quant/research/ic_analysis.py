"""Information-coefficient analysis of a cross-sectional signal.

Conventions
-----------
- ``signal`` and ``label`` are ``pd.Series`` indexed ``(datetime, instrument)`` (Qlib's
  ``pred.pkl`` / ``label.pkl`` layout; a one-column DataFrame is accepted and squeezed).
- The label at ``t`` is Qlib's forward return ``close[t+h+1] / close[t+1] - 1`` (h = 1 is
  ``Ref($close, -2) / Ref($close, -1) - 1``): the signal known at the close of ``t`` is traded at
  ``t+1``. Returns are fractions (0.01 = 1 %).
- IC is computed per date across instruments: IC = Pearson, RankIC = Spearman, via Qlib's
  ``qlib.contrib.eva.alpha.calc_ic`` (imported lazily). Summary statistics are taken over dates:
  ``std`` uses ``ddof=1``, ``ICIR = mean / std`` and the naive ``t = mean / std * sqrt(n_days)``.
  With an h-day label consecutive ICs share h - 1 days of returns, so the naive t overstates;
  ``hac_t`` is the Newey–West t-statistic (:mod:`kronos_quant.research.hac`, lags >= h), the one to
  read. Long–short means get the same HAC t.
- Quantile ``1`` holds the lowest signal values, quantile ``n`` the highest; tied scores share a
  bucket. Cumulative returns are *summed* daily returns (as in Qlib's report graphs), not
  compounded; with h > 1 they sum overlapping h-day labels.

Qlib has plotting helpers for quantile group returns, long–short and top/bottom turnover
(``qlib.contrib.report.analysis_model``); they return plotly figures only, need plotly, and split
tied scores by sort order. This module keeps its own (documented per function, compared with
Qlib's in the tests) and uses Qlib's numeric ``calc_ic`` and ``pred_autocorr``.
"""
from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd

from kronos_quant.research.hac import hac_mean
from kronos_quant.research.panel_checks import check_common_rows, degenerate_reason, warn_if_degenerate
from kronos_quant.research.report_headline import json_ready

logger = logging.getLogger(__name__)

DECAY_HORIZONS = tuple(range(1, 21))  # label horizons (days) for IC decay


def as_panel_series(data, name: str) -> pd.Series:
    """Validate a ``(datetime, instrument)`` Series (or one-column DataFrame) and return it as float."""
    if isinstance(data, pd.DataFrame):
        if data.shape[1] != 1:
            raise ValueError(f"{name} must be a Series or a one-column DataFrame; got columns {list(data.columns)}")
        data = data.iloc[:, 0]
    if not isinstance(data, pd.Series):
        raise TypeError(f"{name} must be a pd.Series indexed (datetime, instrument); got {type(data).__name__}")
    check_panel_index(data.index, name)
    return data.astype(float)


def check_panel_index(index: pd.Index, name: str) -> None:
    """Raise a ValueError that says how to fix it unless ``index`` is a (datetime, instrument) MultiIndex."""
    if not isinstance(index, pd.MultiIndex) or index.nlevels != 2:
        raise ValueError(f"{name} must have a 2-level MultiIndex (datetime, instrument); got {index.names}")
    if list(index.names) != ["datetime", "instrument"]:
        if list(index.names) == ["instrument", "datetime"]:
            raise ValueError(f"{name} is indexed (instrument, datetime); pass {name}.swaplevel().sort_index()")
        raise ValueError(
            f"{name} index levels must be named ('datetime', 'instrument'); got {index.names}. "
            "Use .rename_axis(['datetime', 'instrument'])"
        )


@dataclass(frozen=True)
class ICStats:
    """Summary over dates of a daily IC series (unitless correlations)."""

    mean: float
    std: float  # ddof=1 over dates
    icir: float  # mean / std
    t_stat: float  # naive mean / std * sqrt(n_days); overstated when labels overlap
    hit_rate: float  # fraction of dates with IC > 0
    n_days: int  # dates with a finite IC
    hac_t: float = float("nan")  # Newey-West t of the mean (lags >= label horizon)
    hac_lags: int = 0  # Bartlett lags behind hac_t


def ic_series(signal, label) -> pd.DataFrame:
    """Daily IC and RankIC. Returns a DataFrame ``(dates, [IC, RankIC])`` indexed by datetime."""
    from qlib.contrib.eva.alpha import calc_ic  # lazy: research/ must import without qlib

    signal = as_panel_series(signal, "signal")
    label = as_panel_series(label, "label")
    check_common_rows(signal, label)  # few shared (datetime, instrument) rows: an error showing both indexes
    warn_if_degenerate(signal)  # all NaN / constant / one instrument per date: the ICs are NaN, say why
    ic, rank_ic = calc_ic(signal, label, date_col="datetime", dropna=False)
    return pd.DataFrame({"IC": ic, "RankIC": rank_ic}).astype(float)


def ic_stats(ic: pd.Series, *, label_horizon: int = 1) -> ICStats:
    """Mean, std, ICIR, naive and HAC t-stats and hit rate of a daily IC series (NaN days ignored).

    ``label_horizon``: days the label spans; the HAC lags are at least this.
    """
    values = pd.Series(ic, dtype=float).dropna()
    hac = hac_mean(values.to_numpy(), label_horizon=label_horizon)
    n_days = int(values.size)
    mean = float(values.mean()) if n_days else float("nan")
    std = float(values.std(ddof=1)) if n_days > 1 else float("nan")
    icir = mean / std if std and np.isfinite(std) and std > 0 else float("nan")
    return ICStats(
        mean=mean,
        std=std,
        icir=icir,
        t_stat=icir * np.sqrt(n_days),
        hit_rate=float((values > 0).mean()) if n_days else float("nan"),
        n_days=n_days,
        hac_t=hac.t_stat,
        hac_lags=hac.lags,
    )


def rolling_ic(ic_frame: pd.DataFrame, window: int = 20) -> pd.DataFrame:
    """Rolling mean of each IC column over ``window`` dates, over the finite ICs among them.

    A value needs finite ICs on more than half of its window, so one NaN date (a constant
    cross-section, say) does not blank the next ``window`` values.
    """
    if window < 1:
        raise ValueError(f"window must be >= 1 date; got {window}")
    return ic_frame.rolling(window, min_periods=window // 2 + 1).mean()


def forward_returns(close: pd.DataFrame, horizons=DECAY_HORIZONS) -> dict[int, pd.Series]:
    """Qlib-convention labels ``close[t+h+1] / close[t+1] - 1`` from a close panel.

    ``close``: DataFrame ``(dates, instruments)``. Returns ``{h: Series (datetime, instrument)}``;
    the last ``h + 1`` dates of each label are NaN (and dropped).
    """
    if not isinstance(close, pd.DataFrame):
        raise TypeError("close must be a wide DataFrame (index datetime, columns instrument)")
    labels = {}
    entry = close.shift(-1)
    for horizon in horizons:
        if horizon < 1:
            raise ValueError(f"horizons must be >= 1; got {horizon}")
        wide = close.shift(-(horizon + 1)) / entry - 1.0
        stacked = wide.stack(future_stack=True).dropna()
        labels[int(horizon)] = stacked.rename_axis(["datetime", "instrument"]).rename(f"label_{horizon}")
    return labels


def ic_decay(signal, labels: Mapping[int, pd.Series]) -> pd.DataFrame:
    """Mean IC and RankIC of ``signal`` against each horizon's label. DataFrame ``(horizons, [IC, RankIC])``."""
    if not labels:
        raise ValueError("labels must map at least one horizon to a label Series; see forward_returns()")
    rows = {}
    for horizon, label in sorted(labels.items()):
        frame = ic_series(signal, label)
        rows[horizon] = frame.mean()
    return pd.DataFrame(rows).T.rename_axis("horizon")


def quantile_groups(signal, n_quantiles: int = 5) -> pd.Series:
    """Per-date quantile (1 = lowest signal .. n = highest) of each instrument.

    With ``rank`` the *average* rank 1..m on a date with m valid values, the group is
    ``floor((rank - 1) * n / m) + 1``: equal-count buckets when there are no ties, and tied scores
    (a ``prob_up`` from a few paths) always share one bucket, the one their average rank falls in.
    NaN signal -> NaN group. Qlib's ``_group_return`` instead slices the sorted cross-section into
    ``m // n`` rows per group, splitting ties by sort order and dropping the remainder.
    """
    if n_quantiles < 2:
        raise ValueError(f"n_quantiles must be >= 2; got {n_quantiles}")
    signal = as_panel_series(signal, "signal")
    by_date = signal.groupby(level="datetime")
    rank = by_date.rank(method="average")
    count = by_date.transform("count")
    return np.floor((rank - 1) * n_quantiles / count) + 1


def quantile_returns(signal, label, n_quantiles: int = 5) -> pd.DataFrame:
    """Mean label per date and quantile. DataFrame ``(dates, [1..n])``; returns as fractions."""
    signal = as_panel_series(signal, "signal")
    label = as_panel_series(label, "label")
    check_common_rows(signal, label)
    frame = pd.DataFrame({"signal": signal, "label": label}).dropna()
    frame["group"] = quantile_groups(frame["signal"], n_quantiles).astype(int)
    table = frame.groupby([pd.Grouper(level="datetime"), "group"])["label"].mean().unstack("group")
    table = table.reindex(columns=range(1, n_quantiles + 1))
    return table * np.nan if degenerate_reason(signal) else table  # a signal that cannot rank has no spread


def long_short(quantile_frame: pd.DataFrame) -> pd.Series:
    """Daily top-minus-bottom quantile return (fractions)."""
    return (quantile_frame.iloc[:, -1] - quantile_frame.iloc[:, 0]).rename("long_short")


def cumulative(returns):
    """Cumulative *sum* of daily returns, NaN days counted as 0 (Qlib report convention)."""
    return returns.fillna(0.0).cumsum()


def top_quantile_turnover(signal, n_quantiles: int = 5) -> pd.Series:
    """Daily turnover of the top quantile: ``1 - |S_t & S_{t-1}| / |S_t|`` (first date NaN).

    ``S_t`` is the top bucket of :func:`quantile_groups` (ties kept together) on date t. Qlib's
    ``_pred_turnover`` compares today's top ``m // n`` by today's score with today's instruments'
    top by yesterday's score; the two agree on a fixed universe without ties (see the tests), but
    Qlib's returns a plotly figure only and drops instruments that left the universe.
    """
    groups = quantile_groups(signal, n_quantiles)
    top = groups[groups == n_quantiles]
    members = top.groupby(level="datetime").apply(lambda s: frozenset(s.index.get_level_values("instrument")))
    values, previous = {}, None
    for date, current in members.items():
        values[date] = np.nan if previous is None else 1.0 - len(current & previous) / len(current)
        previous = current
    return pd.Series(values, dtype=float, name="turnover").rename_axis("datetime")


def rank_autocorrelation(signal, lag: int = 1) -> pd.Series:
    """Per date, correlation of the signal's percentile ranks at ``t`` and ``lag`` dates earlier.

    Qlib's definition (``analysis_model``'s autocorrelation): ranks are taken per date over every
    instrument, then ``qlib.contrib.eva.alpha.pred_autocorr`` correlates them over the instruments
    present on both dates (the Spearman correlation when the universe is unchanged). Dates with
    fewer than 2 common instruments are NaN.
    """
    from qlib.contrib.eva.alpha import pred_autocorr  # lazy: research/ must import without qlib

    if lag < 1:
        raise ValueError(f"lag must be >= 1 date; got {lag}")
    ranks = as_panel_series(signal, "signal").groupby(level="datetime").rank(pct=True)
    return pred_autocorr(ranks, lag=lag).astype(float).rename("rank_autocorr").rename_axis("datetime")


def sign_hit_rate(signal, label, *, demean: bool = False) -> float:
    """Fraction of observations where ``sign(signal) == sign(label)``; zeros and NaNs are skipped.

    ``demean=True`` subtracts each date's cross-sectional mean from both first, measuring
    *relative* direction (useful for scores that are not centred at zero).
    """
    check_common_rows(signal, label)
    if warn_if_degenerate(as_panel_series(signal, "signal")):
        return float("nan")
    frame = pd.DataFrame({"s": as_panel_series(signal, "signal"), "l": as_panel_series(label, "label")}).dropna()
    if demean:
        frame = frame - frame.groupby(level="datetime").transform("mean")
    frame = frame[(frame["s"] != 0) & (frame["l"] != 0)]
    return float((np.sign(frame["s"]) == np.sign(frame["l"])).mean()) if len(frame) else float("nan")


def ic_by_year(ic_frame: pd.DataFrame) -> pd.DataFrame:
    """Per calendar year: mean, ICIR and hit rate of each IC column, plus the days with a finite IC."""
    years = pd.DatetimeIndex(ic_frame.index).year
    rows = {}
    for year, chunk in ic_frame.groupby(years):
        row = {}
        for column in ic_frame.columns:
            stats = ic_stats(chunk[column])
            row.update({f"{column}_mean": stats.mean, f"{column}_ICIR": stats.icir,
                        f"{column}_hit_rate": stats.hit_rate})
        row["n_days"] = int(chunk.notna().any(axis=1).sum())  # the days the statistics are computed on
        rows[int(year)] = row
    return pd.DataFrame(rows).T.rename_axis("year")


@dataclass(frozen=True)
class SignalAnalysis:
    """Everything the report needs about one signal; see :func:`analyze_signal`."""

    ic: pd.DataFrame  # (dates, [IC, RankIC])
    ic_stats: dict  # {"IC": ICStats, "RankIC": ICStats}
    rolling_ic: pd.DataFrame  # (dates, [IC, RankIC])
    quantile_returns: pd.DataFrame  # (dates, quantiles)
    long_short: pd.Series  # (dates,)
    turnover: pd.Series  # (dates,) top-quantile turnover
    rank_autocorr: pd.Series  # (dates,) lag-1
    by_year: pd.DataFrame  # (years, metrics)
    sign_hit_rate: float
    decay: pd.DataFrame | None = None  # (horizons, [IC, RankIC]) when labels/close were given
    label_horizon: int = 1  # days the label spans (HAC lags are at least this)


def analyze_signal(
    signal,
    label,
    *,
    n_quantiles: int = 5,
    rolling_window: int = 20,
    decay_labels: Mapping[int, pd.Series] | None = None,
    label_horizon: int = 1,
) -> SignalAnalysis:
    """Run every IC metric of this module on one signal/label pair (``label_horizon``: days)."""
    if int(label_horizon) < 1:
        raise ValueError(f"label_horizon must be >= 1 day; got {label_horizon}")
    signal = as_panel_series(signal, "signal")
    label = as_panel_series(label, "label")
    ic = ic_series(signal, label)
    quantiles = quantile_returns(signal, label, n_quantiles)
    return SignalAnalysis(
        ic=ic,
        ic_stats={column: ic_stats(ic[column], label_horizon=label_horizon) for column in ic.columns},
        rolling_ic=rolling_ic(ic, rolling_window),
        quantile_returns=quantiles,
        long_short=long_short(quantiles),
        turnover=top_quantile_turnover(signal, n_quantiles),
        rank_autocorr=rank_autocorrelation(signal, 1),
        by_year=ic_by_year(ic),
        sign_hit_rate=sign_hit_rate(signal, label),
        decay=ic_decay(signal, decay_labels) if decay_labels else None,
        label_horizon=int(label_horizon),
    )


def summarize_ic(signal, label, *, n_quantiles: int = 5, label_horizon: int = 1) -> dict:
    """JSON-ready headline numbers of ``signal`` against ``label``; see :func:`summarize_analysis`."""
    return summarize_analysis(analyze_signal(signal, label, n_quantiles=n_quantiles, label_horizon=label_horizon))


def summarize_analysis(analysis: SignalAnalysis) -> dict:
    """JSON-ready dict of the headline numbers of a :class:`SignalAnalysis` (floats, NaN -> None)."""
    summary = {}
    for column, stats in analysis.ic_stats.items():
        summary.update({f"{column}_{key}": value for key, value in asdict(stats).items()})
    spread = analysis.long_short.dropna()
    if spread.empty:  # e.g. an all-NaN signal: no spread was measured, so its sum is not 0 but unknown
        logger.warning(
            "no date has a long-short spread (signal or label NaN everywhere?): long-short figures are NaN/None, not 0"
        )
    spread_hac = hac_mean(spread.to_numpy(), label_horizon=analysis.label_horizon)
    summary.update(
        {
            "label_horizon": analysis.label_horizon,
            "long_short_mean": spread_hac.mean,
            "long_short_hac_t": spread_hac.t_stat,
            "long_short_cumulative": float(spread.sum()) if len(spread) else float("nan"),
            "top_quantile_turnover_mean": float(analysis.turnover.mean()),
            "rank_autocorr_mean": float(analysis.rank_autocorr.mean()),
            "sign_hit_rate": analysis.sign_hit_rate,
        }
    )
    return json_ready(summary)
