"""KronosDataset: a DatasetH that prepares Kronos windows (usable in qrun YAML like TSDatasetH).

``prepare(segment)`` / ``prepare(segment, mode="inference")`` returns ``KronosWindows`` for every
(date, instrument) whose decision date lies in the segment; the lookback may reach back before the
segment (history, not leakage), ``y_stamp`` holds the next trading days (``day_future.txt`` at the
end of the data). ``mode="train"`` also fills ``y`` with the next ``horizon`` traded bars and keeps
only samples whose ``y`` lies inside the segment, so train windows never touch valid/test bars.
With a ``col_set`` it behaves exactly like DatasetH (Qlib's records call
``prepare("test", col_set="label", data_key=DataHandlerLP.DK_R)``).

Windows use the handler's RAW data (DK_R): Kronos normalises each window itself.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from qlib.data import D
from qlib.data.dataset import DatasetH
from qlib.data.dataset.handler import DataHandlerLP

from kronos_quant.data.windows import KronosWindows, build_windows, panel_from_frame
from kronos_quant.normalization import FEATURE_COLUMNS

logger = logging.getLogger(__name__)

MODES = ("inference", "train")


class KronosDataset(DatasetH):
    """DatasetH + Kronos windows.

    Args:
        handler: a KronosHandler (instance or config dict).
        segments: {"train": (start, end), "valid": ..., "test": ...}.
        lookback: bars Kronos sees; horizon: future bars/days per sample.
    """

    def __init__(self, handler, segments: dict, lookback: int = 90, horizon: int = 10, **kwargs):
        if int(lookback) < 1 or int(horizon) < 1:
            raise ValueError(f"lookback and horizon must be >= 1, got {lookback}, {horizon}")
        self.lookback = int(lookback)  # public: survives qrun's pickling
        self.horizon = int(horizon)
        super().__init__(handler, segments, **kwargs)

    def prepare(self, segments, col_set=None, data_key=DataHandlerLP.DK_I, mode: str | None = None, **kwargs):
        """KronosWindows for a segment name (no col_set), else DatasetH.prepare."""
        if col_set is not None or not isinstance(segments, str):
            return super().prepare(segments, col_set=col_set or DataHandlerLP.CS_ALL, data_key=data_key, **kwargs)
        return self.prepare_windows(segments, mode=mode or "inference")

    def prepare_windows(self, segment: str, mode: str = "inference") -> KronosWindows:
        """Windows whose decision date lies in ``segments[segment]``; see the module docstring."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        if segment not in self.segments:
            raise ValueError(f"unknown segment {segment!r}; this dataset has {list(self.segments)}")
        start, end = (pd.Timestamp(t) for t in self.segments[segment])
        frame = self.handler.fetch(slice(None, end), col_set=DataHandlerLP.CS_ALL, data_key=DataHandlerLP.DK_R)
        if frame.empty:
            raise ValueError(f"segment {segment!r} ({start:%Y-%m-%d}..{end:%Y-%m-%d}) has no data in the handler")
        served, dates, instruments = panel_from_frame(frame, columns=FEATURE_COLUMNS + ("LABEL0",))
        calendar = pd.DatetimeIndex(D.calendar(start_time=dates[0], end_time=dates[-1], freq="day"), name="datetime")
        served = _reindex(served, dates, calendar)
        member = np.isfinite(served[..., :6]).any(axis=-1) | np.isfinite(served[..., 6])
        history = self._full_history(list(instruments), calendar)
        future = pd.DatetimeIndex(D.calendar(start_time=dates[0], freq="day", future=True))
        windows = build_windows(history, calendar, instruments, lookback=self.lookback,
                                horizon=self.horizon, start=start, end=end, future_calendar=future,
                                with_targets=mode == "train", target_end=end, label=served[..., 6],
                                decision_mask=member)
        if len(windows) == 0:
            raise ValueError(f"segment {segment!r} ({start:%Y-%m-%d}..{end:%Y-%m-%d}) yields no windows: every "
                             f"instrument needs {self.lookback} traded bars before its decision date; load "
                             "more history (handler start_time) or shorten the lookback")
        logger.info("segment %s (%s): %d windows", segment, mode, len(windows))
        return windows

    def _full_history(self, instruments: list[str], calendar: pd.DatetimeIndex) -> np.ndarray:
        """(D, N, 6) bars of ``instruments`` over ``calendar``, NOT cut to universe spans.

        A universe only serves rows while a stock is a member; Kronos' lookback also needs the bars
        from before it joined (history, known at t), so the features are reloaded unfiltered.
        """
        expressions, names = self.handler.get_feature_config()
        frame = D.features(instruments, expressions, start_time=calendar[0], end_time=calendar[-1], freq="day")
        frame.columns = names
        values, dates, found = panel_from_frame(frame)
        out = np.full((len(calendar), len(instruments), len(names)), np.nan)
        out[np.ix_(calendar.get_indexer(dates), pd.Index(instruments).get_indexer(found))] = values
        return out


def _reindex(values: np.ndarray, dates: pd.DatetimeIndex, calendar: pd.DatetimeIndex) -> np.ndarray:
    """Place (len(dates), N, F) rows on ``calendar`` (days without any data become NaN rows)."""
    if len(dates) == len(calendar) and dates.equals(calendar):
        return values
    positions = calendar.get_indexer(dates)
    if (positions < 0).any():
        raise ValueError("the handler returned dates outside qlib's calendar; check calendars/day.txt")
    out = np.full((len(calendar),) + values.shape[1:], np.nan)
    out[positions] = values
    return out
