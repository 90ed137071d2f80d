"""KronosStudyModel: KronosModel whose predictions carry the study's per-horizon forecasts.

``predict`` returns a DataFrame indexed (datetime, instrument) with columns

* ``score``: the mean over sample paths of the forecast return close[t+2] / close[t+1] - 1 (bars 1 -> 2
  of the forecast), exactly the interval of the label ``Ref($close, -2) / Ref($close, -1) - 1``; the
  signal is known at the close of t and traded at t+1, so the forecast of bar 1 (t -> t+1) is not
  tradeable and is left out of the headline signal;
* ``h<k>`` for each reported horizon k: the mean-path cumulative return close[t+k] / close[t] - 1
  (``expected_return`` at horizon k).

All columns come from ONE set of sample paths per window (forecast ``horizon`` = the largest of 2
and the reported horizons). The test segment is scored in chunks of ``predict_chunk_days`` trading
days, so memory grows with the chunk, not with the period; scores do not depend on the chunking
(each window's sampling uniforms are keyed by its (datetime, instrument) and the seed).

Training memory: with ``max_train_windows`` the train and valid segments are also built in chunks of
``predict_chunk_days`` and each chunk keeps a seeded random sample of its windows (at most
``max_train_windows`` per segment in all), so the training arrays stop growing with universe x period.
A chunk keeps only windows whose future bars lie inside it (the last ``horizon`` days of each chunk
are not sampled). ``None`` (default) keeps every window, as :class:`KronosModel` does.
"""
from __future__ import annotations

import copy
import logging

import numpy as np
import pandas as pd
from qlib.data import D

from kronos_quant.qlib_ext.model import KronosModel

logger = logging.getLogger(__name__)


class KronosStudyModel(KronosModel):
    """KronosModel + ``horizons`` and ``predict_chunk_days`` (see the module docstring)."""

    def __init__(self, tokenizer, predictor, mode: str = "zero_shot", *, horizons=(1, 2, 5, 10),
                 predict_chunk_days: int = 63, max_train_windows: int | None = None, **kwargs):
        super().__init__(tokenizer, predictor, mode, **kwargs)
        self.horizons = tuple(int(h) for h in horizons)
        self.predict_chunk_days = int(predict_chunk_days)
        self.max_train_windows = None if max_train_windows is None else int(max_train_windows)
        if self.max_train_windows is not None and self.max_train_windows < 1:
            raise ValueError(f"max_train_windows must be >= 1 or null, got {max_train_windows}")
        needed = max(2, *self.horizons)
        if int(self.forecast_settings.horizon) < needed:
            raise ValueError(
                f"forecast horizon {self.forecast_settings.horizon} < {needed}: the study needs bar 2 (the "
                "label's step) and every reported horizon; raise forecast.horizon"
            )
        if self.predict_chunk_days < 1:
            raise ValueError(f"predict_chunk_days must be >= 1, got {predict_chunk_days}")

    def fit(self, dataset, reweighter=None):
        """KronosModel.fit; with ``max_train_windows`` on chunk-wise sampled train/valid windows."""
        if self.max_train_windows is not None and hasattr(dataset, "prepare_windows"):
            dataset = SampledTrainDataset(
                dataset,
                max_windows=self.max_train_windows,
                chunk_days=self.predict_chunk_days,
                seed=int(self.forecast_settings.seed),
            )
        return super().fit(dataset, reweighter=reweighter)

    def predict(self, dataset, segment="test") -> pd.DataFrame:
        """DataFrame (datetime, instrument) x [score, h1, h2, ...]; see the module docstring."""
        if not isinstance(segment, str) or segment not in getattr(dataset, "segments", {}):
            raise ValueError(f"segment must name one of the dataset's segments, got {segment!r}")
        start, end = (pd.Timestamp(t) for t in dataset.segments[segment])
        frames = []
        for chunk_dataset, (first, last) in chunked(dataset, segment, self.predict_chunk_days):
            frames.append(self._predict_chunk(chunk_dataset, segment))
            logger.info("scored %s..%s: %d rows", f"{first:%Y-%m-%d}", f"{last:%Y-%m-%d}", len(frames[-1]))
        return pd.concat(frames).sort_index()

    def _predict_chunk(self, dataset, segment: str) -> pd.DataFrame:
        index, result = self.forecast(dataset, segment)
        return horizon_frame(result.paths, result.last_close, self.horizons, index)


def chunked(dataset, segment: str, chunk_days: int):
    """Yield ``(dataset copy whose segment is one chunk, (first day, last day))`` over the segment's trading days."""
    start, end = (pd.Timestamp(t) for t in dataset.segments[segment])
    days = pd.DatetimeIndex(D.calendar(start_time=start, end_time=end, freq="day"))
    if len(days) == 0:
        raise ValueError(f"segment {segment!r} ({start:%Y-%m-%d}..{end:%Y-%m-%d}) has no trading days")
    for first in range(0, len(days), chunk_days):
        chunk = days[first : first + chunk_days]
        chunk_dataset = copy.copy(dataset)  # shares the handler; only the segment bounds differ
        chunk_dataset.segments = {**dataset.segments, segment: (chunk[0], chunk[-1])}
        yield chunk_dataset, (chunk[0], chunk[-1])


class SampledTrainDataset:
    """A KronosDataset view whose ``prepare(segment, mode="train")`` samples windows chunk by chunk.

    Each chunk keeps ``ceil(max_windows * chunk days / segment days)`` windows drawn without replacement by a
    generator seeded with (seed, chunk start); everything else is the wrapped dataset's.
    """

    def __init__(self, dataset, *, max_windows: int, chunk_days: int, seed: int):
        self.dataset, self.max_windows, self.chunk_days, self.seed = dataset, max_windows, chunk_days, seed

    def __getattr__(self, name):
        return getattr(self.dataset, name)

    def prepare(self, segment, col_set=None, mode: str | None = None, **kwargs):
        if col_set is not None or mode != "train":
            return self.dataset.prepare(segment, col_set=col_set, mode=mode, **kwargs)
        from kronos_quant.data.windows import KronosWindows

        start, end = (pd.Timestamp(t) for t in self.dataset.segments[segment])
        total_days = max(len(D.calendar(start_time=start, end_time=end, freq="day")), 1)
        parts = []
        for chunk_dataset, (first, last) in chunked(self.dataset, segment, self.chunk_days):
            try:
                windows = chunk_dataset.prepare_windows(segment, mode="train")
            except ValueError:  # a chunk without complete windows (e.g. shorter than the horizon)
                continue
            n_days = len(D.calendar(start_time=first, end_time=last, freq="day"))
            keep = min(len(windows), int(np.ceil(self.max_windows * n_days / total_days)))
            rng = np.random.default_rng([self.seed, int(first.strftime("%Y%m%d"))])
            rows = np.sort(rng.choice(len(windows), size=keep, replace=False))
            parts.append(
                KronosWindows(
                    x=windows.x[rows],
                    x_stamp=windows.x_stamp[rows],
                    y_stamp=windows.y_stamp[rows],
                    index=windows.index[rows],
                    y=windows.y[rows],
                    label=None if windows.label is None else windows.label[rows],
                )
            )
        if not parts:
            raise ValueError(
                f"segment {segment!r} yields no training windows in chunks of {self.chunk_days} days; "
                "raise predict_chunk_days or load more history"
            )
        logger.info("segment %s: %d sampled training windows", segment, sum(len(p) for p in parts))
        return KronosWindows(
            x=np.concatenate([p.x for p in parts]),
            x_stamp=np.concatenate([p.x_stamp for p in parts]),
            y_stamp=np.concatenate([p.y_stamp for p in parts]),
            index=parts[0].index.append([p.index for p in parts[1:]]),
            y=np.concatenate([p.y for p in parts]),
            label=None if parts[0].label is None else np.concatenate([p.label for p in parts]),
        )


def horizon_frame(paths: np.ndarray, last_close: np.ndarray, horizons, index: pd.Index) -> pd.DataFrame:
    """Columns ``score`` (mean over paths of close[2]/close[1]-1) and ``h<k>`` (mean close[k]/last_close-1).

    Args:
        paths: (N, P, H, 6) price-space sample paths, H >= max(2, horizons); last_close: (N,) prices.
    """
    closes = np.asarray(paths[..., 3], dtype=np.float64)  # (N, P, H)
    last = np.asarray(last_close, dtype=np.float64)
    columns = {"score": (closes[:, :, 1] / closes[:, :, 0] - 1.0).mean(axis=1)}
    for k in horizons:
        columns[f"h{k}"] = closes[:, :, k - 1].mean(axis=1) / last - 1.0
    return pd.DataFrame(columns, index=index)
