"""Kronos forecast features per (datetime, instrument), from ONE set of sample paths (no qlib here).

Every feature of a window at decision date t is a function of that window's bars (<= t), its
future *timestamps* and its keyed sampling uniforms only (:func:`~kronos_quant.inference.sampling.window_uniforms`),
so bars after t can never change it.

Columns (returns are fractions, 0.01 = 1 %; prices are relative to the last observed close):

=====================  ==========================================================================
``kronos_ret_{h}``     expected return to the close h bars ahead (mean over paths), h in ``horizons``
``kronos_vol``         predicted per-bar volatility (:func:`~kronos_quant.research.signals.predicted_volatility`;
                       NaN when a path decodes a close <= 0)
``kronos_pup``         P(up): share of paths whose horizon-end close is above the last close
``kronos_disp``        path dispersion: cross-path std (ddof 0) of the horizon-end return
``kronos_range``       expected high/low range: mean over paths of (max high - min low) / last close
``kronos_s1_entropy``  the model's own uncertainty: entropy (nats) of the first step's s1 distribution
=====================  ==========================================================================

The entropy is taken from the predictor's raw s1 logits (temperature 1, no top-k/top-p), so it
measures the model, not the sampling settings.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch

from kronos_quant.inference.forecast import forecast_windows
from kronos_quant.inference.pair import KronosPair
from kronos_quant.model import Kronos, KronosTokenizer
from kronos_quant.normalization import fit_scale, normalize
from kronos_quant.qlib_ext.model_settings import ForecastSettings
from kronos_quant.research.signals import CLOSE_INDEX, expected_return, predicted_volatility, prob_up

logger = logging.getLogger(__name__)

HIGH_INDEX, LOW_INDEX = 1, 2  # field order: open, high, low, close, volume, amount
DEFAULT_HORIZONS = (1, 2, 5, 10)
PATH_FEATURES = ("kronos_vol", "kronos_pup", "kronos_disp", "kronos_range")
ENTROPY_FEATURE = "kronos_s1_entropy"
ENTROPY_CHUNK = 2048  # windows per trunk pass when computing the entropy


def feature_names(horizons: Sequence[int] = DEFAULT_HORIZONS) -> list[str]:
    """Column names, in the order :func:`window_features` returns them."""
    return [f"kronos_ret_{h}" for h in horizons] + list(PATH_FEATURES) + [ENTROPY_FEATURE]


def check_horizons(horizons: Sequence[int], forecast_horizon: int) -> tuple[int, ...]:
    """Sorted unique horizons, each in [1, forecast_horizon], or a ValueError saying what to change."""
    values = tuple(sorted({int(h) for h in horizons}))
    if not values or values[0] < 1 or values[-1] > int(forecast_horizon):
        raise ValueError(f"feature horizons {list(horizons)} must be integers in [1, {forecast_horizon}] "
                         "(the forecast horizon); raise forecast.horizon or drop the longer horizons")
    return values


def path_features(paths: np.ndarray, last_close: np.ndarray, *,
                  horizons: Sequence[int] = DEFAULT_HORIZONS) -> np.ndarray:
    """float64 (N, len(horizons) + 4): the path columns of :func:`feature_names` (all but the entropy).

    Args:
        paths: (N, P, H, 6) price-space sample paths; last_close: (N,) last observed close.
    """
    paths = np.asarray(paths, dtype=np.float64)
    last = np.asarray(last_close, dtype=np.float64)
    if paths.ndim != 4:
        raise ValueError(f"paths must have shape (N, P, H, 6); got {paths.shape}")
    horizons = check_horizons(horizons, paths.shape[2])
    columns = [expected_return(paths[:, :, :h], last) for h in horizons]  # validates shapes and values
    end_returns = paths[:, :, -1, CLOSE_INDEX] / last[:, None] - 1.0  # (N, P)
    price_range = (paths[..., HIGH_INDEX].max(axis=2) - paths[..., LOW_INDEX].min(axis=2)) / last[:, None]
    columns += [_volatility(paths, last), prob_up(paths, last), end_returns.std(axis=1), price_range.mean(axis=1)]
    return np.stack(columns, axis=1)


def _volatility(paths: np.ndarray, last: np.ndarray) -> np.ndarray:
    """predicted_volatility per row; NaN (not a made-up number) where a path has a close <= 0.

    An untrained or tiny model can decode a non-positive price, where log returns are undefined;
    LightGBM and Qlib's processors treat the NaN as missing.
    """
    positive = (paths[..., CLOSE_INDEX] > 0).all(axis=(1, 2))
    out = np.full(len(paths), np.nan)
    if positive.any():
        out[positive] = predicted_volatility(paths[positive], last[positive])
    if not positive.all():
        logger.warning("kronos_vol is NaN for %d of %d windows: a sample path has a close <= 0",
                       int((~positive).sum()), len(paths))
    return out


@torch.inference_mode()
def first_step_entropy(tokenizer: KronosTokenizer, model: Kronos, x_norm: np.ndarray, x_stamp: np.ndarray, *,
                       max_context: int, device: torch.device | None = None) -> np.ndarray:
    """float64 (N,) entropy in nats of softmax(s1 logits) for the first forecast step.

    Args:
        x_norm: (N, T, 6) normalised, clipped lookback bars; x_stamp: (N, T, 5) their time features.
        max_context: tokens the predictor sees (the last ones are kept, as in generation).
    """
    device = device or torch.device("cpu")
    out = np.empty(len(x_norm), dtype=np.float64)
    for start in range(0, len(x_norm), ENTROPY_CHUNK):
        part = slice(start, start + ENTROPY_CHUNK)
        bars = torch.from_numpy(np.ascontiguousarray(x_norm[part])).float().to(device)
        stamps = torch.from_numpy(np.ascontiguousarray(x_stamp[part])).long().to(device)
        s1_ids, s2_ids = tokenizer.encode(bars, half=True)  # (B, T) each
        window = slice(max(0, s1_ids.shape[1] - int(max_context)), None)
        logits, _ = model.decode_s1(s1_ids[:, window], s2_ids[:, window], stamps[:, window])
        log_probs = torch.log_softmax(logits[:, -1].double(), dim=-1)  # (B, 2**s1_bits)
        out[part] = -(log_probs.exp() * log_probs).sum(dim=-1).cpu().numpy()
    return out


def window_features(pair: KronosPair, x: np.ndarray, x_stamp: np.ndarray, y_stamp: np.ndarray,
                    settings: ForecastSettings, uniforms: torch.Tensor, *,
                    horizons: Sequence[int] = DEFAULT_HORIZONS, memory_budget_gb: float = 2.0,
                    progress: bool = False) -> np.ndarray:
    """float64 (N, F) features of raw windows, columns :func:`feature_names` (``horizons``).

    Args:
        x: (N, L, 6) raw bars, L >= settings.lookback; x_stamp (N, L, 5); y_stamp (N, H', 5), H' >= horizon.
        uniforms: (N, P, H, 2) the windows' keyed uniforms (``window_uniforms`` of their index).
    """
    horizons = check_horizons(horizons, settings.horizon)
    if len(x) == 0:
        return np.empty((0, len(feature_names(horizons))), dtype=np.float64)
    if len(uniforms) != len(x):
        raise ValueError(f"{len(uniforms)} uniform blocks for {len(x)} windows; pass window_uniforms of "
                         "the windows' index")
    x, x_stamp, y_stamp = settings.crop(x, x_stamp, y_stamp)
    result = forecast_windows(pair.tokenizer, pair.model, x, x_stamp, y_stamp, settings.generation, uniforms,
                              clip=float(settings.clip), device=pair.device, memory_budget_gb=memory_budget_gb,
                              progress=progress)
    x_norm = normalize(x, fit_scale(x), float(settings.clip))  # the same normalisation as forecast_windows
    entropy = first_step_entropy(pair.tokenizer, pair.model, x_norm, x_stamp,
                                 max_context=int(settings.max_context), device=pair.device)
    return np.concatenate([path_features(result.paths, result.last_close, horizons=horizons), entropy[:, None]],
                          axis=1)
