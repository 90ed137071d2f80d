"""Numerical checks for kronos_quant.research.neutralize."""
import logging

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research import neutralize as nz

N_DATES, N_INST = 3, 12


def _panel(seed: int = 0) -> tuple[pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product(
        [pd.date_range("2021-01-04", periods=N_DATES, name="datetime"), [f"S{i:02d}" for i in range(N_INST)]],
        names=["datetime", "instrument"],
    )
    exposures = pd.DataFrame(
        {
            "beta": rng.normal(1.0, 0.3, len(index)),
            "size": rng.normal(10.0, 1.0, len(index)),
            "industry": np.tile(np.repeat([1.0, 2.0, 3.0], N_INST // 3), N_DATES),
            "mktcap": rng.uniform(1e9, 5e10, len(index)),
        },
        index=index,
    )
    signal = pd.Series(rng.normal(size=len(index)), index=index)
    return signal, exposures


def _design(exposures: pd.DataFrame) -> pd.DataFrame:
    dummies = pd.get_dummies(exposures["industry"], prefix="ind", dtype=float)  # all industries
    return pd.concat([exposures[["beta", "size"]], dummies], axis=1)


@pytest.mark.parametrize("zscore_after", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
def test_residual_orthogonal_to_every_exposure(weighted, zscore_after):
    """X' W e = 0 holds for the final output, after the z-score post-processing step too."""
    signal, exposures = _panel()
    weight_col = "mktcap" if weighted else None
    kwargs = dict(industry_col="industry", weight_col=weight_col, zscore_after=zscore_after)
    residual = nz.neutralize(signal, exposures, **kwargs)
    design = _design(exposures)
    for date, chunk in residual.groupby(level="datetime"):
        weights = np.sqrt(exposures.loc[date, "mktcap"].to_numpy()) if weighted else np.ones(N_INST)
        products = design.loc[date].to_numpy().T @ (weights * chunk.to_numpy())
        np.testing.assert_allclose(products, 0.0, atol=1e-10 * weights.max())


def test_wls_matches_closed_form():
    signal, exposures = _panel(1)
    residual = nz.neutralize(
        signal, exposures, industry_col="industry", weight_col="mktcap", zscore_before=False,
        zscore_after=False, winsorize_method=None,
    )
    date = residual.index.get_level_values("datetime")[0]
    x = np.column_stack(
        [np.ones(N_INST), exposures.loc[date, ["beta", "size"]], _design(exposures).loc[date].iloc[:, 3:]]
    )
    w = np.sqrt(exposures.loc[date, "mktcap"].to_numpy())
    y = signal.loc[date].to_numpy()
    beta = np.linalg.solve(x.T @ (w[:, None] * x), x.T @ (w * y))  # (X'WX)^-1 X'Wy
    np.testing.assert_allclose(residual.loc[date].to_numpy(), y - x @ beta, atol=1e-10)
    ols = nz.neutralize(
        signal, exposures, industry_col="industry", zscore_before=False, zscore_after=False, winsorize_method=None
    )
    assert not np.allclose(ols.loc[date], residual.loc[date])  # weights actually change the fit


@pytest.mark.parametrize("zscore_after", [False, True])
def test_signal_equal_to_exposure_neutralizes_to_zero(zscore_after):
    _, exposures = _panel()
    residual = nz.neutralize(
        exposures["beta"], exposures, industry_col="industry", zscore_after=zscore_after, winsorize_method=None
    )
    assert residual.abs().max() < 1e-10


def test_nan_policy_median_vs_drop():
    signal, exposures = _panel()
    first = signal.index[0]
    signal_nan = signal.copy()
    signal_nan.iloc[1] = np.nan
    exposures_nan = exposures.copy()
    exposures_nan.loc[first, "beta"] = np.nan
    kwargs = dict(industry_col="industry", winsorize_method=None, zscore_before=False, zscore_after=False)
    median = nz.neutralize(signal_nan, exposures_nan, **kwargs)
    dropped = nz.neutralize(signal_nan, exposures_nan, nan_exposure="drop", **kwargs)
    assert np.isnan(median.iloc[1]) and np.isnan(dropped.iloc[1])  # NaN signal -> NaN out
    assert np.isnan(dropped.loc[first]) and np.isfinite(median.loc[first])
    filled = exposures_nan.copy()
    date = first[0]
    day_rows = filled.index.get_level_values("datetime") == date
    filled.loc[first, "beta"] = exposures_nan.loc[day_rows, "beta"].median()  # median of that date's other rows
    expected = nz.neutralize(signal_nan, filled, **kwargs)
    assert median.loc[first] == pytest.approx(expected.loc[first], abs=1e-12)


def test_small_dates_are_nan_with_warning(caplog):
    signal, exposures = _panel()
    date = signal.index[0][0]
    signal.loc[date] = [1.0, 2.0, 3.0, 4.0, 5.0] + [np.nan] * (N_INST - 5)  # 5 rows < 1 + 2 + 2 dummies + 1
    with caplog.at_level(logging.WARNING):
        out = nz.neutralize(signal, exposures, industry_col="industry")
    assert out.loc[date].isna().all() and out.notna().sum() == 2 * N_INST
    assert "1 date(s)" in caplog.text


def test_winsorize_and_zscore():
    index = pd.MultiIndex.from_product([[pd.Timestamp("2021-01-04")], list("ABCDE")], names=["datetime", "instrument"])
    values = pd.Series([1.0, 2.0, 3.0, 4.0, 100.0], index=index)
    clipped = nz.winsorize(values, "mad", 3.0)  # median 3, MAD 1 -> bounds 3 -+ 3 * 1.4826
    assert clipped.iloc[-1] == pytest.approx(3 + 3 * 1.4826) and clipped.iloc[0] == 1.0
    scored = nz.zscore(pd.Series([1.0, 2.0, 3.0, 4.0, 5.0], index=index))
    np.testing.assert_allclose(scored, (np.arange(1, 6) - 3) / np.std(np.arange(1, 6), ddof=1))
    with pytest.raises(ValueError, match="mad"):
        nz.winsorize(values, "bogus")


def test_boundary_errors():
    signal, exposures = _panel()
    with pytest.raises(ValueError, match="weight_col"):
        nz.neutralize(signal, exposures, weight_col="cap")
    with pytest.raises(ValueError, match="nan_exposure"):
        nz.neutralize(signal, exposures, nan_exposure="zero")
    with pytest.raises(ValueError, match="exposures must have a 2-level MultiIndex"):
        nz.neutralize(signal, exposures.reset_index())
    with pytest.raises(ValueError, match=r"exposures is indexed \(instrument, datetime\); pass exposures.swaplevel"):
        nz.neutralize(signal, exposures.swaplevel().sort_index())
    with pytest.raises(TypeError, match="exposures must be a DataFrame"):
        nz.neutralize(signal, exposures["beta"])


def test_mad_winsorize_keeps_dates_whose_values_mostly_tie():
    """A prob_up score from 4 paths takes 5 values; a date with most values at the median has MAD 0."""
    index = pd.MultiIndex.from_product(
        [pd.date_range("2021-01-04", periods=2), [f"S{i}" for i in range(10)]], names=["datetime", "instrument"]
    )
    tied = [0.5] * 6 + [0.0, 0.25, 0.75, 1.0]  # MAD 0 -> left as is
    spread = [0.0, 0.25, 0.5, 0.75, 1.0, 0.0, 0.25, 0.5, 0.75, 40.0]  # MAD > 0 -> the outlier is clipped
    clipped = nz.winsorize(pd.Series(tied + spread, index=index), "mad", 3.0)
    np.testing.assert_array_equal(clipped.iloc[:10], tied)
    assert clipped.iloc[-1] == pytest.approx(0.5 + 3 * 1.4826 * 0.25)
    scores = nz.neutralize(
        pd.Series(tied + spread, index=index), pd.DataFrame({"beta": np.linspace(0.5, 1.5, 20)}, index=index)
    )
    assert scores.groupby(level="datetime").std().gt(0.5).all()  # neither date collapsed to zeros


def test_exposure_report_before_after():
    signal, exposures = _panel(2)
    signal = signal + 10.0 * exposures["beta"]  # strong beta exposure before
    report = nz.exposure_report(signal, exposures.drop(columns="mktcap"), industry_col="industry")
    assert set(report.columns) == {"corr_before", "corr_after", "beta_before", "beta_after"}
    assert report.loc["beta", "corr_before"] > 0.5
    assert report["corr_after"].abs().max() < 1e-8 and report["beta_after"].abs().max() < 1e-8
    assert "industry=1.0" in report.index


def test_weighted_zscore_uses_the_regression_weights():
    signal, exposures = _panel(3)
    out = nz.neutralize(signal, exposures, industry_col="industry", weight_col="mktcap")
    weights = np.sqrt(exposures["mktcap"])
    for _date, chunk in out.groupby(level="datetime"):
        w = weights.loc[chunk.index].to_numpy()
        mean = np.sum(w * chunk.to_numpy()) / w.sum()
        assert mean == pytest.approx(0.0, abs=1e-12)
        assert np.sum(w * (chunk.to_numpy() - mean) ** 2) / w.sum() == pytest.approx(1.0, rel=1e-12)


def test_exposure_report_judges_wls_with_its_weights():
    signal, exposures = _panel(4)
    signal = signal + 3.0 * exposures["beta"]
    neutral = nz.neutralize(signal, exposures, industry_col="industry", weight_col="mktcap")
    weighted = nz.exposure_report(signal, exposures, neutralized=neutral, industry_col="industry", weight_col="mktcap")
    plain = nz.exposure_report(signal, exposures.drop(columns="mktcap"), neutralized=neutral, industry_col="industry")
    assert weighted[["corr_after", "beta_after"]].abs().max().max() < 1e-10
    assert plain["corr_after"].abs().max() > 1e-3  # unweighted moments misjudge the WLS output
    assert weighted.loc["beta", "corr_before"] > 0.5


def test_zscore_weighted_bad_weights_give_nan():
    index = pd.MultiIndex.from_product([[pd.Timestamp("2021-01-04")], list("ABCD")], names=["datetime", "instrument"])
    values = pd.Series([1.0, 2.0, 3.0, 4.0], index=index)
    out = nz.zscore(values, pd.Series([1.0, 1.0, 0.0, np.nan], index=index))
    assert np.isnan(out.iloc[2]) and np.isnan(out.iloc[3])
    np.testing.assert_allclose(out.iloc[:2], [-1.0, 1.0])
