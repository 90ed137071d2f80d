"""Key/value caches for incremental decoding.

``StaticKVCache`` is the generation engine's: fixed (R, H, N, hd) buffers, written with ``index_copy_`` at
slots held on the device and read under a mask, so a decode step has the same shapes at every step (CUDA
graphs, ``torch.compile`` without recompiles). One row can hold a lookback shared by P sample paths once,
followed by each path's own generated tokens; the mask lets each path's query see the prefix and its own
tokens only, so the shared keys are stored and read once per series, not once per path.

``LayerCache`` (growing, one sequence per row) and ``SharedPrefixCache`` serve the tokenizer's decoder.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F


class DecodeStep(NamedTuple):
    """Where one step's new keys go and what its queries see, as device tensors.

    Rows of a :class:`StaticKVCache` hold Q queries each (Q sample paths of a series, or one token).
    """

    slots: torch.Tensor  # (Q,) int64 cache slots of the new keys/values (prefill: (T,) for T tokens)
    mask: torch.Tensor | None  # (Q, N) bool (True: may attend) or additive; None: the T new tokens, causally
    cos: torch.Tensor  # (T, 1, 1, hd) or (1, 1, 1, hd): rotary cos of the new positions, (R, T, 2, H, hd) layout
    sin: torch.Tensor  # same shape: signed sin, see RotaryEmbedding.rotate


class StaticKVCache:
    """Keys and values of one attention layer in zero-filled (R, H, N, hd) buffers of fixed size.

    Zeros, not ``empty``: masked slots take weight 0, and 0 times uninitialised NaN would be NaN.
    """

    def __init__(self, keys: torch.Tensor, values: torch.Tensor,
                 projection: tuple[torch.Tensor, torch.Tensor] | None = None):
        self.keys, self.values = keys, values
        self.projection = projection  # the layer's fused q/k/v (weight, bias) for this decode, if a trunk layer

    @classmethod
    def zeros(cls, rows: int, heads: int, slots: int, head_dim: int, *, device, dtype,
              projection: tuple[torch.Tensor, torch.Tensor] | None = None) -> StaticKVCache:
        shape = (rows, heads, slots, head_dim)
        return cls(torch.zeros(shape, device=device, dtype=dtype), torch.zeros(shape, device=device, dtype=dtype),
                   projection)

    @property
    def nbytes(self) -> int:
        return self.keys.nbytes + self.values.nbytes

    def write(self, k: torch.Tensor, v: torch.Tensor, slots: torch.Tensor) -> None:
        """Store k, v (R, H, Q, hd), of the buffers' dtype, at ``slots`` (Q,) of every row."""
        self.keys.index_copy_(2, slots, k)
        self.values.index_copy_(2, slots, v)

    def attend(self, q: torch.Tensor, mask: torch.Tensor | None) -> torch.Tensor:
        """q (R, H, Q, hd) -> (R, H, Q, hd) over the slots ``mask`` (Q, N) allows (all of them when None)."""
        return F.scaled_dot_product_attention(q, self.keys, self.values, attn_mask=mask)

    def repeat_rows(self, times: int) -> StaticKVCache:
        """Each row ``times`` times in a row (row r -> rows r * times ... r * times + times - 1)."""
        return StaticKVCache(self.keys.repeat_interleave(times, 0), self.values.repeat_interleave(times, 0),
                             self.projection)


class LayerCache:
    """Keys and values of one attention layer in (B, H, capacity, hd) buffers.

    ``length`` counts every position appended, which is also the rotary position of the next one.
    A ``ring`` cache overwrites its oldest slot once full (single-token appends only); a plain
    cache raises on overflow. Single-query attention does not depend on the slot order.
    """

    def __init__(self, batch: int, n_heads: int, head_dim: int, capacity: int, *,
                 device: torch.device, dtype: torch.dtype, ring: bool = False):
        shape = (batch, n_heads, capacity, head_dim)
        self.keys = torch.empty(shape, device=device, dtype=dtype)
        self.values = torch.empty(shape, device=device, dtype=dtype)
        self.length = 0
        self.ring = ring

    @property
    def capacity(self) -> int:
        return self.keys.shape[2]

    @property
    def filled(self) -> int:
        return min(self.length, self.capacity)

    def append(self, k: torch.Tensor, v: torch.Tensor) -> None:
        """Store k, v (B, H, t, hd) after the cached positions."""
        count = k.shape[2]
        end = self.length + count
        if end <= self.capacity:
            self.keys[:, :, self.length:end] = k
            self.values[:, :, self.length:end] = v
        elif self.ring and count == 1:
            slot = self.length % self.capacity
            self.keys[:, :, slot:slot + 1] = k
            self.values[:, :, slot:slot + 1] = v
        else:
            raise RuntimeError(f"KV cache overflow: {end} positions > capacity {self.capacity}")
        self.length = end

    def attend(self, q: torch.Tensor) -> torch.Tensor:
        """q (B, H, t, hd) for the last t cached positions -> (B, H, t, hd), causal within them."""
        keys, values = self.keys[:, :, : self.filled], self.values[:, :, : self.filled]
        count = q.shape[2]
        if count == 1:
            return F.scaled_dot_product_attention(q, keys, values)
        if count == self.filled:
            return F.scaled_dot_product_attention(q, keys, values, is_causal=True)
        positions = torch.arange(self.filled - count, self.filled, device=q.device)
        allowed = torch.arange(self.filled, device=q.device)[None, :] <= positions[:, None]
        return F.scaled_dot_product_attention(q, keys, values, attn_mask=allowed)

    def share_among_paths(self, paths: int) -> SharedPrefixCache | LayerCache:
        """This cache as the common prefix of ``paths`` continuations per row."""
        if self.ring:  # a ring overwrites prefix slots, so each path needs its own copy
            clone = LayerCache.__new__(LayerCache)
            clone.keys = self.keys.repeat_interleave(paths, dim=0)
            clone.values = self.values.repeat_interleave(paths, dim=0)
            clone.length, clone.ring = self.length, self.ring
            return clone
        return SharedPrefixCache(self, paths)


class SharedPrefixCache:
    """A (B, H, T0, hd) prefix shared by P paths per row, plus (B * P, H, capacity - T0, hd) suffixes.

    Row b * P + p of a query is path p of series b. Appends go to the suffix.
    """

    def __init__(self, prefix: LayerCache, paths: int):
        self.paths = paths
        self.prefix_keys = prefix.keys[:, :, : prefix.length]
        self.prefix_values = prefix.values[:, :, : prefix.length]
        batch, heads, capacity, head_dim = prefix.keys.shape
        self.suffix = LayerCache(batch * paths, heads, head_dim, max(capacity - prefix.length, 1),
                                 device=prefix.keys.device, dtype=prefix.keys.dtype)
        self.prefix_length = prefix.length

    @property
    def length(self) -> int:
        return self.prefix_length + self.suffix.length

    def append(self, k: torch.Tensor, v: torch.Tensor) -> None:
        self.suffix.append(k, v)

    def attend(self, q: torch.Tensor) -> torch.Tensor:
        """q (B * P, H, t, hd) for the last t suffix positions -> (B * P, H, t, hd).

        Every query sees the whole shared prefix and, causally, its own path's suffix.
        """
        rows, heads, count, head_dim = q.shape
        batch = rows // self.paths
        by_series = q.view(batch, self.paths, heads, count, head_dim).transpose(1, 2)  # (B, H, P, t, hd)
        by_series = by_series.reshape(batch, heads, self.paths * count, head_dim)
        prefix_scores = by_series @ self.prefix_keys.transpose(-1, -2)  # (B, H, P * t, T0)
        prefix_scores = self._to_rows(prefix_scores, count)  # (B * P, H, t, T0)
        filled = self.suffix.filled
        suffix_scores = q @ self.suffix.keys[:, :, :filled].transpose(-1, -2)  # (B * P, H, t, n)
        if count > 1:
            positions = torch.arange(filled - count, filled, device=q.device)
            hidden = torch.arange(filled, device=q.device)[None, :] > positions[:, None]
            suffix_scores = suffix_scores.masked_fill(hidden, float("-inf"))
        scores = torch.cat([prefix_scores, suffix_scores], dim=-1).float() * head_dim ** -0.5
        prefix_weights, suffix_weights = scores.softmax(-1).to(q.dtype).split([self.prefix_length, filled], dim=-1)
        prefix_weights = prefix_weights.view(batch, self.paths, heads, count, -1).transpose(1, 2)
        prefix_out = prefix_weights.reshape(batch, heads, self.paths * count, -1) @ self.prefix_values
        return self._to_rows(prefix_out, count) + suffix_weights @ self.suffix.values[:, :, :filled]

    def _to_rows(self, tensor: torch.Tensor, count: int) -> torch.Tensor:
        """(B, H, P * t, n) -> (B * P, H, t, n)."""
        batch, heads, _, width = tensor.shape
        tensor = tensor.view(batch, heads, self.paths, count, width).transpose(1, 2)
        return tensor.reshape(batch * self.paths, heads, count, width)
