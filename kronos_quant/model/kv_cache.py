"""Preallocated key/value buffers for incremental decoding of the predictor trunk."""
from __future__ import annotations

import torch


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

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Store k, v (B, H, t, hd) after the cached positions; return every stored key/value."""
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
        return self.keys[:, :, : self.filled], self.values[:, :, : self.filled]

    def repeat_interleave(self, repeats: int) -> "LayerCache":
        """A new cache whose row b*repeats + r copies row b (one series -> its sample paths)."""
        clone = LayerCache.__new__(LayerCache)
        clone.keys = self.keys.repeat_interleave(repeats, dim=0)
        clone.values = self.values.repeat_interleave(repeats, dim=0)
        clone.length, clone.ring = self.length, self.ring
        return clone
