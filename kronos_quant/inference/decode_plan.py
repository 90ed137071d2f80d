"""Where every decode step writes and reads in the static KV caches, built once per generation.

Two layouts, both of fixed shape for the whole generation:

- shared (``sliding="exact"``): a cache row is a series. Its N = T0 + P * S slots hold the T0 lookback
  tokens once, then S slots per sample path for the tokens generated before the window would slide
  (path p's token s goes to slot T0 + p * S + s). The P paths are the row's P queries.
- ring (``sliding="rolling"``): a row is one path (the lookback is copied per path, since the ring
  overwrites it). Token s goes to slot (T0 + s) mod N with N = max_context; its rotary position keeps
  counting past the context.

Every step's slots, attention mask and rotary rows are rows of tables made here, so a step only selects
a row: no shape and no Python integer of the step reaches the networks.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from kronos_quant.model.kronos import Kronos
from kronos_quant.model.kv_cache import DecodeStep


@dataclass(frozen=True)
class DecodePlan:
    """The static-shape schedule of one generation (see the module docstring)."""

    rows_per_series: int  # cache rows per series: 1 (shared) or P (ring)
    queries: int  # Q, queries per cache row: P (shared) or 1 (ring)
    prefix: int  # T0, lookback tokens in the window at the start
    slots: int  # N, slots per cache row
    cached_steps: int  # F, generated tokens fed through the caches (then the exact window slides)
    write_slots: torch.Tensor  # (F, Q) int64: slots of fed token s
    masks: torch.Tensor  # (F + 1, Q, N) additive (0 or -inf): masks[s] is what a query sees once tokens < s are fed
    cos: torch.Tensor  # (F, 1, 1, 1, hd) rotary cos of fed token s (broadcast over paths, q/k and heads)
    sin: torch.Tensor  # (F, 1, 1, 1, hd) signed sin

    def prefill(self, model: Kronos, dtype: torch.dtype) -> DecodeStep:
        """The lookback's step: slots 0..T0-1, causal among themselves, positions 0..T0-1."""
        positions = torch.arange(self.prefix, device=self.masks.device)
        cos, sin = model.rotary_tables(positions, dtype)  # (T0, hd)
        return DecodeStep(positions, None, cos[:, None, None], sin[:, None, None])

    def step(self, index: int) -> DecodeStep:
        """Feeding generated token ``index`` (0-based)."""
        return DecodeStep(self.write_slots[index], self.masks[index + 1], self.cos[index], self.sin[index])


def plan_decode(model: Kronos, *, history: int, horizon: int, paths: int, context: int, rolling: bool,
                device: torch.device, dtype: torch.dtype) -> DecodePlan:
    """The schedule for ``horizon`` tokens after a lookback of ``history`` tokens (its last <= context kept).

    Token s (0-based) is fed at window position T0 + s for s < horizon - 1 (the last one is only sampled);
    in exact mode only while T0 + s < context, after which the window slides and is recomputed.
    """
    prefix = min(history, context)
    feeds = horizon - 1
    if rolling:
        rows_per_series, queries, slots, cached = paths, 1, context, feeds
        write = (prefix + torch.arange(cached)) % context  # (F,)
        filled = torch.clamp(prefix + torch.arange(cached + 1), max=context)  # (F + 1,) slots in use
        masks = torch.arange(slots)[None, None, :] < filled[:, None, None]  # (F + 1, 1, N)
        write = write[:, None]
    else:
        cached = max(0, min(feeds, context - prefix))
        rows_per_series, queries, slots = 1, paths, prefix + paths * cached
        own_start = prefix + torch.arange(paths) * cached  # (Q,) first slot of each path
        write = own_start[None, :] + torch.arange(cached)[:, None]  # (F, Q)
        slot = torch.arange(slots)[None, None, :]  # (1, 1, N)
        fed = torch.arange(cached + 1)[:, None, None]  # (F + 1, 1, 1) tokens fed so far
        own = (slot >= own_start[None, :, None]) & (slot < own_start[None, :, None] + fed)
        masks = (slot < prefix) | own  # (F + 1, Q, N)
    cos, sin = model.rotary_tables(prefix + torch.arange(cached, device=device), dtype)  # (F, hd)
    # additive, in the compute dtype: what scaled_dot_product_attention would make of a bool mask at every call
    additive = torch.zeros(masks.shape, dtype=dtype).masked_fill_(~masks, float("-inf"))
    return DecodePlan(rows_per_series, queries, prefix, slots, cached, write.to(device), additive.to(device),
                      cos[:, None, None, None], sin[:, None, None, None])
