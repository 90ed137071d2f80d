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
                 predict_chunk_days: int = 63, **kwargs):
        super().__init__(tokenizer, predictor, mode, **kwargs)
        self.horizons = tuple(int(h) for h in horizons)
        self.predict_chunk_days = int(predict_chunk_days)
        needed = max(2, *self.horizons)
        if int(self.forecast_settings.horizon) < needed:
            raise ValueError(f"forecast horizon {self.forecast_settings.horizon} < {needed}: the study needs bar 2 (the "
                             "label's step) and every reported horizon; raise forecast.horizon")
        if self.predict_chunk_days < 1:
            raise ValueError(f"predict_chunk_days must be >= 1, got {predict_chunk_days}")

    def predict(self, dataset, segment="test") -> pd.DataFrame:
        """DataFrame (datetime, instrument) x [score, h1, h2, ...]; see the module docstring."""
        if not isinstance(segment, str) or segment not in getattr(dataset, "segments", {}):
            raise ValueError(f"segment must name one of the dataset's segments, got {segment!r}")
        start, end = (pd.Timestamp(t) for t in dataset.segments[segment])
        days = pd.DatetimeIndex(D.calendar(start_time=start, end_time=end, freq="day"))
        if len(days) == 0:
            raise ValueError(f"segment {segment!r} ({start:%Y-%m-%d}..{end:%Y-%m-%d}) has no trading days")
        frames = []
        for first in range(0, len(days), self.predict_chunk_days):
            chunk = days[first:first + self.predict_chunk_days]
            chunk_dataset = copy.copy(dataset)  # shares the handler; only the segment bounds differ
            chunk_dataset.segments = {**dataset.segments, segment: (chunk[0], chunk[-1])}
            frames.append(self._predict_chunk(chunk_dataset, segment))
            logger.info("scored %s..%s: %d rows", f"{chunk[0]:%Y-%m-%d}", f"{chunk[-1]:%Y-%m-%d}", len(frames[-1]))
        return pd.concat(frames).sort_index()

    def _predict_chunk(self, dataset, segment: str) -> pd.DataFrame:
        index, result = self.forecast(dataset, segment)
        return horizon_frame(result.paths, result.last_close, self.horizons, index)


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
