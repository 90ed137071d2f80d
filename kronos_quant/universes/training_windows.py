"""Training windows from real history and from generated universes, and the mix of the two.

Windows are Kronos training windows (:class:`~kronos_quant.training.datasets.WindowArrays`): ``lookback + 1``
context bars plus ``horizon`` target bars, normalised with the context's statistics only
(kronos_quant.data.windows.normalize_windows). Real windows end on or before t0. Generated windows take
their targets from the generated days (their context may reach back into the real history).
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from kronos_quant.data.windows import build_windows, normalize_windows
from kronos_quant.training.datasets import WindowArrays, mix_windows  # noqa: F401 (re-exported)
from kronos_quant.universes.generate import Universes
from kronos_quant.universes.provider import universe_bars


def windows_from_panel(bars: np.ndarray, dates: pd.DatetimeIndex, *, lookback: int, horizon: int, start=None,
                       end=None, target_end=None, stride: int = 1, clip: float = 5.0) -> WindowArrays:
    """WindowArrays (N, lookback + 1 + horizon, 6) of every member and decision date in [start, end].

    Args:
        bars: (D, I, 6) raw bars on ``dates`` (NaN or volume 0 = not traded).
        target_end: the last day a target bar may fall on (e.g. t0 for real-history windows).
        stride: keep every ``stride``-th window (in (date, instrument) order).
    """
    instruments = [f"I{column:06d}" for column in range(bars.shape[1])]
    windows = build_windows(bars, dates, instruments, lookback=lookback + 1, horizon=horizon, start=start,
                            end=end, with_targets=True, target_end=target_end)
    if len(windows.index) == 0:
        raise ValueError(f"no window of {lookback + 1} + {horizon} traded bars in {dates[0].date()}.."
                         f"{dates[-1].date()}; load more history or shorten lookback/horizon")
    x_norm, y_norm, _ = normalize_windows(windows, clip=clip)
    keep = slice(None, None, max(1, int(stride)))
    bars_out = np.concatenate([x_norm, y_norm], axis=1)[keep]
    stamps = np.concatenate([windows.x_stamp, windows.y_stamp], axis=1)[keep]
    return WindowArrays(bars_out.astype(np.float32), stamps.astype(np.int64))


def generated_windows(universes: Universes, *, lookback: int, horizon: int, stride: int = 1,
                      clip: float = 5.0) -> WindowArrays:
    """Windows whose decision date is t0 or later in every universe, so their targets are generated bars."""
    dates = universes.all_dates()
    parts = [windows_from_panel(universe_bars(universes, index), dates, lookback=lookback, horizon=horizon,
                                start=universes.history.t0, stride=stride, clip=clip)
             for index in range(universes.n_universes)]
    return concat_windows(parts)


def concat_windows(parts: list[WindowArrays]) -> WindowArrays:
    return WindowArrays(np.concatenate([p.bars for p in parts]), np.concatenate([p.stamps for p in parts]))
