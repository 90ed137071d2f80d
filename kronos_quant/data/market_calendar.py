"""Future bar times from an exchange's real sessions (``exchange_calendars``), or plain business days.

Used wherever the package needs times that have not happened yet: the bars ``kronos-quant
forecast`` predicts and ``calendars/day_future.txt`` written by CSV import.

How the times are built:

* ``exchange="XSHG"`` (Shanghai; ``"XSHE"`` Shenzhen, or any ``exchange_calendars`` name): the
  exchange's sessions (holidays removed; XSHE is registered as an alias of XSHG, whose sessions and
  holidays Shenzhen shares) and, for intraday bars, each session's open, lunch break
  and close (XSHG/XSHE: 09:30-11:30 and 13:00-15:00 Asia/Shanghai). Intraday bar times step through
  those trading periods by the bar size; whether a bar is stamped by its start (09:30, 09:35, ...)
  or by its end (09:35, ..., 11:30, 13:05, ...) is read from the history. exchange_calendars
  records holidays up to a fixed year (XSHG: 2026); sessions past it fall back to business days,
  with a warning.
* ``exchange=None``: Monday-Friday business days (no holidays), or every day when the history
  has weekend bars (crypto); intraday bars repeat the times of day seen in the last days of the
  history (so a lunch break in the history is kept).
* ``calendar=``: the user's own future sessions (dates), used as they are.

Naive times are read as the exchange's local time (how A-share vendors write them); tz-aware
times are converted to it and the result is returned in the input's time zone.
"""
from __future__ import annotations

import logging
from collections.abc import Iterable

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

DEFAULT_EXCHANGE = "XSHG"
HISTORY_DAYS = 20  # days of history read to infer the intraday bar stamps


def get_exchange_calendar(exchange: str, start, end):
    """An ``exchange_calendars`` calendar over [start, end], end clipped to the last year it records
    holidays for; None when ``start`` is already past that year."""
    import exchange_calendars as xcals

    start, end = pd.Timestamp(start).normalize(), pd.Timestamp(end).normalize()
    bound = _calendar_class(exchange).bound_max()
    end = max(end, start + pd.Timedelta(days=7))
    if bound is not None:
        if start > bound:
            logger.warning("%s holidays are recorded only up to %s: using plain business days", exchange,
                           pd.Timestamp(bound).date())
            return None
        end = min(end, pd.Timestamp(bound))
    return xcals.get_calendar(exchange, start=start, end=end)


def _calendar_class(exchange: str):
    """The calendar's class (its ``bound_max`` says up to when holidays are known), without building it."""
    import exchange_calendars as xcals

    if "XSHE" not in xcals.get_calendar_names(include_aliases=True):
        xcals.register_calendar_alias("XSHE", "XSHG")  # Shenzhen trades Shanghai's sessions and holidays
    if exchange not in xcals.get_calendar_names(include_aliases=True):
        raise ValueError(f"unknown exchange {exchange!r}; use an exchange_calendars name such as XSHG (Shanghai) "
                         "or XSHE (Shenzhen), or exchange=None for plain business days")
    name = xcals.resolve_alias(exchange)
    # the registry of calendar classes is private; without it, build the default calendar once (cached, ~1 s)
    factories = getattr(xcals.calendar_utils, "_default_calendar_factories", {})
    return factories[name] if name in factories else type(xcals.get_calendar(name))


def next_sessions(after, count: int, *, exchange: str | None = DEFAULT_EXCHANGE,
                  calendar: Iterable | None = None) -> pd.DatetimeIndex:
    """The ``count`` trading days after ``after`` (a date), as naive midnight timestamps.

    ``calendar`` (dates) wins over ``exchange``; ``exchange=None`` means business days.
    """
    if int(count) < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    after = pd.Timestamp(after)
    after = (after.tz_localize(None) if after.tz is not None else after).normalize()
    if calendar is not None:
        return _from_user_calendar(calendar, after, int(count))
    if exchange is None:
        return pd.bdate_range(after + pd.Timedelta(days=1), periods=int(count))
    start = after + pd.Timedelta(days=1)
    cal = get_exchange_calendar(exchange, start, start + pd.Timedelta(days=2 * int(count) + 30))
    if cal is None:
        return pd.bdate_range(start, periods=int(count))
    sessions = pd.DatetimeIndex(cal.sessions[cal.sessions > after][:int(count)]).tz_localize(None)
    return _extend_with_business_days(sessions, after, int(count), exchange, cal.last_session)


def _from_user_calendar(calendar: Iterable, after: pd.Timestamp, count: int) -> pd.DatetimeIndex:
    dates = pd.DatetimeIndex(pd.to_datetime(list(calendar))).normalize().unique().sort_values()
    future = dates[dates > after][:count]
    if len(future) < count:
        raise ValueError(f"the calendar passed has {len(future)} sessions after {after:%Y-%m-%d} but {count} are "
                         "needed; extend it or lower the count")
    return pd.DatetimeIndex(future)


def _extend_with_business_days(sessions: pd.DatetimeIndex, after, count: int, exchange: str, last) -> pd.DatetimeIndex:
    if len(sessions) >= count:
        return sessions
    logger.warning("%s holidays are recorded only up to %s: %d later sessions are plain business days",
                   exchange, pd.Timestamp(last).date(), count - len(sessions))
    start = (sessions[-1] if len(sessions) else after) + pd.Timedelta(days=1)
    return sessions.append(pd.bdate_range(start, periods=count - len(sessions)))


def next_bar_times(times, count: int, *, exchange: str | None = DEFAULT_EXCHANGE,
                   calendar: Iterable | None = None) -> pd.DatetimeIndex:
    """The ``count`` bar times after the last of ``times`` (sorted history, daily or intraday).

    Daily bars (median step >= 20 h, every time at midnight): :func:`next_sessions`. Intraday bars:
    the exchange's trading periods stepped by the bar size (see the module docstring).
    """
    times = pd.DatetimeIndex(pd.to_datetime(times))
    if len(times) < 2:
        raise ValueError("need at least two past bar times to know the bar size")
    if int(count) < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    step = pd.Series(times[-50:]).diff().median()
    if not step > pd.Timedelta(0):
        raise ValueError("bar times must increase; sort the history by time")
    tz, count = times.tz, int(count)
    wall = times.tz_localize(None) if tz is not None else times
    if calendar is None and exchange is None and (wall.dayofweek >= 5).any():
        days = pd.date_range(wall[-1].normalize() + pd.Timedelta(days=1), periods=count)  # trades every day
    elif calendar is not None or exchange is None:
        days = next_sessions(wall[-1], count, exchange=None, calendar=calendar)
    else:
        days = None
    if step >= pd.Timedelta(hours=20) and (times.normalize() == times).all():
        future = days if days is not None else next_sessions(times[-1], count, exchange=exchange)
        return future.tz_localize(tz) if tz is not None else future
    if days is not None:
        future = _repeat_times_of_day(wall, days, count)
        return future.tz_localize(tz) if tz is not None else future
    exchange_tz = _calendar_class(exchange).tz
    local = times.tz_convert(exchange_tz).tz_localize(None) if tz is not None else times
    future = _exchange_bars(local, step, count, exchange)
    return future.tz_localize(exchange_tz).tz_convert(tz) if tz is not None else future


def _repeat_times_of_day(times: pd.DatetimeIndex, days: pd.DatetimeIndex, count: int) -> pd.DatetimeIndex:
    """Business-day fallback (naive times): the recent times of day, on the rest of the last day, then ``days``."""
    recent = times[times >= times[-1].normalize() - pd.Timedelta(days=HISTORY_DAYS)]
    offsets = pd.TimedeltaIndex(sorted(set(recent - recent.normalize())))
    last_day = times[-1].normalize()
    parts = [last_day + offsets[last_day + offsets > times[-1]]]
    needed_days = int(np.ceil(count / max(len(offsets), 1))) + 1
    parts += [day + offsets for day in days[:needed_days]]
    return pd.DatetimeIndex(np.concatenate([part.values for part in parts]))[:count]


def _exchange_bars(local: pd.DatetimeIndex, step: pd.Timedelta, count: int, exchange: str) -> pd.DatetimeIndex:
    """Naive exchange-local bar stamps after ``local[-1]`` on the exchange's trading periods."""
    start = local[-1].normalize() - pd.Timedelta(days=HISTORY_DAYS)
    bars_per_day = max(int(pd.Timedelta(hours=24) / step), 1)
    cal = get_exchange_calendar(exchange, start, local[-1] + pd.Timedelta(days=2 * count // bars_per_day + 30))
    if cal is None:
        return _repeat_times_of_day(local, next_sessions(local[-1], count, exchange=None), count)
    side = _stamp_side(cal.schedule.loc[:local[-1].normalize()], step, local, cal.tz)
    if side is None:
        logger.warning("the bar times do not follow %s's sessions (time zone or clock?): future bars repeat the "
                       "history's times of day on business days", exchange)
        return _repeat_times_of_day(local, next_sessions(local[-1], count, exchange=None), count)
    grid = _session_grid(cal.schedule, step, side).tz_convert(cal.tz).tz_localize(None)
    future = grid[grid > local[-1]][:count]
    if len(future) < count:
        logger.warning("%s holidays are recorded only up to %s: later bars follow business days",
                       exchange, cal.last_session.date())
        after = future[-1] if len(future) else local[-1]
        days = next_sessions(after, count, exchange=None)
        future = future.append(_repeat_times_of_day(local.append(future), days, count - len(future)))
    return future


def _session_grid(schedule: pd.DataFrame, step: pd.Timedelta, side: str) -> pd.DatetimeIndex:
    """UTC bar stamps of every trading period of ``schedule``: bar starts (side 'left') or ends ('right')."""
    stamps = []
    for row in schedule.itertuples(index=False):
        periods = [(row.open, row.close)] if pd.isna(row.break_start) else [(row.open, row.break_start),
                                                                             (row.break_end, row.close)]
        for begin, finish in periods:
            offsets = np.arange(int((finish - begin) / step)) + (1 if side == "right" else 0)
            stamps.append(pd.DatetimeIndex(begin + step * offsets).tz_convert("UTC").values)
    return pd.DatetimeIndex(np.concatenate(stamps)).tz_localize("UTC")


def _stamp_side(past: pd.DataFrame, step, local: pd.DatetimeIndex, tz) -> str | None:
    """'left' or 'right': the stamping that matches >= 90% of the recent past bars, else None."""
    recent = local[local >= local[-1].normalize() - pd.Timedelta(days=HISTORY_DAYS)]
    scores = {}
    for side in ("left", "right"):
        grid = _session_grid(past, step, side).tz_convert(tz).tz_localize(None)
        scores[side] = float(np.isin(recent.values, grid.values).mean())
    best = max(scores, key=scores.get)
    return best if scores[best] >= 0.9 else None
