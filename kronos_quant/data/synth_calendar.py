"""Synthetic market, part 1: trading calendar, listings, suspensions and index membership.

Everything here is deterministic given a ``numpy.random.Generator`` and vectorised over
instruments; no loop runs per bar.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

MIN_LISTED_DAYS = 60  # a new listing joins the index only after this many trading days
SCORE_WINDOW = 60  # the index ranks by average market cap over this many days before a rebalance


def _holidays(years: range) -> pd.DatetimeIndex:
    """A deterministic, China-like set of market holidays (calendar days) for each year.

    New Year's Day, a Spring-Festival week whose start moves between late January and mid
    February, Labour Day (1-3 May) and the National Day week (1-7 October).
    """
    days: list[pd.Timestamp] = []
    for year in years:
        days.append(pd.Timestamp(year, 1, 1))
        spring = pd.Timestamp(year, 1, 21) + pd.Timedelta(days=(year * 11) % 21)
        days.extend(pd.date_range(spring, periods=7, freq="D"))
        days.extend(pd.date_range(pd.Timestamp(year, 5, 1), periods=3, freq="D"))
        days.extend(pd.date_range(pd.Timestamp(year, 10, 1), periods=7, freq="D"))
    return pd.DatetimeIndex(days)


def trading_calendar(start: str, end: str, n_future_days: int) -> tuple[pd.DatetimeIndex, pd.DatetimeIndex]:
    """Weekdays in [start, end] minus holidays, and the same calendar extended by ``n_future_days``.

    Returns:
        (calendar, future_calendar); future_calendar[:len(calendar)] equals calendar.
    """
    start_ts, end_ts = pd.Timestamp(start), pd.Timestamp(end)
    if end_ts <= start_ts:
        raise ValueError(f"end ({end}) must be after start ({start})")
    horizon_end = end_ts + pd.Timedelta(days=2 * n_future_days + 30)
    weekdays = pd.bdate_range(start_ts, horizon_end)
    holidays = _holidays(range(start_ts.year, horizon_end.year + 1))
    days = weekdays[~weekdays.isin(holidays)]
    calendar = days[days <= end_ts]
    future = days[: len(calendar) + n_future_days]
    return pd.DatetimeIndex(calendar, name="datetime"), pd.DatetimeIndex(future, name="datetime")


def listing_days(rng: np.random.Generator, n_days: int, n_instruments: int,
                 late_fraction: float, delist_fraction: float) -> tuple[np.ndarray, np.ndarray]:
    """First and one-past-last trading-day positions of each instrument.

    At least one instrument lists late (IPO between 5% and 80% of the sample) and at least one
    delists (between 35% and 95%); the two groups are disjoint.

    Returns:
        (list_index, delist_index): int arrays (n_instruments,); data exists on days [list, delist).
    """
    n_late = max(1, int(round(late_fraction * n_instruments)))
    n_delist = max(1, int(round(delist_fraction * n_instruments)))
    chosen = rng.permutation(n_instruments)
    late, delisted = chosen[:n_late], chosen[n_late:n_late + n_delist]
    list_index = np.zeros(n_instruments, dtype=np.int64)
    delist_index = np.full(n_instruments, n_days, dtype=np.int64)
    list_index[late] = rng.integers(int(0.05 * n_days), int(0.8 * n_days), size=n_late)
    delist_index[delisted] = rng.integers(int(0.35 * n_days), int(0.95 * n_days), size=n_delist)
    return list_index, delist_index


def suspension_mask(rng: np.random.Generator, n_days: int, n_instruments: int,
                    runs_per_year: float, mean_length: float) -> np.ndarray:
    """Bool (n_days, n_instruments): True on suspended days (runs of geometric length)."""
    n_runs = rng.poisson(runs_per_year * n_days / 244.0, size=n_instruments)
    columns = np.repeat(np.arange(n_instruments), n_runs)
    starts = rng.integers(0, n_days, size=columns.size)
    lengths = rng.geometric(1.0 / mean_length, size=columns.size)
    change = np.zeros((n_days + 1, n_instruments), dtype=np.int64)
    np.add.at(change, (starts, columns), 1)
    np.add.at(change, (np.minimum(starts + lengths, n_days), columns), -1)
    return np.cumsum(change[:-1], axis=0) > 0


def rebalance_days(calendar: pd.DatetimeIndex) -> np.ndarray:
    """Positions of semi-annual index rebalances: day 0 and the first trading day from 15 June / 15 December."""
    years = range(calendar[0].year, calendar[-1].year + 1)
    targets = [pd.Timestamp(y, m, 15) for y in years for m in (6, 12)]
    positions = calendar.searchsorted(pd.DatetimeIndex(targets))
    positions = positions[(positions > 0) & (positions < len(calendar))]
    return np.unique(np.concatenate([[0], positions]))


def index_membership(rng: np.random.Generator, market_cap: np.ndarray, list_index: np.ndarray,
                     delist_index: np.ndarray, calendar: pd.DatetimeIndex, size: int,
                     score_noise: float) -> np.ndarray:
    """CSI300-like membership: at each rebalance keep the ``size`` largest eligible names.

    Args:
        market_cap: (D, N) raw market cap, NaN where not traded.
        score_noise: lognormal noise on the ranking score (the committee's other criteria);
            it makes names near the cut leave and rejoin.

    Returns:
        bool (D, N) membership; a member leaves on delisting.
    """
    n_days, n_instruments = market_cap.shape
    if size >= n_instruments:
        raise ValueError(f"universe size {size} must be smaller than n_instruments {n_instruments}")
    avg_cap = pd.DataFrame(market_cap).rolling(SCORE_WINDOW, min_periods=1).mean().to_numpy()
    rebalances = rebalance_days(calendar)
    member = np.zeros((n_days, n_instruments), dtype=bool)
    bounds = np.append(rebalances, n_days)
    for begin, stop in zip(bounds[:-1], bounds[1:]):
        seasoned = (list_index == 0) | (list_index <= begin - MIN_LISTED_DAYS)
        eligible = seasoned & (delist_index > begin)
        score = avg_cap[max(begin - 1, 0)] * np.exp(score_noise * rng.standard_normal(n_instruments))
        score = np.where(eligible & np.isfinite(score), score, -np.inf)
        top = np.argsort(-score, kind="stable")[:size]
        top = top[np.isfinite(score[top])]
        member[begin:stop, top] = True
    alive = np.arange(n_days)[:, None] < delist_index[None, :]
    return member & alive


def mask_to_spans(mask: np.ndarray, calendar: pd.DatetimeIndex, instruments: list[str]) -> pd.DataFrame:
    """Runs of True in each column of a (D, N) mask as spans (instrument, start, end), end inclusive."""
    padded = np.zeros((mask.shape[0] + 2, mask.shape[1]), dtype=np.int8)
    padded[1:-1] = mask
    edges = np.diff(padded, axis=0)
    start_day, start_col = np.nonzero(edges == 1)
    end_day, end_col = np.nonzero(edges == -1)
    start_order = np.lexsort((start_day, start_col))
    end_order = np.lexsort((end_day, end_col))
    spans = pd.DataFrame({
        "instrument": np.asarray(instruments)[start_col[start_order]],
        "start": calendar[start_day[start_order]],
        "end": calendar[end_day[end_order] - 1],
    })
    return spans.reset_index(drop=True)
