"""Sample paths in price space, with the summaries researchers ask for (mean, quantiles)."""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from kronos_quant.normalization import FEATURE_COLUMNS


@dataclass(frozen=True)
class ForecastResult:
    """Forecasts of N series, P sample paths each, H future bars, 6 fields.

    paths: float32 (N, P, H, 6) open, high, low, close (price units), volume (shares), amount (currency).
    timestamps: N DatetimeIndex of length H, the forecast bars' times (None: frames get index 0..H-1).
    last_close: float64 (N,) the last observed close of each series, for return signals.
    """

    paths: np.ndarray
    timestamps: Sequence[pd.DatetimeIndex] | None
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
            blocks = {(field, key): values[:, j] for j, field in enumerate(FEATURE_COLUMNS)
                      for key, values in parts.items()}  # official field order: open, high, ..., amount
            frames.append(pd.DataFrame(blocks, index=self._index(i)))
        return frames

    def ohlc_violation_rate(self) -> dict[str, float]:
        """Share of forecast bars whose high/low do not bound open, close and each other.

        ``paths``: over all N * P * H path bars; ``mean``: over the N * H bars of :meth:`mean`.
        """
        return {"paths": float(ohlc_violations(self.paths).mean()),
                "mean": float(ohlc_violations(self.paths.mean(axis=1)).mean())}

    def repair_ohlc(self) -> ForecastResult:
        """A copy whose every path bar has high = max(open, high, low, close) and low = min(...).

        Repairing each path before any averaging keeps the mean and every quantile consistent too
        (high >= open, close >= low path by path, so also for their means and order statistics).
        The raw paths stay the default (the official ``predict`` returns them unrepaired).
        """
        paths = self.paths.copy()
        prices = self.paths[..., :4]
        paths[..., 1], paths[..., 2] = prices.max(axis=-1), prices.min(axis=-1)
        return ForecastResult(paths=paths, timestamps=self.timestamps, last_close=self.last_close)

    def _frame(self, values: np.ndarray, i: int) -> pd.DataFrame:
        return pd.DataFrame(values, columns=list(FEATURE_COLUMNS), index=self._index(i))

    def _index(self, i: int):
        return self.timestamps[i] if self.timestamps is not None else pd.RangeIndex(self.paths.shape[2])


def ohlc_violations(bars: np.ndarray) -> np.ndarray:
    """bool (...,): bars (..., 6) whose high is below open, close or low, or whose low is above open,
    close or high (columns in :data:`~kronos_quant.normalization.FEATURE_COLUMNS` order)."""
    open_, high, low, close = (bars[..., j] for j in range(4))
    return (high < np.maximum(np.maximum(open_, close), low)) | (low > np.minimum(np.minimum(open_, close), high))
