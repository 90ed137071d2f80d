"""Many windows at once: bucket by lookback length, chunk to a memory budget.

Uniforms are drawn per window up front, so results do not depend on bucketing or chunking.

The budget is met by counting, from the engine's code, the bytes one series needs
(:func:`estimate_series_bytes`): the static KV caches as :mod:`~kronos_quant.inference.decode_plan` lays them
out (the lookback stored once per series, not once per path), the activations of the largest transient step,
and the tokenizer's encode and decode. Chunks then fill the budget instead of a fraction of it.
"""
from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.model.kronos import Kronos
from kronos_quant.model.tokenizer import KronosTokenizer

logger = logging.getLogger(__name__)
FLOAT32 = 4


class MemoryEstimate(NamedTuple):
    """Bytes one series needs in the cached engine; ``total`` is what a chunk is sized by."""

    kv_cache: int  # trunk caches: n_layers x (k, v) x rows x slots x d_model
    dependency_cache: int  # the fine head's keys/values of h: (k, v) x rows x slots x d_model
    prefill: int  # the largest layer of the lookback's forward
    decode_step: int  # one generated token per path: attention scores, logits and sampling buffers
    slide: int  # exact steps past max_context: a full-window forward per path
    tokenizer: int  # encode of the lookback, or decode with its caches, whichever is larger
    inputs: int  # token buffers, uniforms and time features

    @property
    def total(self) -> int:
        transient = max(self.prefill, self.decode_step, self.slide, self.tokenizer)
        return self.kv_cache + self.dependency_cache + transient + self.inputs


def _layer_activations(tokens: int, d_model: int, ff_dim: int, value_bytes: int) -> int:
    """Live bytes inside one block for ``tokens`` tokens: the float32 residual stream plus the larger of the
    attention half (norm, q, k, v, rotated q and k, output, merged heads: 8 x d) and the FFN half (norm, w1, w3,
    silu and product: 2 x d + 4 x ff)."""
    return tokens * (FLOAT32 * d_model + value_bytes * max(8 * d_model, 2 * d_model + 4 * ff_dim))


def estimate_series_bytes(model: Kronos, lookback: int, config: GenerationConfig,
                          tokenizer: KronosTokenizer | None = None) -> MemoryEstimate:
    """Count the bytes of one series of ``lookback`` bars with ``config.sample_count`` paths (see MemoryEstimate).

    Without a tokenizer its share is counted with the predictor's width and depth (an upper bound for the
    official pairs, whose tokenizers are narrower).
    """
    cfg = model.config
    value_bytes = 2 if config.autocast_dtype is not None else FLOAT32
    paths, horizon, context = config.sample_count, config.pred_len, config.max_context
    prefix = min(lookback, context)
    feeds = horizon - 1
    if config.engine == "recompute":  # every path its own row over the whole window, no cache
        window = min(lookback + horizon, context)
        per_path = _layer_activations(window, cfg.d_model, cfg.ff_dim, value_bytes)
        kv_rows, slots, slid_steps = 0, 0, 0
        prefill = slide = paths * per_path
    elif config.sliding == "rolling":
        kv_rows, slots, slid_steps = paths, context, 0
    else:
        cached = max(0, min(feeds, context - prefix))
        kv_rows, slots, slid_steps = 1, prefix + paths * cached, feeds - cached
    if config.engine == "cached":
        prefill = _layer_activations(prefix, cfg.d_model, cfg.ff_dim, value_bytes)
        slide = 0
        if slid_steps:
            slide = paths * (_layer_activations(context, cfg.d_model, cfg.ff_dim, value_bytes)
                             + 2 * context * cfg.d_model * value_bytes)  # plus the window's dependency cache
    cache_values = kv_rows * slots * cfg.d_model * value_bytes
    vocab = 2 ** max(cfg.s1_bits, cfg.s2_bits)
    decode_step = paths * (8 * vocab * FLOAT32 + cfg.n_heads * max(slots, 1) * value_bytes
                           + _layer_activations(1, cfg.d_model, cfg.ff_dim, value_bytes))
    return MemoryEstimate(kv_cache=cfg.n_layers * 2 * cache_values, dependency_cache=2 * cache_values,
                          prefill=prefill, decode_step=decode_step, slide=slide,
                          tokenizer=_tokenizer_bytes(tokenizer, model, lookback, config, value_bytes),
                          inputs=2 * paths * (lookback + horizon) * 8 + (lookback + horizon) * 5 * 8
                          + paths * horizon * 2 * 8)


def _tokenizer_bytes(tokenizer: KronosTokenizer | None, model: Kronos, lookback: int, config: GenerationConfig,
                     value_bytes: int) -> int:
    """Encode of the whole lookback, or decode of the last <= max_context tokens: the prefix once per series
    into growing caches, then P continuations of pred_len tokens each (``decode_continuations``)."""
    if tokenizer is not None:
        d_model, ff_dim, blocks = tokenizer.config.d_model, tokenizer.config.ff_dim, tokenizer.config.n_dec_layers - 1
    else:
        d_model, ff_dim, blocks = model.config.d_model, model.config.ff_dim, model.config.n_layers
    horizon, paths = config.pred_len, config.sample_count
    window = min(lookback + horizon, config.max_context)
    encode = _layer_activations(lookback, d_model, ff_dim, value_bytes)
    decode_caches = blocks * 2 * (window + paths * horizon) * d_model * value_bytes
    decode = decode_caches + _layer_activations(max(window - horizon, paths * horizon), d_model, ff_dim, value_bytes)
    return max(encode, decode)


def series_per_chunk(model: Kronos, lookback: int, config: GenerationConfig, memory_budget_bytes: float, *,
                     tokenizer: KronosTokenizer | None = None) -> int:
    """How many series of one lookback fit the budget, by :func:`estimate_series_bytes` (at least 1)."""
    per_series = estimate_series_bytes(model, lookback, config, tokenizer).total
    return max(1, int(memory_budget_bytes // per_series))


def plan_chunks(lengths: Sequence[int], model: Kronos, config: GenerationConfig,
                memory_budget_gb: float, *, tokenizer: KronosTokenizer | None = None) -> list[np.ndarray]:
    """Row indices (int64 arrays) of chunks: one lookback length each, each within the memory budget.

    Chunks come in increasing length, rows in input order within a length.
    """
    buckets: dict[int, list[int]] = defaultdict(list)
    for index, length in enumerate(lengths):
        buckets[int(length)].append(index)
    plan = []
    for lookback, indices in sorted(buckets.items()):
        size = series_per_chunk(model, lookback, config, memory_budget_gb * 2**30, tokenizer=tokenizer)
        rows = np.asarray(indices, dtype=np.int64)
        plan.extend(rows[start:start + size] for start in range(0, len(rows), size))
    logger.debug("%d windows in %d length buckets and %d chunks", len(lengths), len(buckets), len(plan))
    return plan
