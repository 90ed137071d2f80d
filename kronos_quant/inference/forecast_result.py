"""Sample paths in price space, with the summaries researchers ask for (mean, quantiles)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from kronos_quant.normalization import FEATURE_COLUMNS


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts of N series, P sample paths each, H future bars, 6 fields.

    paths: float32 (N, P, H, 6) open, high, low, close (price units), volume (shares), amount (currency).
    timestamps: N DatetimeIndex of length H, the forecast bars' times.
    last_close: float64 (N,) the last observed close of each series, for return signals.
    """

    paths: np.ndarray
    timestamps: Sequence[pd.DatetimeIndex]
    last_close: np.ndarray

    def __post_init__(self) -> None:
        if self.paths.ndim != 4 or self.paths.shape[-1] != len(FEATURE_COLUMNS):
            raise ValueError(f"paths must be (N, P, H, 6), got {self.paths.shape}")

    @property
    def n_series(self) -> int:
        return self.paths.shape[0]

    def mean(self) -> list[pd.DataFrame]:
        """Per series, the average over paths (the official ``predict`` output): (H, 6) frames."""
        return [self._frame(self.paths[i].mean(axis=0), i) for i in range(self.n_series)]

    def quantile(self, q: float) -> list[pd.DataFrame]:
        """Per series, the q-quantile over paths of each field and bar: (H, 6) frames."""
        if not 0.0 <= q <= 1.0:
            raise ValueError(f"quantile level must be in [0, 1], got {q}")
        return [self._frame(np.quantile(self.paths[i], q, axis=0), i) for i in range(self.n_series)]

    def quantiles(self, levels: Sequence[float] = (0.1, 0.5, 0.9)) -> list[pd.DataFrame]:
        """Per series, one (H, 6 * len(levels)) frame with columns (field, level), plus 'mean'."""
        frames = []
        for i in range(self.n_series):
            parts = {level: np.quantile(self.paths[i], level, axis=0) for level in levels}
            parts["mean"] = self.paths[i].mean(axis=0)
            blocks = {(field, key): values[:, j] for key, values in parts.items()
                      for j, field in enumerate(FEATURE_COLUMNS)}
            frame = pd.DataFrame(blocks, index=self.timestamps[i])
            frames.append(frame.sort_index(axis=1, level=0, sort_remaining=False))
        return frames

    def _frame(self, values: np.ndarray, i: int) -> pd.DataFrame:
        return pd.DataFrame(values, columns=list(FEATURE_COLUMNS), index=self.timestamps[i])
