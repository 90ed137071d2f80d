"""Transformer building blocks shared by the Kronos tokenizer and predictor.

Parameter names follow the official checkpoints exactly (``self_attn.q_proj``, ``ffn.w1``, ...).
Self-attention optionally reads and extends a :class:`~kronos_quant.model.kv_cache.LayerCache`,
which is what the fast generation engine uses.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from kronos_quant.model.kv_cache import LayerCache, SharedPrefixCache


class RMSNorm(nn.Module):
    """x * rsqrt(mean(x^2) + eps) * weight, normalised in float32."""

    def __init__(self, dim: int, eps: float = 1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x32 = x.float()
        normed = x32 * torch.rsqrt(x32.pow(2).mean(-1, keepdim=True) + self.eps)
        return normed.type_as(x) * self.weight


class FeedForward(nn.Module):
    """SwiGLU: w2(silu(w1 x) * w3 x), no biases."""

    def __init__(self, d_model: int, ff_dim: int, dropout_p: float = 0.0):
        super().__init__()
        self.w1 = nn.Linear(d_model, ff_dim, bias=False)
        self.w3 = nn.Linear(d_model, ff_dim, bias=False)
        self.w2 = nn.Linear(ff_dim, d_model, bias=False)
        self.dropout = nn.Dropout(dropout_p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.w2(F.silu(self.w1(x)) * self.w3(x)))


class RotaryEmbedding(nn.Module):
    """Rotary position embedding (RoFormer, arXiv:2104.09864) with the official half-split layout."""

    def __init__(self, head_dim: int, base: float = 10000.0):
        super().__init__()
        inv_freq = 1.0 / (base ** (torch.arange(0, head_dim, 2).float() / head_dim))
        self.register_buffer("inv_freq", inv_freq)  # persistent: it is a key of the checkpoints

    def cos_sin(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """cos, sin of shape (T, head_dim) for integer positions (T,)."""
        freqs = torch.outer(positions.to(self.inv_freq.dtype), self.inv_freq)  # (T, hd/2)
        angles = torch.cat((freqs, freqs), dim=-1)  # (T, hd)
        return angles.cos().to(dtype), angles.sin().to(dtype)

    @staticmethod
    def rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        """x (B, H, T, hd) rotated by angles whose cos/sin broadcast to (T, hd)."""
        half = x.shape[-1] // 2
        rotated_half = torch.cat((-x[..., half:], x[..., :half]), dim=-1)
        return x * cos + rotated_half * sin


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
        return self.resid_dropout(self.out_proj(self.merge_heads(heads)))

    def attend(self, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool) -> torch.Tensor:
        dropout = self.attn_dropout_p if self.training else 0.0
        return self.project_out(F.scaled_dot_product_attention(q, k, v, dropout_p=dropout, is_causal=causal))

    def forward(self, x: torch.Tensor, *, cache: LayerCache | SharedPrefixCache | None = None) -> torch.Tensor:
        """Causal self-attention over x (B, T, d) -> (B, T, d).

        Without a cache the positions are 0..T-1. With a cache, x continues the cached
        sequence: positions start at ``cache.length`` and the new keys/values are appended.
        """
        q, k, v = (self.split_heads(proj(x)) for proj in (self.q_proj, self.k_proj, self.v_proj))
        start = 0 if cache is None else cache.length
        positions = torch.arange(start, start + x.shape[1], device=x.device)
        cos, sin = self.rotary.cos_sin(positions, q.dtype)
        q, k = self.rotary.rotate(q, cos, sin), self.rotary.rotate(k, cos, sin)
        if cache is None:
            return self.attend(q, k, v, causal=True)
        cache.append(k, v)
        return self.project_out(cache.attend(q))

    def cross(self, query: torch.Tensor, memory: torch.Tensor, *, causal: bool) -> torch.Tensor:
        """Queries (B, Tq, d) attend to memory (B, Tk, d) -> (B, Tq, d).

        As in the official layer, rotary angles come from the *query* length and are applied
        to q and k alike; with Tq == 1 that is position 0, i.e. no rotation.
        """
        q = self.split_heads(self.q_proj(query))
        k, v = self.split_heads(self.k_proj(memory)), self.split_heads(self.v_proj(memory))
        cos, sin = self.rotary.cos_sin(torch.arange(query.shape[1], device=query.device), q.dtype)
        q, k = self.rotary.rotate(q, cos, sin), self.rotary.rotate(k, cos, sin)
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

    def forward(self, x: torch.Tensor, *, cache: LayerCache | SharedPrefixCache | None = None) -> torch.Tensor:
        x = x + self.self_attn(self.norm1(x), cache=cache)
        return x + self.ffn(self.norm2(x))
