"""Hand-computed checks for kronos_quant.research.ic_analysis.

Toy panel: 2 dates x 4 instruments.
  2020-12-31: signal A..D = 1, 2, 3, 4; label = .01, .03, .02, .04 -> Pearson 0.04 / sqrt(5 * 0.0005) = 0.8,
              Spearman 1 - 6 * 2 / (4 * 15) = 0.8
  2021-01-04: signal A..D = 4, 3, 2, 1; label = 0, .01, .02, .03 -> IC = RankIC = -1
"""
import json
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kronos_quant.research import ic_analysis as ica

DATES = pd.to_datetime(["2020-12-31", "2021-01-04"])
INSTRUMENTS = ["A", "B", "C", "D"]


def _series(values, dates=DATES) -> pd.Series:
    index = pd.MultiIndex.from_product([dates, INSTRUMENTS], names=["datetime", "instrument"])
    return pd.Series(np.asarray(values, dtype=float), index=index)


@pytest.fixture()
def toy():
    signal = _series([1, 2, 3, 4, 4, 3, 2, 1])
    label = _series([0.01, 0.03, 0.02, 0.04, 0.0, 0.01, 0.02, 0.03])
    return signal, label


def test_daily_ic_and_stats(toy):
    ic = ica.ic_series(*toy)
    np.testing.assert_allclose(ic["IC"], [0.8, -1.0], atol=1e-12)
    np.testing.assert_allclose(ic["RankIC"], [0.8, -1.0], atol=1e-12)
    stats = ica.ic_stats(ic["IC"])
    std = 0.9 * math.sqrt(2)  # ddof=1 of (0.8, -1.0)
    assert stats.mean == pytest.approx(-0.1)
    assert stats.std == pytest.approx(std)
    assert stats.icir == pytest.approx(-0.1 / std)
    assert stats.t_stat == pytest.approx(-0.1 / std * math.sqrt(2))
    assert stats.hit_rate == 0.5 and stats.n_days == 2


# IC != RankIC on every date: an outlier (day 1), tied signals and labels (day 2), a crash (day 3)
SKEWED_SIGNAL = [[1, 2, 3, 4, 5, 6], [1, 1, 2, 2, 3, 9], [6, 5, 4, 3, 2, 1]]
SKEWED_LABEL = [[0.01, 0.02, 0.03, 0.04, 0.05, 0.90], [0.01, 0.01, 0.02, 0.04, 0.03, 0.03],
                [0.0, 0.03, 0.01, 0.02, -0.2, 0.01]]


@pytest.fixture()
def skewed():
    """3 dates x 6 instruments where Pearson and Spearman differ by > 0.2 each day."""
    dates = pd.to_datetime(["2021-03-01", "2021-03-02", "2021-03-03"])
    index = pd.MultiIndex.from_product([dates, list("ABCDEF")], names=["datetime", "instrument"])
    signal = pd.Series(np.ravel(SKEWED_SIGNAL).astype(float), index=index)
    label = pd.Series(np.ravel(SKEWED_LABEL), index=index)
    pearson = [stats.pearsonr(s, y)[0] for s, y in zip(SKEWED_SIGNAL, SKEWED_LABEL)]
    spearman = [stats.spearmanr(s, y)[0] for s, y in zip(SKEWED_SIGNAL, SKEWED_LABEL)]
    assert min(abs(np.subtract(pearson, spearman))) > 0.2  # the data can tell the two apart
    return signal, label, np.array(pearson), np.array(spearman)


def test_ic_is_pearson_and_rank_ic_is_spearman_with_outliers_and_ties(skewed):
    signal, label, pearson, spearman = skewed
    ic = ica.ic_series(signal, label)
    assert list(ic.columns) == ["IC", "RankIC"]
    np.testing.assert_allclose(ic["IC"], pearson, rtol=1e-12)
    np.testing.assert_allclose(ic["RankIC"], spearman, rtol=1e-12)
    np.testing.assert_allclose(ic.loc["2021-03-01", "RankIC"], 1.0)  # monotone despite the outlier


def test_reports_and_studies_read_rank_ic_as_spearman(skewed):
    from kronos_quant.study import compare

    signal, label, pearson, spearman = skewed
    summary = ica.summarize_ic(signal, label, n_quantiles=2)
    assert summary["IC_mean"] == pytest.approx(pearson.mean(), rel=1e-12)
    assert summary["RankIC_mean"] == pytest.approx(spearman.mean(), rel=1e-12)
    assert summary["RankIC_std"] == pytest.approx(spearman.std(ddof=1), rel=1e-12)
    years = ica.ic_by_year(ica.ic_series(signal, label))
    assert years.loc[2021, "RankIC_mean"] == pytest.approx(spearman.mean(), rel=1e-12)
    decay = ica.ic_decay(signal, {1: label})
    assert decay.loc[1, "RankIC"] == pytest.approx(spearman.mean(), rel=1e-12)

    frame = pd.DataFrame({"kronos": signal, "label": label})
    table = compare.summary_table(compare.daily_ics(frame, ["kronos"]))
    assert table.loc["kronos", "IC"] == pytest.approx(pearson.mean(), rel=1e-12)
    assert table.loc["kronos", "RankIC"] == pytest.approx(spearman.mean(), rel=1e-12)
    assert table.loc["kronos", "RankICIR"] == pytest.approx(spearman.mean() / spearman.std(ddof=1), rel=1e-12)
    assert table.loc["kronos", "hit_rate"] == pytest.approx((spearman > 0).mean())
    periods = compare.by_period(compare.daily_ics(frame, ["kronos"]), column="RankIC")
    assert periods.loc["2021", "kronos"] == pytest.approx(spearman.mean(), rel=1e-12)


def test_incremental_ic_is_pearson_and_spearman_of_the_residual(skewed):
    from kronos_quant.study import compare

    signal, label, _, _ = skewed
    control = pd.Series(np.tile([0.0, 1.0, 0.0, 2.0, 0.0, 1.0], 3), index=signal.index)
    frame = pd.DataFrame({"kronos": signal, "control": control, "label": label})
    table = compare.incremental_ic(frame, "kronos", ["control"])
    for (date, day), row in zip(frame.groupby(level="datetime"), table.itertuples()):
        x = np.column_stack([np.ones(len(day)), day["control"]])
        resid = day["kronos"] - x @ np.linalg.lstsq(x, day["kronos"], rcond=None)[0]
        assert row.IC == pytest.approx(stats.pearsonr(resid, day["label"])[0], rel=1e-9), date
        assert row.RankIC == pytest.approx(stats.spearmanr(resid, day["label"])[0], rel=1e-9), date


def test_dataframe_pred_is_squeezed_and_bad_index_rejected(toy):
    signal, label = toy
    ic = ica.ic_series(signal.to_frame("score"), label.to_frame("LABEL0"))
    np.testing.assert_allclose(ic["IC"], [0.8, -1.0], atol=1e-12)
    with pytest.raises(ValueError, match="swaplevel"):
        ica.ic_series(signal.swaplevel(), label)
    with pytest.raises(TypeError):
        ica.ic_series(signal.values, label)


def test_rolling_and_by_year(toy):
    ic = ica.ic_series(*toy)
    rolled = ica.rolling_ic(ic, window=2)
    assert np.isnan(rolled["IC"].iloc[0]) and rolled["IC"].iloc[1] == pytest.approx(-0.1)
    years = ica.ic_by_year(ic)
    assert list(years.index) == [2020, 2021]
    assert years.loc[2020, "IC_mean"] == pytest.approx(0.8)
    assert years.loc[2021, "RankIC_mean"] == pytest.approx(-1.0)
    assert years.loc[2021, "IC_hit_rate"] == 0.0


def test_quantile_returns_and_long_short(toy):
    table = ica.quantile_returns(*toy, n_quantiles=2)
    # date 1: bottom {A, B} -> (.01 + .03) / 2, top {C, D} -> (.02 + .04) / 2
    # date 2: bottom {C, D} -> (.02 + .03) / 2, top {A, B} -> (0 + .01) / 2
    np.testing.assert_allclose(table[1], [0.02, 0.025])
    np.testing.assert_allclose(table[2], [0.03, 0.005])
    spread = ica.long_short(table)
    np.testing.assert_allclose(spread, [0.01, -0.02])
    np.testing.assert_allclose(ica.cumulative(spread), [0.01, -0.01])


def test_quantile_groups_equal_count():
    groups = ica.quantile_groups(_series([5, 1, 3, 2, 1, 2, 3, 4]), n_quantiles=4)
    np.testing.assert_array_equal(groups.values, [4, 1, 3, 2, 1, 2, 3, 4])


def test_turnover_and_rank_autocorrelation(toy):
    dates = pd.to_datetime(["2021-01-04", "2021-01-05", "2021-01-06"])
    # top half: {C, D}, then {A, C}, then {A, C}
    signal = _series([1, 2, 3, 4, 4, 1, 3, 2, 9, 1, 8, 2], dates)
    turnover = ica.top_quantile_turnover(signal, n_quantiles=2)
    assert np.isnan(turnover.iloc[0])
    np.testing.assert_allclose(turnover.iloc[1:], [0.5, 0.0])
    autocorr = ica.rank_autocorrelation(toy[0])
    assert np.isnan(autocorr.iloc[0]) and autocorr.iloc[1] == pytest.approx(-1.0)


def test_sign_hit_rate(toy):
    assert ica.sign_hit_rate(*toy) == 1.0  # 7 non-zero labels, all positive like the signal
    assert ica.sign_hit_rate(*toy, demean=True) == pytest.approx(0.25)  # 2 of 8 relative signs agree


def test_forward_returns_qlib_convention():
    close = pd.DataFrame(
        {"A": [10.0, 11.0, 12.0, 15.0], "B": [20.0, 20.0, 22.0, 11.0]},
        index=pd.date_range("2021-01-01", periods=4, name="datetime"),
    )
    labels = ica.forward_returns(close, horizons=(1, 2))
    first = pd.Timestamp("2021-01-01")
    assert labels[1][(first, "A")] == pytest.approx(12 / 11 - 1)  # close[t+2] / close[t+1] - 1
    assert labels[2][(first, "B")] == pytest.approx(11 / 20 - 1)  # close[t+3] / close[t+1] - 1
    assert len(labels[2]) == 2  # only t = first date has t + 3


def test_ic_decay_and_summary(toy):
    signal, label = toy
    decay = ica.ic_decay(signal, {1: label, 2: -label})
    assert decay.loc[1, "IC"] == pytest.approx(-0.1) and decay.loc[2, "IC"] == pytest.approx(0.1)
    summary = ica.summarize_ic(signal, label, n_quantiles=2)
    json.dumps(summary)  # JSON-ready
    assert summary["IC_mean"] == pytest.approx(-0.1)
    assert summary["long_short_cumulative"] == pytest.approx(-0.01)
    assert summary["IC_std"] == pytest.approx(0.9 * math.sqrt(2))


def test_ic_by_year_counts_the_days_its_statistics_use():
    from kronos_quant.research.ic_analysis import ic_by_year

    days = pd.to_datetime(["2023-12-28", "2023-12-29", "2024-01-02", "2024-01-03", "2024-01-04"])
    frame = pd.DataFrame({"IC": [0.1, np.nan, 0.2, -0.1, 0.3], "RankIC": [0.2, np.nan, 0.1, 0.0, 0.2]}, index=days)
    table = ic_by_year(frame)
    assert table.loc[2023, "n_days"] == 1 and table.loc[2024, "n_days"] == 3
    assert table.loc[2024, "IC_mean"] == pytest.approx(0.4 / 3)


def test_rolling_ic_survives_one_missing_day():
    days = pd.bdate_range("2024-01-01", periods=6)
    ic = pd.DataFrame({"IC": [0.1, 0.2, np.nan, 0.3, 0.4, 0.5]}, index=days)
    rolled = ica.rolling_ic(ic, window=4)["IC"]
    assert rolled.iloc[:2].isna().all()  # fewer than 3 finite ICs so far
    np.testing.assert_allclose(rolled.iloc[3:], [0.2, 0.3, 0.4])


def test_hac_t_stats_use_the_label_horizon():
    from kronos_quant.research.hac import hac_mean

    rng = np.random.default_rng(5)
    dates = pd.bdate_range("2021-01-04", periods=60, name="datetime")
    index = pd.MultiIndex.from_product([dates, [f"S{i}" for i in range(8)]], names=["datetime", "instrument"])
    signal = pd.Series(rng.normal(size=len(index)), index=index)
    label = pd.Series(0.3 * signal.to_numpy() + rng.normal(size=len(index)), index=index)
    analysis = ica.analyze_signal(signal, label, n_quantiles=2, label_horizon=10)
    stats = analysis.ic_stats["IC"]
    assert stats.hac_lags == 10
    assert stats.hac_t == pytest.approx(hac_mean(analysis.ic["IC"].to_numpy(), label_horizon=10).t_stat, rel=1e-12)
    assert stats.hac_t != pytest.approx(stats.t_stat, rel=1e-3)
    summary = ica.summarize_analysis(analysis)
    assert summary["label_horizon"] == 10 and summary["RankIC_hac_lags"] == 10
    spread = analysis.long_short.dropna().to_numpy()
    assert summary["long_short_hac_t"] == pytest.approx(hac_mean(spread, label_horizon=10).t_stat, rel=1e-12)
    with pytest.raises(ValueError, match="label_horizon"):
        ica.analyze_signal(signal, label, label_horizon=0)
