"""Future bar times from exchange sessions (exchange_calendars) or business days."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from kronos_quant.data.market_calendar import next_bar_times, next_sessions


def five_minute_history(days, *, side="right") -> pd.DatetimeIndex:
    """A-share 5-minute bars (09:30-11:30, 13:00-15:00) stamped by bar end (or start) on ``days``."""
    shift = 5 if side == "right" else 0
    morning = pd.timedelta_range("09:30:00", "11:25:00", freq="5min") + pd.Timedelta(minutes=shift)
    afternoon = pd.timedelta_range("13:00:00", "14:55:00", freq="5min") + pd.Timedelta(minutes=shift)
    return pd.DatetimeIndex([pd.Timestamp(day) + offset for day in days for offset in morning.append(afternoon)])


def test_daily_sessions_skip_exchange_holidays():
    # 2024-10-01..07: National Day, a holiday week in Shanghai but weekdays for plain business days
    xshg = next_sessions("2024-09-27", 3, exchange="XSHG")
    assert list(xshg.strftime("%m-%d")) == ["09-30", "10-08", "10-09"]
    plain = next_sessions("2024-09-27", 3, exchange=None)
    assert list(plain.strftime("%m-%d")) == ["09-30", "10-01", "10-02"]
    assert list(next_sessions("2024-09-27", 3, exchange="XSHE")) == list(xshg)  # Shenzhen shares the calendar


def test_intraday_bars_skip_the_lunch_break_and_the_night():
    history = five_minute_history(["2024-09-26", "2024-09-27"])[:-24]  # ends 2024-09-27 11:30
    future = next_bar_times(history, 30, exchange="XSHG")
    assert future[0] == pd.Timestamp("2024-09-27 13:05") and future[23] == pd.Timestamp("2024-09-27 15:00")
    assert future[24] == pd.Timestamp("2024-09-30 09:35")  # Monday; then the National Day week is skipped
    assert not ((future.time > pd.Timestamp("11:30").time()) & (future.time < pd.Timestamp("13:05").time())).any()
    later = next_bar_times(history, 24 + 48 + 1, exchange="XSHG")
    assert later[-1] == pd.Timestamp("2024-10-08 09:35")


def test_bar_start_stamps_are_kept():
    history = five_minute_history(["2024-09-26", "2024-09-27"], side="left")[:-24]  # ends 11:25
    future = next_bar_times(history, 2, exchange="XSHG")
    assert list(future.strftime("%H:%M")) == ["13:00", "13:05"]


def test_business_day_fallback_repeats_the_histories_times_of_day():
    history = five_minute_history(["2024-09-26", "2024-09-27"])
    future = next_bar_times(history, 49, exchange=None)
    assert future[0] == pd.Timestamp("2024-09-30 09:35") and future[24] == pd.Timestamp("2024-09-30 13:05")
    assert future[48] == pd.Timestamp("2024-10-01 09:35")  # no holidays without an exchange


def test_tz_aware_times_come_back_in_their_zone():
    history = five_minute_history(["2024-09-26"]).tz_localize("Asia/Shanghai").tz_convert("UTC")
    future = next_bar_times(history[:-24], 1, exchange="XSHG")
    assert str(future.tz) == "UTC" and future[0] == pd.Timestamp("2024-09-26 13:05", tz="Asia/Shanghai")


def test_a_user_calendar_is_used_as_given():
    days = pd.DatetimeIndex(["2024-09-26", "2024-09-27"])
    assert list(next_bar_times(days, 2, calendar=["2024-10-03", "2024-09-28", "2024-10-05"])) == \
        [pd.Timestamp("2024-09-28"), pd.Timestamp("2024-10-03")]
    with pytest.raises(ValueError, match="extend it"):
        next_sessions("2024-09-27", 5, calendar=["2024-09-30"])


def test_years_without_recorded_holidays_fall_back_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        days = next_sessions("2026-12-29", 4, exchange="XSHG")
    assert days[0] == pd.Timestamp("2026-12-30") and np.all(days.dayofweek < 5)
    assert "recorded only up to" in caplog.text


@pytest.mark.parametrize("kwargs, match", [
    (dict(exchange="NOPE"), "unknown exchange"),
    (dict(count=0), "count must be >= 1"),
])
def test_bad_arguments_are_explained(kwargs, match):
    with pytest.raises(ValueError, match=match):
        next_bar_times(pd.DatetimeIndex(["2024-09-26", "2024-09-27"]), **{"count": 3, **kwargs})


def test_unsorted_history_is_rejected():
    with pytest.raises(ValueError, match="sort"):
        next_bar_times(pd.DatetimeIndex(["2024-09-27", "2024-09-26", "2024-09-25"]), 2)


def test_histories_that_trade_on_weekends_continue_every_day():
    every_day = pd.date_range(end="2024-03-22", periods=30)  # a Friday; crypto trades on weekends
    assert list(next_bar_times(every_day, 2, exchange=None).strftime("%a")) == ["Sat", "Sun"]
    hourly = pd.date_range(end="2024-03-22 23:00", periods=24 * 10, freq="h")
    future = next_bar_times(hourly, 25, exchange=None)
    assert future[0] == pd.Timestamp("2024-03-23 00:00") and future[24] == pd.Timestamp("2024-03-24 00:00")
