"""A panel without usable volume fails in build_windows with an error that names the field and the fix."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.data.windows import build_windows


def _panel(days=60, instruments=3, seed=0):
    rng = np.random.default_rng(seed)
    close = 10 * np.cumprod(1 + 0.01 * rng.standard_normal((days, instruments)), axis=0)
    values = np.stack([close, close * 1.01, close * 0.99, close, np.full_like(close, 1e4), close * 1e4], axis=-1)
    return values, pd.bdate_range("2021-01-04", periods=days), [f"SH60000{i}" for i in range(instruments)]


@pytest.mark.parametrize("with_targets", [True, False])
def test_all_nan_volume_is_named(with_targets):
    values, calendar, instruments = _panel()
    values[..., 4] = np.nan  # volume missing everywhere; amount present
    with pytest.raises(ValueError, match="volume is NaN on every bar.*import-csv"):
        build_windows(values, calendar, instruments, lookback=10, horizon=3, with_targets=with_targets)
    values[..., 5] = np.nan  # amount too (it would be derived from volume)
    with pytest.raises(ValueError, match="volume is NaN on every bar"):
        build_windows(values, calendar, instruments, lookback=10, horizon=3, with_targets=with_targets)


def test_other_all_nan_fields_are_named():
    values, calendar, instruments = _panel()
    values[..., 1] = np.nan
    with pytest.raises(ValueError, match="\\['high'\\] are NaN on every bar"):
        build_windows(values, calendar, instruments, lookback=10, horizon=3)


def test_a_segment_without_windows_is_empty_not_a_crash():
    values, calendar, instruments = _panel(days=3)  # 9 traded bars in all: fewer than one lookback
    windows = build_windows(values, calendar, instruments, lookback=10, horizon=3, with_targets=True)
    assert len(windows) == 0 and windows.x.shape == (0, 10, 6) and windows.y.shape == (0, 3, 6)
    good = build_windows(*_panel(), lookback=10, horizon=3, with_targets=True)
    assert len(good) == 3 * (60 - 10 + 1 - 3) and np.isfinite(good.x).all()
