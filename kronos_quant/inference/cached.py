"""The fast generation engine (``engine="cached"``).

- The lookback is prefilled once per series, then its KV cache is shared by all sample paths.
- Each new token runs through the trunk alone, reading the cache.
- The fine (s2) head runs at the new position only, over cached dependency keys/values.
- Past max_context, ``sliding="exact"`` recomputes the slid window (the recompute algorithm's
  numbers); ``sliding="rolling"`` keeps a ring cache instead (faster, approximate).
"""
from __future__ import annotations

import torch

from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import sample_tokens
from kronos_quant.model.kronos import Kronos
from kronos_quant.model.kv_cache import LayerCache


def _prefill(model: Kronos, s1: torch.Tensor, s2: torch.Tensor, stamps: torch.Tensor, capacity: int,
             ring: bool, dtype: torch.dtype) -> tuple[torch.Tensor, list[LayerCache]]:
    caches = model.new_caches(s1.shape[0], capacity, device=s1.device, dtype=dtype, ring=ring)
    hidden = model.trunk(model.embed(s1, s2, stamps), caches[:-1])
    model.cache_context(hidden, caches[-1])
    return hidden[:, -1:], caches


def _recompute_window(model: Kronos, s1: torch.Tensor, s2: torch.Tensor, stamps: torch.Tensor,
                      dtype: torch.dtype) -> tuple[torch.Tensor, LayerCache]:
    """Exact step past max_context: the whole window again, positions from 0."""
    hidden = model.trunk(model.embed(s1, s2, stamps))
    dep_cache = model.new_dependency_cache(s1.shape[0], s1.shape[1], device=s1.device, dtype=dtype)
    model.cache_context(hidden, dep_cache)
    return hidden[:, -1:], dep_cache


def generate_cached(model: Kronos, s1_history: torch.Tensor, s2_history: torch.Tensor,
                    stamps: torch.Tensor, config: GenerationConfig,
                    uniforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``pred_len`` token pairs for each of ``sample_count`` paths per series.

    Args:
        s1_history, s2_history: (B, T) lookback ids, one row per *series* (not per path).
        stamps: (B, T + pred_len, 5) time features.
        uniforms: (B, P, pred_len, 2) sampling uniforms, P = sample_count.
    Returns:
        s1, s2: (B * P, pred_len), row b * P + p is path p of series b.
    """
    paths, horizon, context = config.sample_count, config.pred_len, config.max_context
    history = s1_history.shape[1]
    ring = config.sliding == "rolling"
    dtype = config.autocast_dtype or next(model.parameters()).dtype
    start = max(0, history - context)
    capacity = context if ring else min(history + horizon, context)
    hidden_last, caches = _prefill(model, s1_history[:, start:], s2_history[:, start:],
                                   stamps[:, start:history], capacity, ring, dtype)
    if paths > 1:
        caches = [cache.share_among_paths(paths) for cache in caches]
        hidden_last = hidden_last.repeat_interleave(paths, dim=0)
        stamps = stamps.repeat_interleave(paths, dim=0)
    flat_uniforms = uniforms.reshape(-1, horizon, 2)
    s1_all = s1_history.repeat_interleave(paths, dim=0)
    s2_all = s2_history.repeat_interleave(paths, dim=0)
    for step in range(horizon):
        s1_next = sample_tokens(model.head.proj_s1(hidden_last)[:, -1], flat_uniforms[:, step, 0], config.sampling)
        s2_logits = model.fine_logits(hidden_last, s1_next[:, None], causal=True, dep_cache=caches[-1])[:, -1]
        s2_next = sample_tokens(s2_logits, flat_uniforms[:, step, 1], config.sampling)
        s1_all = torch.cat([s1_all, s1_next[:, None]], dim=1)
        s2_all = torch.cat([s2_all, s2_next[:, None]], dim=1)
        if step == horizon - 1:
            break
        position = history + step  # index of the token just generated
        if ring or position < context:
            new = model.embed(s1_next[:, None], s2_next[:, None], stamps[:, position:position + 1])
            hidden_last = model.trunk(new, caches[:-1])
            model.cache_context(hidden_last, caches[-1])
        else:  # exact and sliding from here on: the trunk caches are done with
            window = slice(position + 1 - context, position + 1)
            hidden_last, dep_cache = _recompute_window(model, s1_all[:, window], s2_all[:, window],
                                                       stamps[:, window], dtype)
            caches = [dep_cache]
    return s1_all[:, history:], s2_all[:, history:]
