"""Transformer building blocks shared by the Kronos tokenizer and predictor.

Parameter names follow the official checkpoints exactly (``self_attn.q_proj``, ``ffn.w1``, ...).
Self-attention optionally reads and extends a key/value cache: a growing
:class:`~kronos_quant.model.kv_cache.LayerCache` (the tokenizer's decoder) or the fixed-shape
:class:`~kronos_quant.model.kv_cache.StaticKVCache` that the generation engine decodes with.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kronos_quant.model.kv_cache import DecodeStep, LayerCache, SharedPrefixCache, StaticKVCache


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps) * weight, normalised in float32 and cast back to x's dtype before the weight.

    One fused ``F.rms_norm`` (bit for bit the six-operation formula on float32 input). ``float32_output``
    skips the cast back, for the norms that feed the sampling heads.
    """

    def __init__(self, dim: int, eps: float = 1e-5, *, float32_output: bool = False):
        super().__init__()
        self.eps = eps  # 1e-5, as in the official blocks
        self.float32_output = float32_output
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dtype == torch.float32:
            return F.rms_norm(x, self.weight.shape, self.weight, self.eps)
        normed = F.rms_norm(x.float(), self.weight.shape, eps=self.eps)
        return (normed if self.float32_output else normed.type_as(x)) * self.weight


class Float32Linear(nn.Linear):
    """nn.Linear that keeps its weights' precision (float32 for a float32 model) under autocast: the sampling
    heads, whose logits set the probabilities."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not torch.is_autocast_enabled(x.device.type):
            return super().forward(x)
        with torch.autocast(x.device.type, enabled=False):
            return super().forward(x.to(self.weight.dtype))


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x), no biases."""

    def __init__(self, d_model: int, ff_dim: int, dropout_p: float = 0.0):
        super().__init__()
        self.w1 = nn.Linear(d_model, ff_dim, bias=False)
        self.w3 = nn.Linear(d_model, ff_dim, bias=False)
        self.w2 = nn.Linear(ff_dim, d_model, bias=False)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.w2(F.silu(self.w1(x)) * self.w3(x))
        return self.dropout(out) if self.training else out  # eval: no call at all (one op less per block)


def compute_dtype(x: torch.Tensor) -> torch.dtype:
    """The dtype a linear layer turns x into: autocast's when it is on, else x's own."""
    device_type = x.device.type
    return torch.get_autocast_dtype(device_type) if torch.is_autocast_enabled(device_type) else x.dtype


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoFormer, arXiv:2104.09864) with the official half-split layout."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq)  # persistent: it is a key of the checkpoints

    def tables(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos and signed sin, each (T, head_dim), for integer positions (T,); see :meth:`rotate`."""
        freqs = torch.outer(positions.to(self.inv_freq.dtype), self.inv_freq)  # (T, hd/2)
        angles = torch.cat((freqs, freqs), dim=-1)  # (T, hd)
        sin, half = angles.sin(), freqs.shape[-1]
        return angles.cos().to(dtype), torch.cat((-sin[:, :half], sin[:, half:]), dim=-1).to(dtype)

    @staticmethod
    def rotate(x: torch.Tensor, cos: torch.Tensor, signed_sin: torch.Tensor) -> torch.Tensor:
        """x (B, H, T, hd) rotated by tables that broadcast to (T, hd): ``x * cos + rotate_half(x) * sin``.

        ``rotate_half(x) = cat(-x[half:], x[:half])``; the sign sits in ``signed_sin`` = cat(-sin, sin), so
        the half swap is one flip of a view (bit for bit the official product: negation is exact).
        """
        *lead, head_dim = x.shape
        swapped = x.view(*lead, 2, head_dim // 2).flip(-2).view(*lead, head_dim)
        return x * cos + swapped * signed_sin


class Attention(nn.Module):
    """Multi-head attention with rotary q/k; used for self-attention and the dependency cross-attention."""

    def __init__(self, d_model: int, n_heads: int, attn_dropout_p: float = 0.0, resid_dropout_p: float = 0.0):
        super().__init__()
        self.n_heads = n_heads
        self.head_dim = d_model // n_heads
        self.q_proj = nn.Linear(d_model, d_model)
        self.k_proj = nn.Linear(d_model, d_model)
        self.v_proj = nn.Linear(d_model, d_model)
        self.out_proj = nn.Linear(d_model, d_model)
        self.rotary = RotaryEmbedding(self.head_dim)
        self.attn_dropout_p = attn_dropout_p
        self.resid_dropout = nn.Dropout(resid_dropout_p)

    def split_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, length, _ = x.shape
        return x.view(batch, length, self.n_heads, self.head_dim).transpose(1, 2)  # (B, H, T, hd)

    def merge_heads(self, x: torch.Tensor) -> torch.Tensor:
        batch, _, length, _ = x.shape
        return x.transpose(1, 2).reshape(batch, length, self.n_heads * self.head_dim)  # (B, T, d)

    def project_out(self, heads: torch.Tensor) -> torch.Tensor:
        """Per-head attention output (B, H, T, hd) -> (B, T, d) through out_proj and residual dropout."""
        out = self.out_proj(self.merge_heads(heads))
        return self.resid_dropout(out) if self.training else out

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
        dropout = self.attn_dropout_p if self.training else 0.0
        return self.project_out(F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=causal))

    def forward(self, x: torch.Tensor, *, cache: LayerCache | SharedPrefixCache | StaticKVCache | None = None,
                step: DecodeStep | None = None, rotary: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> torch.Tensor:
        """Causal self-attention over x (B, T, d) -> (B, T, d).

        Without a cache the positions are 0..T-1. With a growing cache (``LayerCache``), x continues the
        cached sequence: positions start at ``cache.length`` and the new keys/values are appended. With a
        :class:`StaticKVCache`, see :meth:`static_forward`. ``rotary`` (cos, signed sin) tables computed once
        for all layers replace this layer's own (positions 0..T-1, without a growing cache).
        """
        if isinstance(cache, StaticKVCache):
            return self.static_forward(x, cache, step)
        q, k, v = (self.split_heads(proj(x)) for proj in (self.q_proj, self.k_proj, self.v_proj))
        if rotary is None:
            start = 0 if cache is None else cache.length
            rotary = self.rotary.tables(torch.arange(start, start + x.shape[1], device=x.device), q.dtype)
        q, k = self.rotary.rotate(q, *rotary), self.rotary.rotate(k, *rotary)
        if cache is None:
            return self.attend(q, k, v, causal=True)
        cache.append(k, v)
        return self.project_out(cache.attend(q))

    def fused_projection(self, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """q, k, v projections stacked, weight (3d, d) and bias (3d,) in ``dtype``: one matmul per step.

        A decode's caches hold them (:meth:`Kronos.new_caches`); the weights do not change while it runs.
        """
        projections = (self.q_proj, self.k_proj, self.v_proj)
        return (torch.cat([proj.weight for proj in projections]).to(dtype),
                torch.cat([proj.bias for proj in projections]).to(dtype))

    def static_forward(self, x: torch.Tensor, cache: StaticKVCache, step: DecodeStep | None) -> torch.Tensor:
        """Self-attention of x (R, T, d) through a static cache: the new keys/values go to ``step.slots``,
        queries see the slots ``step.mask`` allows (None: the T new tokens, causally; the prefill).

        q, k and v come from one matmul with the cache's fused projection, and q and k rotate together:
        the same numbers as three projections and two rotations, in fewer operations.
        """
        if step is None or cache.projection is None:
            raise ValueError("a StaticKVCache needs its fused projection (Kronos.new_caches makes both) and the "
                             "DecodeStep that says where the new keys go")
        batch, length, _ = x.shape
        qkv = F.linear(x, *cache.projection).view(batch, length, 3, self.n_heads, self.head_dim)
        qk = self.rotary.rotate(qkv[:, :, :2], step.cos, step.sin)  # (R, T, 2, H, hd)
        q, k = (part.transpose(1, 2) for part in qk.unbind(2))  # (R, H, T, hd)
        v = qkv[:, :, 2].transpose(1, 2)
        cache.write(k, v, step.slots)
        if step.mask is None:
            return self.attend(q, k, v, causal=True)
        return self.project_out(cache.attend(q, step.mask))

    def cross(self, query: torch.Tensor, memory: torch.Tensor, *, causal: bool) -> torch.Tensor:
        """Queries (B, Tq, d) attend to memory (B, Tk, d) -> (B, Tq, d).

        As in the official layer, rotary angles come from the *query* length and are applied
        to q and k alike; with Tq == 1 that is position 0, i.e. no rotation.
        """
        q = self.split_heads(self.q_proj(query))
        k, v = self.split_heads(self.k_proj(memory)), self.split_heads(self.v_proj(memory))
        rotary = self.rotary.tables(torch.arange(query.shape[1], device=query.device), q.dtype)
        q, k = self.rotary.rotate(q, *rotary), self.rotary.rotate(k, *rotary)
        return self.attend(q, k, v, causal=causal)


class TransformerBlock(nn.Module):
    """Pre-norm residual block: x + attn(norm1 x), then x + ffn(norm2 x)."""

    def __init__(self, d_model: int, n_heads: int, ff_dim: int, *, ffn_dropout_p: float = 0.0,
                 attn_dropout_p: float = 0.0, resid_dropout_p: float = 0.0):
        super().__init__()
        self.norm1 = RMSNorm(d_model)
        self.self_attn = Attention(d_model, n_heads, attn_dropout_p, resid_dropout_p)
        self.norm2 = RMSNorm(d_model)
        self.ffn = FeedForward(d_model, ff_dim, ffn_dropout_p)

    def forward(self, x: torch.Tensor, *, cache: LayerCache | SharedPrefixCache | StaticKVCache | None = None,
                step: DecodeStep | None = None, rotary: tuple[torch.Tensor, torch.Tensor] | None = None
                ) -> torch.Tensor:
        x = x + self.self_attn(self.norm1(x), cache=cache, step=step, rotary=rotary)
        return x + self.ffn(self.norm2(x))
