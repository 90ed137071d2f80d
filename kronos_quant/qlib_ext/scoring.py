"""Kronos windows -> one cross-sectional score per window (no qlib here).

The arithmetic shared by :class:`~kronos_quant.qlib_ext.model.KronosModel` and distributed
inference: normalise each window over its own lookback (no look-ahead), sample paths with the
pre-drawn uniforms of its rows, denormalise, apply a signal from :mod:`kronos_quant.research.signals`.
Each window's uniforms are keyed by its (datetime, instrument) and the seed, so a window's score does
not depend on which other windows are forecast with it: not on the universe, the segment, or the
shard of rows a process scores.
"""
from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from kronos_quant.inference.batching import NormalizedSeries, forecast_normalized
from kronos_quant.inference.sampling import keyed_uniforms
from kronos_quant.model import Kronos, KronosTokenizer
from kronos_quant.normalization import NORM_EPS, fit_scale, normalize
from kronos_quant.qlib_ext.model_settings import ForecastSettings
from kronos_quant.research.signals import compute_signal

logger = logging.getLogger(__name__)


class KronosPair(NamedTuple):
    """A tokenizer and predictor in eval mode on one device."""

    tokenizer: KronosTokenizer
    model: Kronos
    device: torch.device


def load_pair(tokenizer_path: str, predictor_path: str, device: torch.device) -> KronosPair:
    """Load both checkpoints strictly; a ValueError if they were not trained together."""
    tokenizer = KronosTokenizer.from_pretrained(tokenizer_path, device=device)
    model = Kronos.from_pretrained(predictor_path, device=device)
    tok_bits = (tokenizer.config.s1_bits, tokenizer.config.s2_bits)
    if tok_bits != (model.config.s1_bits, model.config.s2_bits):
        raise ValueError(f"tokenizer {tokenizer_path} (s1, s2 bits {tok_bits}) does not match predictor "
                         f"{predictor_path} ({model.config.s1_bits}, {model.config.s2_bits}); pair checkpoints "
                         "that were trained together")
    return KronosPair(tokenizer.eval(), model.eval(), device)


def window_uniforms(index: pd.MultiIndex, settings: ForecastSettings) -> torch.Tensor:
    """(N, P, H, 2) uniforms of windows indexed (datetime, instrument), each a function of (seed, its key)."""
    keys = [f"{pd.Timestamp(when):%Y-%m-%d %H:%M:%S}|{instrument}" for when, instrument in index]
    return keyed_uniforms(keys, int(settings.sample_count), int(settings.horizon), seed=int(settings.seed))


def crop_windows(x: np.ndarray, x_stamp: np.ndarray, y_stamp: np.ndarray, settings: ForecastSettings):
    """Keep the last ``min(lookback, max_context)`` bars and the first ``horizon`` future stamps.

    Args:
        x: float (N, L, 6) raw bars with L >= lookback; x_stamp (N, L, 5); y_stamp (N, H', 5), H' >= horizon.
    """
    lookback, horizon = int(settings.lookback), int(settings.horizon)
    if x.shape[1] < lookback:
        raise ValueError(f"the dataset gives {x.shape[1]} lookback bars but the model needs lookback={lookback}; "
                         "set the dataset's lookback >= the model's")
    if y_stamp.shape[1] < horizon:
        raise ValueError(f"the dataset gives {y_stamp.shape[1]} future stamps but the model forecasts "
                         f"horizon={horizon}; set the dataset's horizon >= the model's")
    context = min(lookback, int(settings.max_context))
    return x[:, -context:], x_stamp[:, -context:], y_stamp[:, :horizon]


def sample_paths(pair: KronosPair, x: np.ndarray, x_stamp: np.ndarray, y_stamp: np.ndarray,
                 settings: ForecastSettings, uniforms: torch.Tensor, *, memory_budget_gb: float = 2.0,
                 progress: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Price-space sample paths of cropped windows (see :func:`crop_windows`).

    Returns:
        paths float32 (N, P, H, 6) and last_close float64 (N,) (the close of each window's last bar).
    """
    scale = fit_scale(x)  # (N, 1, 6), lookback only
    x_norm = normalize(x, scale, float(settings.clip))
    series = [NormalizedSeries(x_norm[i], x_stamp[i], y_stamp[i]) for i in range(len(x_norm))]
    normalized = forecast_normalized(pair.tokenizer, pair.model, series, settings.generation_config(), uniforms,
                                     device=pair.device, memory_budget_gb=memory_budget_gb, progress=progress)
    paths = normalized * (scale.std[:, None] + NORM_EPS) + scale.mean[:, None]  # (N, P, H, 6)
    return paths.astype(np.float32), np.asarray(x[:, -1, 3], dtype=np.float64)


def score_windows(pair: KronosPair, x: np.ndarray, x_stamp: np.ndarray, y_stamp: np.ndarray,
                  settings: ForecastSettings, uniforms: torch.Tensor, *, memory_budget_gb: float = 2.0,
                  progress: bool = False) -> np.ndarray:
    """float64 (N,) scores of raw windows x (N, L, 6), given their rows' uniforms (N, P, H, 2)."""
    if len(x) == 0:
        return np.empty(0, dtype=np.float64)
    x, x_stamp, y_stamp = crop_windows(x, x_stamp, y_stamp, settings)
    if len(uniforms) != len(x):
        raise ValueError(f"{len(uniforms)} uniform blocks for {len(x)} windows; pass window_uniforms of "
                         "the windows' index")
    paths, last_close = sample_paths(pair, x, x_stamp, y_stamp, settings, uniforms,
                                     memory_budget_gb=memory_budget_gb, progress=progress)
    return compute_signal(settings.signal, paths, last_close)
