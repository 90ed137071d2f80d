"""Bar frequency: inferred from timestamps and from training time features, recorded beside trained checkpoints."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.bar_frequency import bar_freq_of_stamps, format_bar_freq, infer_bar_freq, same_bar_freq
from kronos_quant.time_features import time_features


def _a_share_five_minute(days: int) -> pd.DatetimeIndex:
    offsets = pd.timedelta_range("09:35:00", "11:30:00", freq="5min").append(
        pd.timedelta_range("13:05:00", "15:00:00", freq="5min"))
    return pd.DatetimeIndex([day + offset for day in pd.bdate_range("2024-12-27", periods=days) for offset in offsets])


@pytest.mark.parametrize("times, expected", [
    (pd.bdate_range("2024-12-20", periods=30), "1D"),  # weekends and the new year skipped
    (_a_share_five_minute(3), "5min"),  # lunch break and nights skipped
    (pd.date_range("2024-01-01", periods=50, freq="h"), "1h"),
    (pd.date_range("2024-01-05", periods=20, freq="7D"), "7D"),
])
def test_timestamps_and_time_features_agree(times, expected):
    assert infer_bar_freq(times) == expected
    windows = time_features(times).reshape(2, len(times) // 2, 5)  # windows of the same series
    assert bar_freq_of_stamps(windows) == expected


def test_formats_and_comparisons():
    assert format_bar_freq(pd.Timedelta(minutes=90)) == "90min"
    assert format_bar_freq(pd.Timedelta(hours=2)) == "2h"
    assert infer_bar_freq(pd.DatetimeIndex(["2024-01-02"])) is None
    assert same_bar_freq("1D", "1D") and not same_bar_freq("1D", "5min") and not same_bar_freq("1D", "7D")
    with pytest.raises(ValueError, match="'fortnightly' is not a spacing"):
        same_bar_freq("fortnightly", "1D")


def test_stamps_without_spacing_give_none():
    stamps = np.tile(time_features(pd.DatetimeIndex(["2024-01-02"])), (3, 4, 1))  # every bar the same time
    assert bar_freq_of_stamps(stamps) is None
