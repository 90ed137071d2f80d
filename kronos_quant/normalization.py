"""Per-window instance normalisation, as Kronos does it: statistics from the lookback only.

The scaling state is returned, never hidden on an object, so the inverse can take it back
(chronos-forecasting's tokenizer does the same).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

PRICE_COLUMNS = ("open", "high", "low", "close")
FEATURE_COLUMNS = ("open", "high", "low", "close", "volume", "amount")
NORM_EPS = 1e-5  # added to the std, as the official predictor does
# the same derived amount as a Qlib expression, for providers without $amount (handler, exposures)
DERIVED_AMOUNT_EXPRESSION = "$volume * ($open + $high + $low + $close) / 4"


class WindowScale(NamedTuple):
    """Per-series, per-column statistics of the lookback window.

    mean, std: float arrays broadcastable to (..., 1, n_features).
    """

    mean: np.ndarray
    std: np.ndarray


def fit_scale(lookback: np.ndarray) -> WindowScale:
    """Statistics of a lookback window.

    Args:
        lookback: (..., T, F) raw values (prices in currency, volume in shares, amount in currency).

    Returns:
        WindowScale with mean and population std of shape (..., 1, F).
    """
    lookback = np.asarray(lookback, dtype=np.float64)
    mean = lookback.mean(axis=-2, keepdims=True)
    std = lookback.std(axis=-2, keepdims=True)  # population std (ddof=0)
    return WindowScale(mean=mean, std=std)


def normalize(values: np.ndarray, scale: WindowScale, clip: float = 5.0) -> np.ndarray:
    """(values - mean) / (std + 1e-5), clipped to ±clip; float32, same shape as ``values``."""
    z = (np.asarray(values, dtype=np.float64) - scale.mean) / (scale.std + NORM_EPS)
    return np.clip(z, -clip, clip).astype(np.float32)


def denormalize(z: np.ndarray, scale: WindowScale) -> np.ndarray:
    """Inverse of :func:`normalize` (without the clip): z * (std + 1e-5) + mean."""
    return np.asarray(z, dtype=np.float64) * (scale.std + NORM_EPS) + scale.mean


def derived_amount(bars: np.ndarray) -> np.ndarray:
    """Traded value where a source has none: volume * mean(open, high, low, close), (..., T, 6) -> (..., T).

    Kronos' fallback (the official predictor's); :data:`DERIVED_AMOUNT_EXPRESSION` is the same in Qlib.
    """
    bars = np.asarray(bars)
    return bars[..., 4] * bars[..., 0:4].mean(axis=-1)


def fill_volume_amount(values: np.ndarray, has_volume: bool, has_amount: bool) -> np.ndarray:
    """Apply Kronos' fallbacks to a (..., T, 6) array whose missing columns hold anything.

    No volume: volume and amount become 0. Volume but no amount: amount = volume * mean(OHLC).
    """
    values = np.array(values, dtype=np.float64, copy=True)
    if not has_volume:
        values[..., 4] = 0.0
        values[..., 5] = 0.0
    elif not has_amount:
        values[..., 5] = derived_amount(values)
    return values
