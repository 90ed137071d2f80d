"""Kronos input windows from a daily panel: pure, vectorised numpy (no per-sample pandas).

Suspended-bar policy: Kronos sees an instrument's *traded* bars only. A bar is traded when all six
fields are finite (after deriving a missing amount) and its volume is > 0: vendors mark suspensions
either with NaN or with a zero-volume bar that carries the last prices forward (Qlib's CN data does
the latter). Suspended days are removed from that instrument's sequence, so its lookback is its last
``lookback`` traded bars, with those bars' real
timestamps. A sample exists for (t, instrument) only if the instrument traded on t and has at
least ``lookback`` traded bars up to t; the others are counted and logged.

Future stamps (``y_stamp``) of inference windows are the next ``horizon`` trading days of the
calendar (pass a calendar that includes ``day_future.txt`` near the end of the data). Training
windows instead carry ``y``, the instrument's next ``horizon`` traded bars, and ``y_stamp`` holds
*their* timestamps; a training sample needs all of them on or before ``target_end``.

Teacher forcing: ``concat(x, y)`` is a (lookback + horizon)-bar sequence; training code that wants
Kronos' official ``lookback + horizon + 1`` bars asks for ``lookback + 1``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.lib.stride_tricks import sliding_window_view

from kronos_quant.normalization import FEATURE_COLUMNS, WindowScale, derived_amount, fit_scale, normalize
from kronos_quant.time_features import time_features

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class KronosWindows:
    """Samples for Kronos, one per (decision date t, instrument).

    x: float32 (N, lookback, 6) RAW open, high, low, close, volume, amount (not normalised).
    x_stamp: int64 (N, lookback, 5) time features (minute, hour, weekday, day, month) of the lookback bars.
    y_stamp: int64 (N, horizon, 5) time features of the next ``horizon`` trading days.
    index: (datetime, instrument) of t = the last lookback bar; length N, sorted.
    y: float32 (N, horizon, 6) raw future bars (training windows only, else None).
    label: float32 (N,) the handler's label at (t, instrument), NaN when unknown (None if not given).
    """

    x: np.ndarray
    x_stamp: np.ndarray
    y_stamp: np.ndarray
    index: pd.MultiIndex
    y: np.ndarray | None = None
    label: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.index)


def panel_from_frame(frame: pd.DataFrame, columns=FEATURE_COLUMNS) -> tuple[np.ndarray, pd.DatetimeIndex, pd.Index]:
    """Long frame (index with levels datetime and instrument) -> dense panel.

    Returns:
        values float64 (D, N, len(columns)) NaN where absent, sorted dates (D,), sorted instruments (N,).
    """
    if not isinstance(frame.index, pd.MultiIndex) or not {"datetime", "instrument"} <= set(frame.index.names):
        raise ValueError("frame needs a MultiIndex with levels 'datetime' and 'instrument' (Qlib's layout)")
    if isinstance(frame.columns, pd.MultiIndex):
        frame = frame.droplevel(0, axis=1)
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"frame lacks columns {missing}; expected {list(columns)}")
    day_codes, dates = pd.factorize(frame.index.get_level_values("datetime"), sort=True)
    inst_codes, instruments = pd.factorize(frame.index.get_level_values("instrument"), sort=True)
    values = np.full((len(dates), len(instruments), len(columns)), np.nan)
    values[day_codes, inst_codes] = frame.loc[:, list(columns)].to_numpy(np.float64)
    return values, pd.DatetimeIndex(dates, name="datetime"), pd.Index(instruments, name="instrument")


def derive_missing_amount(values: np.ndarray) -> np.ndarray:
    """(D, N, 6) panel with a NaN amount derived as volume x mean(OHLC) wherever the bar is otherwise whole.

    Filled per bar, so an instrument without an amount file (or with gaps in it) is not dropped.
    """
    missing = np.isnan(values[..., 5]) & np.isfinite(values[..., :5]).all(axis=-1)
    if not missing.any():
        return values
    if not np.isnan(values[..., 5]).all():
        logger.info("amount derived as volume x mean(OHLC) on %d bars of %d instruments that lack it",
                    int(missing.sum()), int(missing.any(axis=0).sum()))
    filled = values.copy()
    filled[..., 5] = np.where(missing, derived_amount(values), values[..., 5])
    return filled


def traded_bars(values: np.ndarray) -> np.ndarray:
    """bool (D, N): the bars Kronos sees, all six fields finite and volume > 0 (see the module doc).

    A panel whose volume is never positive carries no volume information; its bars count as traded
    when finite, with a warning.
    """
    finite = np.isfinite(values).all(axis=-1)
    with np.errstate(invalid="ignore"):
        positive = values[..., 4] > 0
    if finite.any() and not positive[finite].any():
        logger.warning("volume is never > 0 in this panel: suspended bars cannot be told apart")
        return finite
    return finite & positive


def _no_traded_bars(values: np.ndarray) -> str:
    """Why a (D, N, 6) panel has no bar Kronos can use (every field of a bar must be finite)."""
    never = [name for j, name in enumerate(FEATURE_COLUMNS) if not np.isfinite(values[..., j]).any()]
    if never == ["volume", "amount"] or never == ["volume"]:
        return ("the provider's volume is NaN on every bar (and amount, derived from it, too), so no bar counts as "
                "traded and Kronos has no window: re-import the data with a volume column "
                "(`kronos-quant data import-csv` requires it) and check it with `kronos-quant data check`")
    if never:
        return (f"the provider's {never} are NaN on every bar, so no bar has all of {list(FEATURE_COLUMNS)}: "
                "re-import the data with those fields and check it with `kronos-quant data check`")
    return ("no bar has all six fields finite with volume > 0 on the same day; check the provider with "
            "`kronos-quant data check`")


def _window_rows(starts: np.ndarray, length: int, source: np.ndarray) -> np.ndarray:
    """``source[s : s + length]`` for every s in ``starts``: (len(starts), length, ...) via a strided view."""
    if len(starts) == 0:  # no window: sliding_window_view would need len(source) >= length
        return np.empty((len(starts), length) + source.shape[1:], dtype=source.dtype)
    view = sliding_window_view(source, length, axis=0)  # (M - length + 1, ..., length)
    return np.moveaxis(view[starts], -1, 1)


def build_windows(values: np.ndarray, calendar: pd.DatetimeIndex, instruments, *, lookback: int,
                  horizon: int, start=None, end=None, future_calendar: pd.DatetimeIndex | None = None,
                  with_targets: bool = False, target_end=None, label: np.ndarray | None = None,
                  decision_mask: np.ndarray | None = None) -> KronosWindows:
    """All windows whose decision date t lies in [start, end].

    Args:
        values: (D, N, 6) raw open, high, low, close, volume, amount on ``calendar``; NaN or volume 0 = not traded.
        calendar: (D,) trading days of the panel; instruments: (N,) names.
        future_calendar: calendar extended beyond D (``day_future.txt``) for inference ``y_stamp``;
            defaults to ``calendar`` (samples without ``horizon`` later days are then skipped).
        with_targets: training windows: fill ``y`` with the next ``horizon`` traded bars, which must lie
            on or before ``target_end`` (default: the panel's last day).
        label: optional (D, N) label panel gathered at each (t, instrument).
        decision_mask: optional bool (D, N): samples only where True (e.g. universe membership on t);
            the lookback still uses every traded bar.
    """
    _validate(values, calendar, instruments, lookback, horizon)
    values = derive_missing_amount(np.asarray(values, dtype=np.float64))
    traded = traded_bars(values)  # (D, N)
    if values.size and not traded.any():
        raise ValueError(_no_traded_bars(values))
    inst, day = np.nonzero(traded.T)  # instrument-major order of traded bars, (M,)
    first = np.searchsorted(inst, inst)  # position of each instrument's first traded bar
    rank = np.arange(inst.size) - first  # traded bars before this one, same instrument
    lo = 0 if start is None else calendar.searchsorted(pd.Timestamp(start))
    hi = len(calendar) if end is None else calendar.searchsorted(pd.Timestamp(end), side="right")
    in_range = (day >= lo) & (day < hi)
    if decision_mask is not None:
        in_range &= np.asarray(decision_mask, dtype=bool)[day, inst]
    ok = in_range & (rank >= lookback - 1)
    if with_targets:
        limit = len(calendar) if target_end is None else calendar.searchsorted(pd.Timestamp(target_end), side="right")
        ahead = np.minimum(np.arange(inst.size) + horizon, inst.size - 1)
        ok &= (inst[ahead] == inst) & (np.arange(inst.size) + horizon < inst.size) & (day[ahead] < limit)
        stamps = None
    else:
        stamps = future_calendar if future_calendar is not None else calendar
        if not stamps[: len(calendar)].equals(calendar):
            raise ValueError("future_calendar must start with the panel's calendar (day_future.txt extends day.txt)")
        ok &= day + horizon < len(stamps)
    n_short = int((in_range & (rank < lookback - 1)).sum())
    n_other = int(in_range.sum()) - int(ok.sum()) - n_short
    if n_short or n_other:
        logger.info("windows: %d samples skipped (< %d traded bars), %d without %d future bars/days",
                    n_short, lookback, n_other, horizon)
    selected = np.flatnonzero(ok)
    order = np.lexsort((inst[selected], day[selected]))  # sort by (datetime, instrument)
    selected = selected[order]
    return _gather(values, calendar, instruments, inst, day, selected, lookback, horizon, stamps, label)


def _gather(values, calendar, instruments, inst, day, selected, lookback, horizon, stamps, label) -> KronosWindows:
    sequence = values[day, inst].astype(np.float32)  # (M, 6) traded bars, instrument-major
    stamp_table = time_features(calendar)  # (D, 5)
    x = _window_rows(selected - lookback + 1, lookback, sequence)
    x_stamp = _window_rows(selected - lookback + 1, lookback, stamp_table[day])
    y = None
    if stamps is None:  # training: the next traded bars and their own stamps
        y = _window_rows(selected + 1, horizon, sequence)
        y_stamp = _window_rows(selected + 1, horizon, stamp_table[day])
    else:
        y_stamp = _window_rows(day[selected] + 1, horizon, time_features(stamps))
    names = np.asarray(instruments)
    index = pd.MultiIndex.from_arrays([calendar[day[selected]], names[inst[selected]]],
                                      names=["datetime", "instrument"])
    gathered_label = None if label is None else np.asarray(label, dtype=np.float32)[day[selected], inst[selected]]
    return KronosWindows(x=x, x_stamp=x_stamp, y_stamp=y_stamp, index=index, y=y, label=gathered_label)


def _validate(values, calendar, instruments, lookback: int, horizon: int) -> None:
    if not isinstance(values, np.ndarray) or values.ndim != 3 or values.shape[-1] != len(FEATURE_COLUMNS):
        raise ValueError(f"values must be an array (dates, instruments, 6) of {FEATURE_COLUMNS}, "
                         f"got {getattr(values, 'shape', type(values))}")
    if values.shape[:2] != (len(calendar), len(instruments)):
        raise ValueError(f"values shape {values.shape[:2]} does not match calendar ({len(calendar)}) "
                         f"x instruments ({len(instruments)})")
    if not pd.DatetimeIndex(calendar).is_monotonic_increasing:
        raise ValueError("calendar must be sorted ascending")
    if list(instruments) != sorted(instruments):
        raise ValueError("instruments must be sorted (panel_from_frame sorts them)")
    if lookback < 1 or horizon < 1:
        raise ValueError(f"lookback and horizon must be >= 1, got {lookback}, {horizon}")


def normalize_windows(windows: KronosWindows, clip: float = 5.0) -> tuple[np.ndarray, np.ndarray | None, WindowScale]:
    """Instance-normalise with lookback-only statistics (no look-ahead).

    Returns:
        x_norm float32 (N, lookback, 6), y_norm float32 (N, horizon, 6) or None, and the
        WindowScale (mean, std of shape (N, 1, 6)) needed to invert predictions.
    """
    scale = fit_scale(windows.x)
    x_norm = normalize(windows.x, scale, clip)
    y_norm = None if windows.y is None else normalize(windows.y, scale, clip)
    return x_norm, y_norm, scale
