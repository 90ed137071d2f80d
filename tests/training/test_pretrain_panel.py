"""The compact price panel: traded bars only, nothing after the cut, a digest that sees every bar."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.training.pretrain_panel import load_price_panel, panel_from_arrays, select_instruments


def _values(days: int = 10, instruments: int = 3, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    close = 10 + rng.random((days, instruments))
    values = np.stack([close, close + 0.1, close - 0.1, close, 1000 + rng.random((days, instruments)),
                       np.full((days, instruments), np.nan)], axis=-1)
    return values


def test_panel_keeps_traded_bars_up_to_the_cut_and_derives_amount():
    calendar = pd.bdate_range("2021-01-04", periods=10)
    values = _values()
    values[3, 0, 4] = 0.0  # suspended: volume 0
    values[5, 1, :] = np.nan  # missing bar
    panel = panel_from_arrays(values, calendar, ["A", "B", "C"], cut=calendar[7])
    assert panel.lengths.tolist() == [7, 7, 8]  # 8 days to the cut, minus one untraded bar each for A and B
    assert int(panel.days.max()) == 7 and len(panel.calendar) == 8
    row = 0  # A's first bar: amount = volume x mean(OHLC)
    assert panel.bars[row, 5] == pytest.approx(values[0, 0, 4] * values[0, 0, :4].mean(), rel=1e-6)
    assert panel.nbytes == len(panel.bars) * (6 * 4 + 4) + 4 * 8  # 28 bytes a bar, no per-window copy


def test_between_splits_each_instrument_at_the_dates():
    calendar = pd.bdate_range("2021-01-04", periods=10)
    panel = panel_from_arrays(_values(), calendar, ["A", "B", "C"])
    early, late = panel.between(end=calendar[3]), panel.between(start=calendar[4])
    assert early.lengths.tolist() == [4, 4, 4] and late.lengths.tolist() == [6, 6, 6]
    np.testing.assert_array_equal(np.concatenate([early.bars[:4], late.bars[:6]]), panel.bars[:10])


def test_digest_changes_with_any_bar_before_the_cut_only():
    calendar = pd.bdate_range("2021-01-04", periods=10)
    values = _values()
    base = panel_from_arrays(values, calendar, ["A", "B", "C"], cut=calendar[6]).digest()
    after = values.copy()
    after[8, 2, 3] *= 1.5
    before = values.copy()
    before[2, 2, 3] *= 1.5
    assert panel_from_arrays(after, calendar, ["A", "B", "C"], cut=calendar[6]).digest() == base
    assert panel_from_arrays(before, calendar, ["A", "B", "C"], cut=calendar[6]).digest() != base


def test_provider_panel_matches_the_feature_files(pretrain_provider):
    from kronos_quant.data import qlib_bin

    panel = load_price_panel(pretrain_provider, "all", cut="2021-06-30")
    calendar = qlib_bin.read_calendar(pretrain_provider)
    assert panel.date_span()[1] <= "2021-06-30"
    j = 3
    code = panel.instruments[j]
    start, close = qlib_bin.read_feature(pretrain_provider, code, "close")
    rows = slice(panel.offsets[j], panel.offsets[j + 1])
    np.testing.assert_array_equal(panel.bars[rows, 3], close[panel.days[rows] - start])
    assert (calendar[panel.days[rows]] <= pd.Timestamp("2021-06-30")).all()


def test_instrument_selection_by_universe_regex_and_list(pretrain_provider):
    everything = select_instruments(pretrain_provider, "all")
    assert select_instruments(pretrain_provider, "regex:^SH000") == ["SH000300"]
    assert select_instruments(pretrain_provider, [everything[1].lower(), everything[0]]) == everything[:2]
    with pytest.raises(ValueError, match="no universe 'csi9'.*regex"):
        select_instruments(pretrain_provider, "csi9")
