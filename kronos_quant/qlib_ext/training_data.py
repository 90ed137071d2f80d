"""Qlib provider -> training WindowArrays (the only training module that imports qlib).

Windows come from :class:`~kronos_quant.qlib_ext.dataset.KronosDataset` in ``mode="train"``:
train windows lie entirely inside the train segment and valid windows inside the valid segment
(their future bars included), so there is no overlap across the split. Each window holds
``lookback + 1`` context bars and ``horizon`` future bars (Kronos' ``lookback + horizon + 1``),
normalised with statistics of its context bars only (``normalize_windows``: no look-ahead).
"""
from __future__ import annotations

import logging
from pathlib import Path

import numpy as np

from kronos_quant.data.windows import KronosWindows, normalize_windows
from kronos_quant.training.config import DataConfig
from kronos_quant.training.datasets import WindowArrays

logger = logging.getLogger(__name__)


def windows_to_arrays(windows: KronosWindows, clip: float = 5.0) -> WindowArrays:
    """Training KronosWindows (with ``y``) -> WindowArrays of concat(x, y): (N, lookback + horizon, 6/5)."""
    if windows.y is None:
        raise ValueError("training needs windows with future bars: prepare the segment with mode='train'")
    x_norm, y_norm, _ = normalize_windows(windows, clip=clip)
    bars = np.concatenate([x_norm, y_norm], axis=1)
    stamps = np.concatenate([windows.x_stamp, windows.y_stamp], axis=1)
    return WindowArrays(bars, stamps)


def init_qlib_provider(provider_uri: str | Path) -> None:
    """qlib on ``provider_uri`` (region cn, no caches) unless qlib already points there."""
    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    init_qlib(provider_uri=provider_uri, reuse=True)


def build_window_arrays(data: DataConfig) -> tuple[WindowArrays, WindowArrays]:
    """(train, valid) WindowArrays for ``data`` (a Qlib provider + universe + segments)."""
    if data.provider_uri is None:
        raise ValueError("build_window_arrays needs data.provider_uri (a Qlib data dir)")
    from kronos_quant.qlib_ext.dataset import KronosDataset

    init_qlib_provider(data.provider_uri)
    handler = {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
               "kwargs": {"instruments": data.instruments, "start_time": data.start_time or data.train[0],
                          "end_time": data.valid[1]}}
    dataset = KronosDataset(handler=handler, segments={"train": data.train, "valid": data.valid},
                            lookback=data.lookback + 1, horizon=data.horizon)
    arrays = []
    for segment in ("train", "valid"):
        windows = dataset.prepare(segment, mode="train")
        arrays.append(windows_to_arrays(windows, clip=data.clip))
        logger.info("%s: %d windows of %d bars", segment, len(windows), arrays[-1].length)
    return arrays[0], arrays[1]

