"""Many series at once: bucket by lookback length, chunk to a memory budget, show progress.

Uniforms are drawn per series up front, so results do not depend on bucketing or chunking.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
from tqdm.auto import tqdm

from kronos_quant.inference.generation import generate_paths
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.model.kronos import Kronos
from kronos_quant.model.tokenizer import KronosTokenizer

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NormalizedSeries:
    """One series ready for the model."""

    x: np.ndarray  # float32 (T, 6) normalised, clipped lookback bars
    x_stamp: np.ndarray  # int64 (T, 5) time features of the lookback
    y_stamp: np.ndarray  # int64 (H, 5) time features of the forecast bars


def series_per_chunk(model: Kronos, lookback: int, config: GenerationConfig, memory_budget_bytes: float) -> int:
    """How many series of one lookback fit the budget: KV caches per path plus full-window activations.

    The cached engine prefills once per series but runs exact slides for every path; the recompute
    engine runs every path over the whole window at every step. Both are sized for ``sample_count``
    rows per series. The tokenizer encodes the whole lookback, which can exceed the window.
    """
    cfg = model.config
    bytes_per_value = 2 if config.autocast_dtype is not None else 4
    window = min(lookback + config.pred_len, config.max_context)
    rows = config.sample_count
    cache = (cfg.n_layers + 1) * 2 * window * cfg.d_model * bytes_per_value * rows
    activations = window * (3 * cfg.ff_dim + 8 * cfg.d_model + 2 ** (cfg.s1_bits + 1)) * bytes_per_value * rows
    attention = cfg.n_heads * max(window, lookback) ** 2 * bytes_per_value * rows
    return max(1, int(memory_budget_bytes // (cache + activations + attention)))


def forecast_normalized(tokenizer: KronosTokenizer, model: Kronos, series: Sequence[NormalizedSeries],
                        config: GenerationConfig, uniforms: torch.Tensor, *, device: torch.device,
                        memory_budget_gb: float = 2.0, progress: bool = False) -> np.ndarray:
    """Sample paths for every series; series may have different lookback lengths.

    Args:
        uniforms: (N, P, H, 2) sampling uniforms, one block per series in ``series`` order.
    Returns:
        float32 (N, P, H, 6) normalised sample paths, in ``series`` order.
    """
    buckets: dict[int, list[int]] = defaultdict(list)
    for index, item in enumerate(series):
        buckets[item.x.shape[0]].append(index)
    plan = []
    for lookback, indices in sorted(buckets.items()):
        size = series_per_chunk(model, lookback, config, memory_budget_gb * 2**30)
        plan.extend(indices[start:start + size] for start in range(0, len(indices), size))
    logger.debug("%d series in %d length buckets and %d chunks", len(series), len(buckets), len(plan))
    result = np.empty((len(series), config.sample_count, config.pred_len, 6), dtype=np.float32)
    for chunk in tqdm(plan, desc="Kronos forecast", unit="chunk", disable=not progress):
        x = torch.from_numpy(np.stack([series[i].x for i in chunk])).float().to(device)
        x_stamp = torch.from_numpy(np.stack([series[i].x_stamp for i in chunk])).long().to(device)
        y_stamp = torch.from_numpy(np.stack([series[i].y_stamp for i in chunk])).long().to(device)
        # float32 on the host: sampling compares in float32 anyway, and some devices (mps) lack float64
        paths = generate_paths(tokenizer, model, x, x_stamp, y_stamp, config, uniforms[chunk].float().to(device))
        result[chunk] = paths.cpu().numpy()
    return result
