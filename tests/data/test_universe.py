"""The liquid universe is point in time: membership at t uses data before t's rebalance only (issue 21)."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.data import qlib_bin
from kronos_quant.data.universe import (
    UniverseSettings,
    liquid_membership,
    membership_spans,
    rebalance_days,
    span_membership,
)

SETTINGS = UniverseSettings(top_n=5, window=20, min_days=10, exclude="csi300")


def value_panel(seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2021-01-04", periods=160)
    codes = [f"SH60{i:04d}" for i in range(30)] + ["SH000905"]  # an index code is never a member
    value = pd.DataFrame(rng.lognormal(mean=10.0, sigma=1.0, size=(len(days), len(codes))), index=days, columns=codes)
    value.iloc[:70, 3] = np.nan  # listed late
    value.iloc[90:95, 4] = 0.0  # suspended: traded value 0
    return value


def excluded_panel(value) -> pd.DataFrame:
    spans = pd.DataFrame({"instrument": ["SH600000", "SH600001"], "start": [value.index[0], value.index[50]],
                          "end": [value.index[-1], value.index[100]]})
    return span_membership(spans, value.index, value.columns)


def test_membership_at_t_ignores_data_after_t():
    value = value_panel()
    excluded = excluded_panel(value)
    members = liquid_membership(value, settings=SETTINGS, excluded=excluded)
    rebalances = rebalance_days(value.index)
    for t in (rebalances[2], rebalances[3] + pd.Timedelta(days=6), value.index[-10]):
        perturbed = value.copy()
        after = perturbed.index > t
        rng = np.random.default_rng(1)
        perturbed.loc[after] = perturbed.loc[after] * rng.lognormal(sigma=3.0, size=perturbed.loc[after].shape)
        other = liquid_membership(perturbed, settings=SETTINGS, excluded=excluded)
        pd.testing.assert_frame_equal(other.loc[:t], members.loc[:t])
        assert not other.equals(members) or t == value.index[-10]  # the perturbation does change the future
    # data on the rebalance day itself is not used either; data before it is
    r = rebalances[3]
    on_day = value.copy()
    on_day.loc[r] *= 1e6
    pd.testing.assert_series_equal(
        liquid_membership(on_day, settings=SETTINGS, excluded=excluded).loc[r], members.loc[r]
    )
    outsider = members.loc[r][~members.loc[r] & ~excluded.loc[r, members.columns]].index[0]
    before = value.copy()
    before.loc[before.index < r, outsider] *= 1e6
    assert liquid_membership(before, settings=SETTINGS, excluded=excluded).loc[r, outsider]


def test_membership_rules():
    value = value_panel()
    excluded = excluded_panel(value)
    members = liquid_membership(value, settings=SETTINGS, excluded=excluded)
    first = rebalance_days(value.index)
    assert not members.loc[: first[1] - pd.Timedelta(days=1)].any().any()  # the first window is not full yet
    later = members.loc[first[1] :]
    assert (later.sum(axis=1) <= 5).all() and (later.loc[first[1:]].sum(axis=1) == 5).all()
    assert not (later & excluded.loc[later.index]).any().any()  # never a CSI300 member on the same day
    assert "SH000905" not in members.columns
    # membership changes only on rebalance days
    changes = members.index[members.ne(members.shift()).any(axis=1)][1:]
    assert set(changes) <= set(first)
    spans = membership_spans(members)
    assert (spans["start"] <= spans["end"]).all()
    rebuilt = span_membership(spans, members.index, members.columns)
    pd.testing.assert_frame_equal(rebuilt, members)
    with pytest.raises(ValueError, match="min_days"):
        UniverseSettings(window=10, min_days=20)


def test_universe_cli_on_the_tiny_market(tiny_market, tmp_path):
    from kronos_quant.cli import main

    out = tmp_path / "overlay"
    assert (
        main(
            [
                "data",
                "universe",
                str(tiny_market),
                "--name",
                "liquid5",
                "--out",
                str(out),
                "--top",
                "5",
                "--window",
                "20",
                "--min-days",
                "10",
                "--start",
                "2021-01-04",
            ]
        )
        == 0
    )
    spans = qlib_bin.read_instruments(out, "liquid5")
    csi300 = qlib_bin.read_instruments(out, "csi300")  # copied beside it
    calendar = qlib_bin.read_calendar(out)  # linked
    members = span_membership(spans, calendar, sorted(set(spans["instrument"]) | set(csi300["instrument"])))
    in_csi300 = span_membership(csi300, calendar, members.columns)
    assert not (members & in_csi300).any().any()
    daily = members.sum(axis=1)
    assert daily.max() == 5 and (daily.loc[rebalance_days(calendar[calendar >= "2021-02-01"])] == 5).all()
    assert daily.loc["2021-03-01":].mean() > 4  # a few leave mid-month when they join csi300
    assert spans["start"].min() >= pd.Timestamp("2021-01-04")
