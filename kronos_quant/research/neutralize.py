"""Cross-sectional neutralization: regress a signal on risk exposures per date, keep the residual.

Conventions
-----------
- ``signal``: ``pd.Series`` indexed ``(datetime, instrument)``.
- ``exposures``: ``pd.DataFrame`` with the same index (rows are aligned to the signal's index;
  missing rows count as NaN exposures). Numeric columns enter the regression as they are;
  categorical columns (``industry_col``, plus any ``object``/``category`` dtype column) become
  per-date dummies. ``weight_col`` (market cap) is *not* a regressor; it only sets WLS weights.
- Design matrix per date: ``[1, numeric..., dummies...]`` -- an intercept plus the dummies of
  every industry present that date *except the first* (``drop_first``), so the design has full
  column rank when the numeric columns are not collinear. The residual is therefore orthogonal
  to the intercept, to every numeric exposure and to every industry dummy (in the weighted
  inner product ``X' W e = 0`` for WLS).
- Regression: OLS by default (``numpy.linalg.lstsq``); with ``weight_col`` it is WLS with weights
  ``w = sqrt(market cap)`` (rows are scaled by ``sqrt(w)``). The residual is ``y - X beta``.

NaN policy
----------
- NaN signal -> NaN output for that row (the row is not used in the regression).
- NaN numeric exposure: ``nan_exposure="median"`` (default) fills it with that date's
  cross-sectional median of the column; ``nan_exposure="drop"`` leaves the row out (NaN output).
  A column that is NaN for every row of a date cannot be filled and drops those rows.
- NaN industry, or a NaN / non-positive weight -> row left out (NaN output).
- A date with fewer usable rows than ``regressors + 2`` (i.e. ``n_rows <= design columns``,
  intercept included) gets NaN for all its rows; the number of such dates is logged as a warning.
- A date whose residual is numerically zero (signal spanned by the exposures) returns 0s.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from kronos_quant.research.exposures import industry_dummies
from kronos_quant.research.ic_analysis import as_panel_series, check_panel_index
from kronos_quant.research.panel_checks import check_common_rows

logger = logging.getLogger(__name__)

WINSOR_DEFAULT_LIMITS = {"mad": 3.0, "quantile": 0.01}  # MAD multiples (scaled MAD) / tail probability
MAD_TO_SIGMA = 1.4826  # scaled MAD estimates the std of a normal
DEGENERATE_RATIO = 1e-10  # residual std below this fraction of the signal std -> exact zeros


def winsorize(signal: pd.Series, method: str = "mad", limit: float | None = None) -> pd.Series:
    """Clip each date's cross-section. ``mad``: median +- limit * 1.4826 * MAD; ``quantile``: [q, 1-q].

    A date whose MAD is 0 (over half its values tie at the median, as with a ``prob_up`` score from a
    few sample paths) is left unclipped: clipping to a zero-width band would erase the whole date.
    """
    if method not in WINSOR_DEFAULT_LIMITS:
        raise ValueError(f"winsorize method must be one of {sorted(WINSOR_DEFAULT_LIMITS)}; got {method!r}")
    limit = WINSOR_DEFAULT_LIMITS[method] if limit is None else limit
    by_date = signal.groupby(level="datetime")
    if method == "mad":
        median = by_date.transform("median")
        mad = (signal - median).abs().groupby(level="datetime").transform("median") * MAD_TO_SIGMA
        band = (limit * mad).where(mad > 0, np.inf)
        return signal.clip(median - band, median + band)
    if not 0 <= limit < 0.5:
        raise ValueError(f"quantile winsorize limit must be in [0, 0.5); got {limit}")
    return signal.clip(
        by_date.transform(lambda s: s.quantile(limit)), by_date.transform(lambda s: s.quantile(1 - limit))
    )


def zscore(signal: pd.Series, weights: pd.Series | None = None) -> pd.Series:
    """Per-date ``(x - mean) / std``; a constant cross-section becomes all 0.

    Without ``weights``: plain mean and ``ddof=1`` std. With ``weights`` (a Series on the signal's
    index, e.g. the WLS regression weights): weighted mean ``sum(w x) / sum(w)`` and weighted
    population std ``sqrt(sum(w (x - mean)^2) / sum(w))``, so a residual orthogonal to the intercept
    in the weighted inner product (``sum(w e) = 0``) stays orthogonal. Rows with a NaN or
    non-positive weight get NaN.
    """
    if weights is None:
        by_date = signal.groupby(level="datetime")
        centred = signal - by_date.transform("mean")
        std = by_date.transform("std")
        return centred / std.where(std > 0, 1.0)
    weights = weights.reindex(signal.index).astype(float)
    weights = weights.where((weights > 0) & signal.notna())
    values = signal.where(weights.notna())
    total = weights.groupby(level="datetime").transform("sum")
    mean = (weights * values).groupby(level="datetime").transform("sum") / total
    centred = values - mean
    std = np.sqrt((weights * centred**2).groupby(level="datetime").transform("sum") / total)
    return centred / std.where(std > 0, 1.0)


def _split_columns(exposures: pd.DataFrame, industry_col, weight_col) -> tuple[list, list]:
    """Return (numeric regressor columns, categorical columns); checks types."""
    if weight_col is not None and weight_col not in exposures.columns:
        raise ValueError(f"weight_col {weight_col!r} not in exposures columns {list(exposures.columns)}")
    if industry_col is not None and industry_col not in exposures.columns:
        raise ValueError(f"industry_col {industry_col!r} not in exposures columns {list(exposures.columns)}")
    categorical, numeric = [], []
    for column in exposures.columns:
        if column == weight_col:
            continue
        dtype = exposures[column].dtype
        if column == industry_col or isinstance(dtype, pd.CategoricalDtype) or dtype == object:  # noqa: E721 (a numpy dtype compares equal to object)
            categorical.append(column)
        elif pd.api.types.is_numeric_dtype(dtype):
            numeric.append(column)
        else:
            raise TypeError(f"exposure column {column!r} has dtype {dtype}; convert it to float or category")
    return numeric, categorical


def _design(rows: pd.DataFrame, numeric: list, categorical: list) -> np.ndarray:
    """Design matrix ``(n, 1 + n_numeric + n_dummies)`` for one date's usable rows.

    Numeric columns are centred and scaled to unit std for conditioning (this leaves the span
    of ``[1, x]`` -- hence the residual -- unchanged); constant columns are dropped because
    the intercept already spans them.
    """
    values = rows[numeric].to_numpy(dtype=float)
    std = values.std(axis=0) if len(rows) else np.zeros(len(numeric))
    keep = std > 0
    parts = [np.ones((len(rows), 1)), (values[:, keep] - values[:, keep].mean(axis=0)) / std[keep]]
    for column in categorical:
        dummies = pd.get_dummies(rows[column].astype(str), drop_first=True, dtype=float)
        parts.append(dummies.to_numpy())
    return np.hstack(parts)


def _prepare_date(frame: pd.DataFrame, numeric, categorical, weight_col, nan_exposure) -> pd.DataFrame:
    """One date's rows with filled numeric NaNs (median policy), restricted to usable rows."""
    frame = frame.copy()
    if nan_exposure == "median" and numeric:
        frame[numeric] = frame[numeric].fillna(frame[numeric].median())
    usable = frame["__y"].notna()
    usable &= frame[numeric].notna().all(axis=1) & frame[categorical].notna().all(axis=1)
    if weight_col is not None:
        usable &= frame[weight_col].gt(0) & np.isfinite(frame[weight_col])
    return frame[usable]


def _residual(y: np.ndarray, design: np.ndarray, weights: np.ndarray | None) -> np.ndarray:
    """``y - X beta`` with beta from (weighted) least squares."""
    scale = np.ones_like(y) if weights is None else np.sqrt(weights)
    beta, *_ = np.linalg.lstsq(design * scale[:, None], y * scale, rcond=None)
    residual = y - design @ beta
    if residual.std() <= DEGENERATE_RATIO * max(y.std(), np.finfo(float).tiny):
        return np.zeros_like(y)
    return residual


def neutralize(
    signal,
    exposures: pd.DataFrame,
    *,
    industry_col: str | None = None,
    weight_col: str | None = None,
    winsorize_method: str | None = "mad",
    winsor_limit: float | None = None,
    zscore_before: bool = True,
    zscore_after: bool = True,
    nan_exposure: str = "median",
) -> pd.Series:
    """Pure alpha: per-date residual of ``signal`` on ``exposures`` (see module doc for the policy).

    ``signal``: Series ``(datetime, instrument)``; ``exposures``: DataFrame on the same index.
    ``industry_col`` names a categorical column stored as codes (e.g. Qlib's float ``$industry``);
    ``weight_col`` names a market-cap column for WLS with weights ``sqrt(market cap)``.
    Returns a float Series on the signal's index named ``"score"``. With ``weight_col`` the final
    z-score (``zscore_after``) uses the regression's own weights (see :func:`zscore`), so the
    output still satisfies ``X' W e = 0``.
    """
    signal = as_panel_series(signal, "signal")
    if not isinstance(exposures, pd.DataFrame):
        raise TypeError("exposures must be a DataFrame indexed (datetime, instrument), one column per exposure")
    check_panel_index(exposures.index, "exposures")
    check_common_rows(signal, exposures, names=("signal", "exposures"))
    if nan_exposure not in ("median", "drop"):
        raise ValueError(f"nan_exposure must be 'median' or 'drop'; got {nan_exposure!r}")
    numeric, categorical = _split_columns(exposures, industry_col, weight_col)
    y = signal
    if winsorize_method is not None:
        y = winsorize(y, winsorize_method, winsor_limit)
    if zscore_before:
        y = zscore(y)
    frame = exposures.reindex(signal.index).assign(__y=y)
    output = pd.Series(np.nan, index=signal.index, name="score")
    regression_weights = None if weight_col is None else pd.Series(np.nan, index=signal.index)
    too_small = 0
    for _, date_frame in frame.groupby(level="datetime"):
        rows = _prepare_date(date_frame, numeric, categorical, weight_col, nan_exposure)
        design = _design(rows, numeric, categorical)
        if len(rows) < design.shape[1] + 1:
            too_small += 1
            continue
        weights = None if weight_col is None else wls_weights(rows[weight_col]).to_numpy()
        output.loc[rows.index] = _residual(rows["__y"].to_numpy(dtype=float), design, weights)
        if weights is not None:
            regression_weights.loc[rows.index] = weights
    if too_small:
        logger.warning("neutralize: %d date(s) had fewer rows than regressors + 2 and were set to NaN", too_small)
    return zscore(output, regression_weights) if zscore_after else output


def wls_weights(market_cap: pd.Series) -> pd.Series:
    """The WLS regression weights ``sqrt(market cap)``; a non-positive or NaN cap gives NaN."""
    cap = market_cap.astype(float)
    return np.sqrt(cap.where(cap > 0))


def _slope_corr_by_date(y: pd.Series, x: pd.Series, w: pd.Series | None) -> pd.DataFrame:
    """Per date: univariate slope ``cov(y, x) / var(x)`` and correlation, weighted by ``w`` if given.

    Weighted moments use ``sum(w .) / sum(w)`` throughout (two-pass, centred first), so a WLS
    residual (``X' W e = 0``) has an exact zero weighted slope and correlation on every regressor.
    Dates with fewer than 3 usable rows or a constant ``x`` are NaN. DataFrame ``(dates, [slope, corr])``.
    """
    weight = pd.Series(1.0, index=y.index) if w is None else w.astype(float)
    usable = y.notna() & x.notna() & weight.gt(0)
    y, x, weight = y[usable], x[usable].astype(float), weight[usable]
    dates = y.index.get_level_values("datetime")

    def date_sum(values):
        return values.groupby(dates).transform("sum")

    weight = weight / date_sum(weight)
    dx, dy = x - date_sum(weight * x), y - date_sum(weight * y)
    moments = pd.DataFrame({"xx": weight * dx * dx, "yy": weight * dy * dy, "xy": weight * dx * dy, "n": 1.0})
    sums = moments.groupby(dates).sum()
    valid = (sums["n"] >= 3) & (sums["xx"] > 0)
    slope = (sums["xy"] / sums["xx"]).where(valid)
    corr = (sums["xy"] / np.sqrt(sums["xx"] * sums["yy"])).where(sums["yy"] > 0, 0.0).where(valid)
    return pd.DataFrame({"slope": slope, "corr": corr})


def exposure_report(
    signal,
    exposures: pd.DataFrame,
    *,
    neutralized: pd.Series | None = None,
    industry_col: str | None = None,
    weight_col: str | None = None,
) -> pd.DataFrame:
    """Mean over dates of the signal's per-exposure correlation and univariate beta, before vs after.

    Rows: numeric exposures and one ``<industry_col>=<code>`` dummy per industry. Columns:
    ``corr_before, corr_after, beta_before, beta_after``. ``neutralized`` defaults to
    ``neutralize(signal, exposures, industry_col=..., weight_col=...)``. "Before" uses the raw signal.
    With ``weight_col`` both are the regression's weighted moments (weights ``sqrt(market cap)``),
    the inner product the WLS residual is orthogonal in; "after" is then 0 up to rounding. Moments
    use the rows where the exposure is known, so an exposure the fit median-filled
    (``nan_exposure="median"``) can keep a small "after" value.
    """
    signal = as_panel_series(signal, "signal")
    numeric, categorical = _split_columns(exposures, industry_col, weight_col)
    if neutralized is None:
        neutralized = neutralize(signal, exposures, industry_col=industry_col, weight_col=weight_col)
    aligned = exposures.reindex(signal.index)
    columns = aligned[numeric].astype(float)
    for column in categorical:
        columns = columns.join(industry_dummies(aligned[column], prefix=column))
    weights = None if weight_col is None else wls_weights(aligned[weight_col])
    rows = {}
    for column in columns.columns:
        before = _slope_corr_by_date(signal, columns[column], weights).mean()  # NaN-skipping mean over dates
        after = _slope_corr_by_date(neutralized.reindex(signal.index), columns[column], weights).mean()
        rows[column] = {
            "corr_before": before["corr"],
            "corr_after": after["corr"],
            "beta_before": before["slope"],
            "beta_after": after["slope"],
        }
    return pd.DataFrame(rows).T.rename_axis("exposure")
