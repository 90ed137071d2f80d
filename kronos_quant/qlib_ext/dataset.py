"""KronosDataset: a DatasetH that prepares Kronos windows (usable in qrun YAML like TSDatasetH).

``prepare(segment)`` / ``prepare(segment, mode="inference")`` returns ``KronosWindows`` for every
(date, instrument) whose decision date lies in the segment; the lookback may reach back before the
segment (history, not leakage), ``y_stamp`` holds the next trading days (``day_future.txt`` at the
end of the data). ``mode="train"`` also fills ``y`` with the next ``horizon`` traded bars and keeps
only samples whose ``y`` lies inside the segment, so train windows never touch valid/test bars.
With a ``col_set`` it behaves exactly like DatasetH (Qlib's records call
``prepare("test", col_set="label", data_key=DataHandlerLP.DK_R)``).

Windows use the handler's RAW data (DK_R): Kronos normalises each window itself, so processors that
touch features (ZScoreNorm, Fillna, CSZScoreNorm on "feature", ...) would be ignored; the dataset
rejects them at construction. Label processors (DropnaLabel, CSRankNorm on "label") are fine: they
shape the label Qlib's records read.

Inference windows read their lookback history themselves: up to ``2 * lookback + 20`` trading days
before a segment's start, whatever the handler's ``start_time``. So a short segment works with a
handler loaded from that segment's first day, which is what Qlib's online ``PredUpdater`` does (it
reloads the handler from the day after the last prediction). Training windows keep to the handler's
range, so the bars a model trains on stay the ones the user loaded. Segments are names or
``slice(start, end)``, like ``DatasetH.prepare``.
"""
from __future__ import annotations

import difflib
import logging

import numpy as np
import pandas as pd
from qlib.data import D
from qlib.data.dataset import DatasetH
from qlib.data.dataset.handler import DataHandlerLP

from kronos_quant.data.dates import check_ordered_ranges, parse_range
from kronos_quant.data.windows import KronosWindows, build_windows, panel_from_frame
from kronos_quant.normalization import FEATURE_COLUMNS

logger = logging.getLogger(__name__)

MODES = ("inference", "train")
LABEL_GROUPS = ("label", ["label"], ("label",))  # processors on these fields groups shape only the label


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
        check_segments(segments)
        super().__init__(handler, segments, **kwargs)
        check_processors(self.handler)
        for name, value in self.segments.items():  # before any model trains on this dataset
            if isinstance(value, (list, tuple)):
                _within_data(name, pd.Timestamp(value[0]), pd.Timestamp(value[1]))

    def prepare(self, segments, col_set=None, data_key=DataHandlerLP.DK_I, mode: str | None = None, **kwargs):
        """KronosWindows for a segment name or slice (no col_set), else DatasetH.prepare."""
        if col_set is not None or not isinstance(segments, (str, slice)):
            return super().prepare(segments, col_set=col_set or DataHandlerLP.CS_ALL, data_key=data_key, **kwargs)
        return self.prepare_windows(segments, mode=mode or "inference")

    def prepare_windows(self, segment: str | slice, mode: str = "inference") -> KronosWindows:
        """Windows whose decision date lies in ``segments[segment]`` (or the ``slice``); see the module docstring."""
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, got {mode!r}")
        start, end = self._segment_bounds(segment)
        frame = self.handler.fetch(slice(None, end), col_set=DataHandlerLP.CS_ALL, data_key=DataHandlerLP.DK_R)
        if frame.empty:
            raise ValueError(f"segment {segment!r} ({start:%Y-%m-%d}..{end:%Y-%m-%d}) has no data in the handler")
        served, dates, instruments = panel_from_frame(frame, columns=FEATURE_COLUMNS + ("LABEL0",))
        first = dates[0] if mode == "train" else min(dates[0], self._history_start(start))
        calendar = pd.DatetimeIndex(D.calendar(start_time=first, end_time=dates[-1], freq="day"), name="datetime")
        served = _reindex(served, dates, calendar)
        member = np.isfinite(served[..., :6]).any(axis=-1) | np.isfinite(served[..., 6])
        history = self._full_history(list(instruments), calendar)
        future = pd.DatetimeIndex(D.calendar(start_time=first, freq="day", future=True))
        windows = build_windows(history, calendar, instruments, lookback=self.lookback,
                                horizon=self.horizon, start=start, end=end, future_calendar=future,
                                with_targets=mode == "train", target_end=end, label=served[..., 6],
                                decision_mask=member)
        if len(windows) == 0:
            raise ValueError(f"segment {segment!r} ({start:%Y-%m-%d}..{end:%Y-%m-%d}) yields no windows: every "
                             f"instrument needs {self.lookback} traded bars before its decision date; the provider "
                             "has too little history before it, or shorten the lookback")
        logger.info("segment %s (%s): %d windows", segment, mode, len(windows))
        return windows

    def _segment_bounds(self, segment) -> tuple[pd.Timestamp, pd.Timestamp]:
        if isinstance(segment, slice):
            if segment.start is None or segment.stop is None or segment.step is not None:
                raise ValueError(f"a slice segment needs a start and an end and no step, e.g. "
                                 f"slice('2022-01-04', '2022-02-28'); got {segment!r}")
            return pd.Timestamp(segment.start), pd.Timestamp(segment.stop)
        if not isinstance(segment, str) or segment not in self.segments:
            raise ValueError(f"unknown segment {segment!r}; this dataset has {list(self.segments)} "
                             "(or pass slice(start, end))")
        start, end = self.segments[segment]
        return _within_data(segment, pd.Timestamp(start), pd.Timestamp(end))

    def _history_start(self, start: pd.Timestamp) -> pd.Timestamp:
        """The trading day ``2 * lookback + 20`` sessions before ``start`` (room for suspensions)."""
        past = D.calendar(end_time=start, freq="day")
        return pd.Timestamp(past[max(len(past) - (2 * self.lookback + 20), 0)]) if len(past) else start

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


def check_segments(segments: dict) -> None:
    """Each (start, end) a valid date range, and train ending before valid and test start (no look-ahead)."""
    if not isinstance(segments, dict):
        raise TypeError(f"segments must be a dict like {{'test': ('2023-07-01', '2024-06-13')}}, got {segments!r}")
    for name in segments:  # a misspelt "tset" would otherwise fail only at predict time, after training
        close = difflib.get_close_matches(str(name), ("train", "valid", "test"), n=1, cutoff=0.7)
        if close and name != close[0]:
            raise ValueError(f"segment {name!r}: did you mean {close[0]!r}? (the records and KronosModel.fit read "
                             "'train', 'valid' and 'test')")
    ranges = {name: value for name, value in segments.items() if isinstance(value, (list, tuple))}
    for name in ("valid", "test"):
        if "train" in ranges and name in ranges:
            check_ordered_ranges({"train": ranges["train"], name: ranges[name]}, owner="segments")
    for name, value in ranges.items():
        parse_range(value, name=f"segments.{name}")


def _within_data(segment, start: pd.Timestamp, end: pd.Timestamp) -> tuple[pd.Timestamp, pd.Timestamp]:
    """(start, end) unchanged, or a ValueError when the segment starts after the provider's last day."""
    calendar = D.calendar(freq="day")
    if len(calendar) and start > pd.Timestamp(calendar[-1]):
        raise ValueError(f"segment {segment!r} starts on {start:%Y-%m-%d}, after the end of the data "
                         f"({pd.Timestamp(calendar[-1]):%Y-%m-%d}); move the segment or update the provider")
    return start, end


def check_processors(handler) -> None:
    """A ValueError for handler processors that would touch features: windows are built from raw bars."""
    processors = list(getattr(handler, "infer_processors", [])) + list(getattr(handler, "learn_processors", []))
    ignored = [type(proc).__name__ for proc in processors if getattr(proc, "fields_group", None) not in LABEL_GROUPS]
    if ignored:
        raise ValueError(f"KronosDataset builds windows from raw bars and normalises each window over its own "
                         f"lookback, so the handler's feature processors {ignored} would be silently ignored; remove "
                         "them from infer_processors/learn_processors (label processors such as DropnaLabel or "
                         "CSRankNorm with fields_group: label are fine)")


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
