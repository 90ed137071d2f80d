"""All-NaN predictions: every headline figure is None (never a 0 that looks measured), with a warning."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from kronos_quant.research.ic_analysis import summarize_ic


def _panel(values):
    index = pd.MultiIndex.from_product([pd.bdate_range("2021-01-04", periods=30), [f"S{i}" for i in range(10)]],
                                       names=["datetime", "instrument"])
    return pd.Series(values(len(index)), index=index)


def test_all_nan_signal_has_no_long_short_figures(caplog):
    label = _panel(lambda n: np.random.default_rng(0).standard_normal(n))
    with caplog.at_level(logging.WARNING):
        summary = summarize_ic(_panel(lambda n: np.full(n, np.nan)), label)
    for key in ("IC_mean", "RankIC_mean", "long_short_mean", "long_short_hac_t", "long_short_cumulative"):
        assert summary[key] is None, key
    assert "long-short figures are NaN/None, not 0" in caplog.text


def test_a_real_signal_keeps_its_cumulative_spread():
    label = _panel(lambda n: np.random.default_rng(0).standard_normal(n))
    summary = summarize_ic(label, label)  # a perfect signal: top minus bottom quintile every day
    assert summary["long_short_cumulative"] > 30 * 1.5 and summary["RankIC_mean"] == pytest.approx(1.0)
