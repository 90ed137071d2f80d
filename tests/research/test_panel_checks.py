"""The research layer refuses to guess: mismatched panels are errors, degenerate signals give NaN with a warning."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research.ic_analysis import ic_series, quantile_returns, sign_hit_rate
from kronos_quant.research.neutralize import neutralize
from kronos_quant.research.panel_checks import check_common_rows, degenerate_reason


def panel(n_dates=30, codes=("SH600000", "SH600001", "SZ000001", "SZ000002", "SZ000003", "SZ000004"), seed=0):
    rng = np.random.default_rng(seed)
    index = pd.MultiIndex.from_product([pd.bdate_range("2024-01-01", periods=n_dates), list(codes)],
                                       names=["datetime", "instrument"])
    return pd.Series(rng.standard_normal(len(index)), index=index)


def _lower_codes(series):
    return series.rename(index=str.lower, level="instrument")


def test_instrument_codes_in_another_case_are_an_error_showing_both():
    signal, label = panel(), panel(seed=1)
    with pytest.raises(ValueError, match=r"share 0 of 180 .*'SH600000'.*'sh600000'.*differ only in case"):
        ic_series(signal, _lower_codes(label))


def test_string_dates_are_an_error_naming_the_types():
    label = panel(seed=1)
    as_text = label.copy()
    as_text.index = as_text.index.set_levels(label.index.levels[0].strftime("%Y-%m-%d"), level=0)
    with pytest.raises(ValueError, match="different types"):
        quantile_returns(panel(), as_text)


def test_few_common_rows_is_an_error_but_a_longer_label_is_fine():
    signal, label = panel(), panel(n_dates=60, seed=1)
    assert check_common_rows(signal, label) == 180  # every signal row is labelled
    other_period = label.iloc[170:]  # 190 rows, 10 of them on the signal's last dates
    with pytest.raises(ValueError, match="share 10 of 180"):
        sign_hit_rate(signal, other_period)


def test_neutralize_checks_its_exposures_rows():
    signal = panel()
    exposures = _lower_codes(panel(seed=2)).to_frame("size")
    with pytest.raises(ValueError, match=r"signal and exposures share 0 of 180"):
        neutralize(signal, exposures)


@pytest.mark.parametrize("make, reason", [
    (lambda s: s * np.nan, "all NaN"),
    (lambda s: s.groupby(level="datetime").head(1), "at most one instrument per date"),
    (lambda s: s * 0 + 0.3, "constant across instruments"),
])
def test_degenerate_signals_give_nan_with_a_warning(make, reason, caplog):
    label = panel(seed=1)
    signal = make(panel())
    assert reason in degenerate_reason(signal)
    with caplog.at_level(logging.WARNING):
        ic = ic_series(signal, label) if reason != "all NaN" else None
        hit = sign_hit_rate(signal, label)
        quantiles = quantile_returns(signal, label) if reason != "all NaN" else None
    assert reason in caplog.text and np.isnan(hit)
    if ic is not None:
        assert ic.isna().all().all()
        assert quantiles.isna().all().all()


def test_a_real_signal_is_not_degenerate(caplog):
    signal, label = panel(), panel(seed=1)
    with caplog.at_level(logging.WARNING):
        ic_series(signal, label)
    assert degenerate_reason(signal) is None and "cannot rank" not in caplog.text
