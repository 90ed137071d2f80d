"""The fast generation engine (``engine="cached"``), decoding with static shapes.

- The lookback is prefilled once per series into fixed-size KV caches; all sample paths of a series
  read that one copy (:mod:`kronos_quant.inference.decode_plan` lays out the slots).
- Each new token runs through the trunk alone. Its step writes the caches with ``index_copy_`` at
  slots held on the device and attends under a mask, so every step has the same shapes: ready for
  CUDA graphs and ``torch.compile`` without recompiles.
- The fine (s2) head runs at the new position only, over cached dependency keys/values.
- Generated ids go to preallocated buffers, not a growing ``cat``.
- Past max_context, ``sliding="exact"`` recomputes the slid window (the recompute algorithm's
  numbers); ``sliding="rolling"`` keeps a ring cache instead (faster, approximate).
"""
from __future__ import annotations

import functools

import torch

from kronos_quant.inference.decode_plan import DecodePlan, plan_decode
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import sample_tokens
from kronos_quant.model.kronos import Kronos
from kronos_quant.model.kv_cache import DecodeStep, StaticKVCache


def _prefill(model: Kronos, s1: torch.Tensor, s2: torch.Tensor, stamps: torch.Tensor, plan: DecodePlan,
             dtype: torch.dtype) -> tuple[torch.Tensor, list[StaticKVCache]]:
    """Lookback (B, T0) -> last trunk state (B, 1, d) and the caches, lookback in slots 0..T0-1."""
    caches = model.new_caches(s1.shape[0], plan.slots, device=s1.device, dtype=dtype)
    step = plan.prefill(model, dtype)
    hidden = model.trunk(model.embed(s1, s2, stamps), caches[:-1], step)
    model.cache_context(hidden, caches[-1], step.slots)
    return hidden[:, -1:], caches


def feed_token(model: Kronos, s1_next: torch.Tensor, s2_next: torch.Tensor, stamp: torch.Tensor,
               caches: list[StaticKVCache], step: DecodeStep) -> torch.Tensor:
    """One decode step of the trunk: ids (R, Q) and their stamps (R, 1, 5) -> new states h (R, Q, d).

    A cache row's Q queries (the paths of one series) share its stamp, which broadcasts over them.

    Writes the new keys/values (trunk and dependency layer) into ``caches`` where ``step`` says. Every
    step calls it with tensors of the same shapes, so ``torch.compile`` traces it once (``compile=True``).
    """
    hidden = model.trunk(model.embed(s1_next, s2_next, stamp), caches[:-1], step)
    model.cache_context(hidden, caches[-1], step.slots)
    return hidden


@functools.lru_cache(maxsize=2)
def compiled_feed_token(device_type: str = "cpu"):
    """:func:`feed_token` under ``torch.compile`` (static shapes; built on first use, one graph per shape).

    Not in ``reduce-overhead`` (CUDA-graph) mode: a graph would write the caches in place, so their
    addresses would have to stay the same from call to call, while each call makes its own caches; marking
    them static would recompile every call. Capturing CUDA graphs needs caches pooled across calls first.
    """
    return torch.compile(feed_token, dynamic=False)


def _recompute_window(model: Kronos, s1: torch.Tensor, s2: torch.Tensor, stamps: torch.Tensor,
                      dtype: torch.dtype) -> tuple[torch.Tensor, StaticKVCache]:
    """Exact step past max_context: the whole window (R, context) again, positions from 0."""
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
    batch, history = s1_history.shape
    dtype = config.autocast_dtype or next(model.parameters()).dtype
    plan = plan_decode(model, history=history, horizon=horizon, paths=paths, context=context,
                       rolling=config.sliding == "rolling", device=s1_history.device, dtype=dtype)
    start = history - plan.prefix
    hidden, caches = _prefill(model, s1_history[:, start:], s2_history[:, start:], stamps[:, start:history],
                              plan, dtype)
    rows, queries = batch * plan.rows_per_series, plan.queries  # the caches' layout: (rows, queries) per step
    if plan.rows_per_series > 1:
        caches = [cache.repeat_rows(plan.rows_per_series) for cache in caches]
        hidden, stamps = hidden.repeat_interleave(paths, 0), stamps.repeat_interleave(paths, 0)
    else:
        hidden = hidden.expand(batch, queries, hidden.shape[-1])  # (B, P, d): every path starts from h[T-1]
    flat_uniforms = uniforms.reshape(batch * paths, horizon, 2)
    s1_all = s1_history.new_empty((batch * paths, history + horizon))
    s2_all = s2_history.new_empty((batch * paths, history + horizon))
    s1_all[:, :history], s2_all[:, :history] = s1_history.repeat_interleave(paths, 0), \
        s2_history.repeat_interleave(paths, 0)
    mask = plan.masks[0]
    feed = compiled_feed_token(s1_history.device.type) if config.compile else feed_token
    for step in range(horizon):
        s1_next = sample_tokens(model.head.proj_s1(hidden).reshape(batch * paths, -1), flat_uniforms[:, step, 0],
                                config.sampling)
        s2_logits = model.fine_logits(hidden, s1_next.view(rows, queries), causal=True, dep_cache=caches[-1],
                                      mask=mask)
        s2_next = sample_tokens(s2_logits.reshape(batch * paths, -1), flat_uniforms[:, step, 1], config.sampling)
        position = history + step  # index of the token just generated
        s1_all[:, position], s2_all[:, position] = s1_next, s2_next
        if step == horizon - 1:
            break
        if step < plan.cached_steps:
            decode_step = plan.step(step)
            hidden = feed(model, s1_next.view(rows, queries), s2_next.view(rows, queries),
                          stamps[:, position:position + 1], caches, decode_step)
            mask = decode_step.mask
        else:  # exact and sliding from here on: one row per path, the trunk caches are done with
            window = slice(position + 1 - context, position + 1)
            if stamps.shape[0] != batch * paths:
                stamps = stamps.repeat_interleave(paths, 0)
            rows, queries = batch * paths, 1
            hidden, dep_cache = _recompute_window(model, s1_all[:, window], s2_all[:, window], stamps[:, window],
                                                  dtype)
            caches, mask = [dep_cache], None
    return s1_all[:, history:], s2_all[:, history:]
