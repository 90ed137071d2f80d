"""Study statistics: same rows for every signal, incremental IC, HAC t against statsmodels, horizons."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.study import compare


def panel(n_days=60, n_names=40, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([pd.bdate_range("2021-01-04", periods=n_days),
                                        [f"SH60{i:04d}" for i in range(n_names)]], names=["datetime", "instrument"])
    frame = pd.DataFrame(rng.normal(size=(len(index), 3)), index=index, columns=["c1", "c2", "noise"])
    frame["label"] = 0.02 * frame["c1"] + 0.01 * frame["noise"] + rng.normal(scale=0.05, size=len(index))
    return frame


def test_align_keeps_only_rows_every_signal_has():
    frame = panel()
    a = frame["c1"].copy()
    b = frame["c2"].iloc[5:].copy()  # b misses the first 5 rows
    a.iloc[10] = np.nan  # a is NaN on row 10
    label = frame["label"].copy()
    label.iloc[20] = np.inf
    aligned = compare.align_signals({"a": a, "b": b}, label)
    assert len(aligned) == len(frame) - 5 - 1 - 1
    assert np.isfinite(aligned.to_numpy()).all()
    ics = compare.daily_ics(aligned, ["a", "b"])
    # both signals are scored on exactly the same days and the same number of names per day
    assert ics["a"].index.equals(ics["b"].index)
    with pytest.raises(ValueError, match="no \\(datetime, instrument\\) row"):
        compare.align_signals({"a": a.iloc[:3]}, label.iloc[100:])


def test_incremental_ic_is_zero_for_a_linear_combination_of_controls():
    frame = panel()
    frame["combo"] = 3.0 * frame["c1"] - 0.5 * frame["c2"] + 7.0
    ic = compare.incremental_ic(frame, "combo", ["c1", "c2"])
    assert len(ic) == 60
    assert (ic["IC"] == 0.0).all() and (ic["RankIC"] == 0.0).all()


def test_incremental_ic_keeps_what_the_controls_miss():
    frame = panel(seed=1)
    # the target = control + an independent part that predicts the label (noise carries 0.01 of the label)
    frame["target"] = frame["c2"] + frame["noise"]
    ic = compare.incremental_ic(frame, "target", ["c2"])
    raw = compare.daily_ics(frame, ["noise"])["noise"]
    # the residual is 'noise' minus its small in-sample projection on c2: nearly the same IC
    assert ic["IC"].mean() == pytest.approx(raw["IC"].mean(), abs=0.01)
    same = compare.incremental_ic(frame, "noise", ["c2"])  # residualizing target or its c2-free part is the same
    assert np.allclose(ic.to_numpy(), same.to_numpy())
    assert ic["IC"].mean() > 0.05
    with pytest.raises(ValueError, match="not in the frame"):
        compare.residualize(frame, "target", ["missing"])


def test_summary_hac_t_matches_statsmodels():
    import statsmodels.api as sm

    frame = panel(n_days=120, seed=2)
    ics = compare.daily_ics(frame, ["c1"])
    table = compare.summary_table(ics)
    values = ics["c1"]["RankIC"].to_numpy()
    n = len(values)
    lags = max(1, int(np.floor(4 * (n / 100) ** (2 / 9))))
    fit = sm.OLS(values, np.ones((n, 1))).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": True})
    assert table.loc["c1", "RankIC_t_HAC"] == pytest.approx(fit.tvalues[0], rel=1e-10)
    assert table.loc["c1", "RankIC"] == pytest.approx(values.mean())
    assert table.loc["c1", "hit_rate"] == pytest.approx((values > 0).mean())
    assert table.loc["c1", "RankIC"] > 0.2  # c1 drives the label


def test_by_period_labels():
    frame = panel(n_days=300)
    table = compare.by_period(compare.daily_ics(frame, ["c1"]), freq="half")
    assert list(table.index) == ["2021H1", "2021H2", "2022H1"]
    with pytest.raises(ValueError, match="freq"):
        compare.period_label(pd.DatetimeIndex(["2021-01-04"]), "month")


def test_long_short_sign():
    frame = panel(seed=3)
    table = compare.long_short(frame, ["c1", "noise"], quantile=0.2)
    assert table.loc["c1", "long_short_ann"] > 0 and table.loc["c1", "long_short_t_HAC"] > 3


def test_horizon_frame_columns():
    from kronos_quant.study.kronos_model import horizon_frame

    closes = np.array([[[11.0, 12.1, 12.1, 13.0, 14.0], [9.0, 9.9, 9.0, 9.0, 9.0]]])  # (N=1, P=2, H=5)
    paths = np.repeat(closes[..., None], 6, axis=-1)
    frame = horizon_frame(paths, np.array([10.0]), (1, 2, 5), pd.Index(["row"]))
    assert frame.loc["row", "score"] == pytest.approx(0.1)  # both paths: +10 % from bar 1 to bar 2
    assert frame.loc["row", "h1"] == pytest.approx(0.0)  # mean(11, 9) / 10 - 1
    assert frame.loc["row", "h2"] == pytest.approx((12.1 + 9.9) / 2 / 10 - 1)
    assert frame.loc["row", "h5"] == pytest.approx((14.0 + 9.0) / 2 / 10 - 1)


def test_random_signal_is_keyed_by_row():
    from kronos_quant.study.factors import random_signal

    index = panel().index
    full = random_signal(index, seed=3)
    part = random_signal(index[::7], seed=3)
    assert np.array_equal(full.loc[part.index].to_numpy(), part.to_numpy())
    assert not np.array_equal(full.to_numpy(), random_signal(index, seed=4).to_numpy())
    assert 0.45 < full.mean() < 0.55


def test_constant_days_flags_degenerate_signals():
    frame = panel(n_days=10)
    frame["flat"] = 1.0
    frame.loc[frame.index.get_level_values(0) == frame.index.get_level_values(0)[0], "flat"] = np.arange(40.0)
    share = compare.constant_days(frame, ["c1", "flat"])
    assert share["c1"] == 0.0 and share["flat"] == pytest.approx(0.9)
