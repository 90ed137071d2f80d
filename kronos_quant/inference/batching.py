"""Many windows at once: bucket by lookback length, chunk to a memory budget.

Uniforms are drawn per window up front, so results do not depend on bucketing or chunking.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from typing import Sequence

import numpy as np

from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.model.kronos import Kronos

logger = logging.getLogger(__name__)


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


def plan_chunks(lengths: Sequence[int], model: Kronos, config: GenerationConfig,
                memory_budget_gb: float) -> list[np.ndarray]:
    """Row indices (int64 arrays) of chunks: one lookback length each, each within the memory budget.

    Chunks come in increasing length, rows in input order within a length.
    """
    buckets: dict[int, list[int]] = defaultdict(list)
    for index, length in enumerate(lengths):
        buckets[int(length)].append(index)
    plan = []
    for lookback, indices in sorted(buckets.items()):
        size = series_per_chunk(model, lookback, config, memory_budget_gb * 2**30)
        rows = np.asarray(indices, dtype=np.int64)
        plan.extend(rows[start:start + size] for start in range(0, len(rows), size))
    logger.debug("%d windows in %d length buckets and %d chunks", len(lengths), len(buckets), len(plan))
    return plan
