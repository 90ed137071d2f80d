"""One way through inference: raw windows in, price-space sample paths out.

Every forecast in the package (``KronosPredictor``, ``KronosModel.predict``/``forecast``, distributed
scoring, benchmarks) comes through :func:`forecast_windows`:

1. each window is normalised over its own lookback (:func:`~kronos_quant.normalization.fit_scale`,
   :func:`~kronos_quant.normalization.normalize`): no statistic sees a forecast bar;
2. windows are grouped by lookback length and chunked to a memory budget (:mod:`.batching`);
3. each chunk is tokenised, generated and decoded (:func:`~kronos_quant.inference.generation.generate_paths`);
4. the paths go back to price units with :func:`~kronos_quant.normalization.denormalize`.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from kronos_quant.inference.batching import plan_chunks
from kronos_quant.inference.forecast_result import ForecastResult
from kronos_quant.inference.generation import generate_paths
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.model.kronos import Kronos
from kronos_quant.model.tokenizer import KronosTokenizer
from kronos_quant.normalization import FEATURE_COLUMNS, WindowScale, denormalize, fit_scale, normalize


def forecast_windows(tokenizer: KronosTokenizer, model: Kronos, x, x_stamp, y_stamp, config: GenerationConfig,
                     uniforms: torch.Tensor, *, clip: float = 5.0, device=None, memory_budget_gb: float = 2.0,
                     progress: bool = False,
                     timestamps: Sequence[pd.DatetimeIndex] | None = None) -> ForecastResult:
    """Sample paths of N raw windows, in price units.

    Args:
        x: raw bars (open, high, low, close in price units, volume, amount): an (N, L, 6) array, or a
            list of N (L_i, 6) arrays whose lengths may differ.
        x_stamp: (N, L, 5) int time features of the lookback bars (or a list of (L_i, 5)).
        y_stamp: (N, H, 5) int time features of the forecast bars, H = ``config.pred_len`` (or a list).
        config: horizon, context, sampling, sample count P, engine, sliding and precision.
        uniforms: (N, P, H, 2) sampling uniforms, one block per window
            (:func:`~kronos_quant.inference.sampling.draw_uniforms` or ``keyed_uniforms``).
        clip: normalised bars are clipped to +-clip.
        device: where the networks run; None: the model's device.
        memory_budget_gb: per-chunk memory target.
        progress: a tqdm bar over chunks.
        timestamps: N DatetimeIndex of length H (the forecast bars' times), or None.
    Returns:
        ForecastResult with paths float32 (N, P, H, 6), the timestamps, last_close float64 (N,).
    """
    bars = _window_list(x, "x", len(FEATURE_COLUMNS))
    x_stamps, y_stamps = _window_list(x_stamp, "x_stamp", 5), _window_list(y_stamp, "y_stamp", 5)
    count = _check_inputs(bars, x_stamps, y_stamps, config, uniforms, clip)
    device = torch.device(device) if device is not None else next(model.parameters()).device
    paths = np.empty((count, config.sample_count, config.pred_len, len(FEATURE_COLUMNS)), dtype=np.float32)
    plan = plan_chunks([len(window) for window in bars], model, config, memory_budget_gb, tokenizer=tokenizer)
    for rows in tqdm(plan, desc="Kronos forecast", unit="chunk", disable=not progress):
        lookback = np.stack([bars[i] for i in rows]).astype(np.float64)  # (B, L, 6)
        scale = fit_scale(lookback)  # (B, 1, 6), this chunk's lookbacks only
        x_norm = torch.from_numpy(normalize(lookback, scale, clip)).to(device)
        x_time = torch.from_numpy(np.stack([x_stamps[i] for i in rows])).long().to(device)
        y_time = torch.from_numpy(np.stack([y_stamps[i] for i in rows])).long().to(device)
        # float32 on the host: sampling compares in float32 anyway, and some devices (mps) lack float64
        normalized = generate_paths(tokenizer, model, x_norm, x_time, y_time, config,
                                    uniforms[torch.from_numpy(rows)].float().to(device))
        path_scale = WindowScale(mean=scale.mean[:, None], std=scale.std[:, None])  # (B, 1, 1, 6)
        paths[rows] = denormalize(normalized.cpu().numpy(), path_scale)
    last_close = np.array([window[-1, 3] for window in bars], dtype=np.float64)
    return ForecastResult(paths=paths, timestamps=timestamps, last_close=last_close)


def _window_list(values, name: str, width: int) -> list[np.ndarray]:
    """An (N, L, width) array or a list of (L_i, width) arrays -> a list of 2-D arrays (no copies)."""
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    if isinstance(values, np.ndarray):
        if values.ndim != 3 or values.shape[-1] != width:
            raise ValueError(f"{name} must be (N, L, {width}) or a list of (L, {width}) arrays, got {values.shape}")
        return list(values)
    if not isinstance(values, (list, tuple)):
        raise TypeError(f"{name} must be an (N, L, {width}) array or a list of (L, {width}) arrays, "
                        f"got {type(values).__name__}")
    windows = [np.asarray(window) for window in values]
    for i, window in enumerate(windows):
        if window.ndim != 2 or window.shape[-1] != width or len(window) == 0:
            raise ValueError(f"{name}[{i}] must be a non-empty (L, {width}) array, got shape {window.shape}")
    return windows


def _check_inputs(bars, x_stamps, y_stamps, config: GenerationConfig, uniforms: torch.Tensor, clip: float) -> int:
    count = len(bars)
    if not len(x_stamps) == len(y_stamps) == count:
        raise ValueError(f"x, x_stamp and y_stamp must hold one window each, got {count}, {len(x_stamps)}, "
                         f"{len(y_stamps)}")
    expected = (count, config.sample_count, config.pred_len, 2)
    if tuple(uniforms.shape) != expected:
        raise ValueError(f"uniforms must be (N, sample_count, pred_len, 2) = {expected}, got {tuple(uniforms.shape)}")
    if not clip > 0:
        raise ValueError(f"clip must be > 0, got {clip}")
    for i in range(count):
        if len(x_stamps[i]) != len(bars[i]):
            raise ValueError(f"window {i}: {len(bars[i])} bars but {len(x_stamps[i])} x_stamp rows; one per bar")
        if len(y_stamps[i]) != config.pred_len:
            raise ValueError(f"window {i}: {len(y_stamps[i])} y_stamp rows but pred_len={config.pred_len}")
    return count
