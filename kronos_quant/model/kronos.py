"""Kronos: the decoder-only predictor over (coarse, fine) token pairs.

Layout and parameter names follow the official checkpoints: ``embedding`` (hierarchical token
embedding), ``time_emb`` (learned calendar embeddings), ``transformer`` (causal trunk), ``norm``,
``dep_layer`` (the fine head's cross-attention over the trunk, always 4 heads) and ``head``.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from kronos_quant.model.checkpoint import PretrainedMixin
from kronos_quant.model.config import KronosConfig
from kronos_quant.model.kv_cache import DecodeStep, StaticKVCache
from kronos_quant.model.layers import Attention, Float32Linear, RMSNorm, TransformerBlock, compute_dtype
from kronos_quant.time_features import TIME_FEATURE_NAMES

DEPENDENCY_HEADS = 4  # the official dependency-aware layer uses 4 heads whatever n_heads is
TIME_VOCAB = dict(zip(TIME_FEATURE_NAMES, (60, 24, 7, 32, 13)))  # embedding rows per time feature


class HierarchicalEmbedding(nn.Module):
    """fusion_proj(cat(emb_s1(s1) * sqrt(d), emb_s2(s2) * sqrt(d)))."""

    def __init__(self, s1_bits: int, s2_bits: int, d_model: int):
        super().__init__()
        self.d_model = d_model
        self.emb_s1 = nn.Embedding(2 ** s1_bits, d_model)
        self.emb_s2 = nn.Embedding(2 ** s2_bits, d_model)
        self.fusion_proj = nn.Linear(2 * d_model, d_model)

    def forward(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor) -> torch.Tensor:
        scale = math.sqrt(self.d_model)
        fused = torch.cat([self.emb_s1(s1_ids) * scale, self.emb_s2(s2_ids) * scale], dim=-1)
        return self.fusion_proj(fused)  # (B, T, d)


class TemporalEmbedding(nn.Module):
    """Sum of learned embeddings of (minute, hour, weekday, day, month) integer features (B, T, 5)."""

    def __init__(self, d_model: int):
        super().__init__()
        for name, size in TIME_VOCAB.items():
            self.add_module(f"{name}_embed", nn.Embedding(size, d_model))

    def forward(self, stamp: torch.Tensor) -> torch.Tensor:
        stamp = stamp.long()
        total = 0
        for column, name in enumerate(TIME_VOCAB):
            total = total + getattr(self, f"{name}_embed")(stamp[..., column])
        return total  # (B, T, d)


class DependencyAwareLayer(nn.Module):
    """The fine head's conditioning weights: norm(h + cross_attn(query=emb_s1(s1), key=value=h)).

    It has no forward: :meth:`Kronos.fine_logits` is the one place that runs it, with explicit causality.
    """

    def __init__(self, d_model: int, attn_dropout_p: float = 0.0, resid_dropout_p: float = 0.0):
        super().__init__()
        self.cross_attn = Attention(d_model, DEPENDENCY_HEADS, attn_dropout_p, resid_dropout_p)
        self.norm = RMSNorm(d_model, float32_output=True)  # feeds the s2 sampling head


class DualHead(nn.Module):
    """The coarse and fine logit heads, in float32 even under autocast: their logits set the sampling
    probabilities, and bf16 logits shift them (at T=0.6 with top-p, enough to change tokens)."""

    def __init__(self, s1_bits: int, s2_bits: int, d_model: int):
        super().__init__()
        self.proj_s1 = Float32Linear(d_model, 2 ** s1_bits)
        self.proj_s2 = Float32Linear(d_model, 2 ** s2_bits)


class KronosOutput(NamedTuple):
    s1_logits: torch.Tensor  # (B, T, 2**s1_bits)
    s2_logits: torch.Tensor  # (B, T, 2**s2_bits)


class Kronos(PretrainedMixin, nn.Module):
    """Autoregressive predictor: tokens (B, T) + time features (B, T, 5) -> next-token logits."""

    config_class = KronosConfig

    def __init__(self, config: KronosConfig | None = None, **kwargs):
        super().__init__()
        config = config if config is not None else KronosConfig(**kwargs)
        self.config = config
        d = config.d_model
        self.embedding = HierarchicalEmbedding(config.s1_bits, config.s2_bits, d)
        self.time_emb = TemporalEmbedding(d)
        self.token_drop = nn.Dropout(config.token_dropout_p)
        self.transformer = nn.ModuleList(
            TransformerBlock(d, config.n_heads, config.ff_dim, ffn_dropout_p=config.ffn_dropout_p,
                             attn_dropout_p=config.attn_dropout_p, resid_dropout_p=config.resid_dropout_p)
            for _ in range(config.n_layers))
        self.norm = RMSNorm(d, float32_output=True)  # feeds the s1 sampling head
        self.dep_layer = DependencyAwareLayer(d, config.attn_dropout_p, config.resid_dropout_p)
        self.head = DualHead(config.s1_bits, config.s2_bits, d)

    # ---- the official API -------------------------------------------------------------
    def decode_s1(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor, stamp: torch.Tensor | None = None):
        """Trunk pass. Returns (s1_logits (B, T, 2**s1_bits), context h (B, T, d))."""
        hidden = self.trunk(self.embed(s1_ids, s2_ids, stamp))
        return self.head.proj_s1(hidden), hidden

    def decode_s2(self, context: torch.Tensor, s1_ids: torch.Tensor, *, causal: bool = False) -> torch.Tensor:
        """Fine logits (B, Tq, 2**s2_bits) conditioned on chosen coarse ids s1 (B, Tq) and context (B, T, d).

        The official inference call: unmasked by default (every query sees all of h), in train and eval mode
        alike; see :meth:`fine_logits`.
        """
        return self.fine_logits(context, s1_ids, causal=causal)

    def forward(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor, stamp: torch.Tensor | None = None, *,
                s1_condition: torch.Tensor | None = None,
                generator: torch.Generator | None = None) -> KronosOutput:
        """Training forward. The fine head is conditioned on ``s1_condition`` (B, T) — the true next
        coarse ids for teacher forcing — or, when None, on coarse ids sampled from the s1 logits.

        The fine head is causal in train and eval mode alike: ``s1_condition[t]`` is token t+1's coarse id,
        and h at t+1 (whose input is the target) must not be seen, or the validation loss would leak.
        """
        s1_logits, hidden = self.decode_s1(s1_ids, s2_ids, stamp)
        if s1_condition is None:
            probs = s1_logits.detach().float().softmax(-1).flatten(0, 1)
            s1_condition = torch.multinomial(probs, 1, generator=generator).view(s1_ids.shape)
        return KronosOutput(s1_logits, self.fine_logits(hidden, s1_condition, causal=True))

    def fine_logits(self, hidden: torch.Tensor, s1_ids: torch.Tensor, *, causal: bool,
                    dep_cache: StaticKVCache | None = None, mask: torch.Tensor | None = None) -> torch.Tensor:
        """The dependency-aware fine (s2) head: logits (B, Tq, 2**s2_bits) given coarse ids s1 (B, Tq).

        ``proj_s2(norm(h + cross_attn(query=emb_s1(s1), key=value=h)))``, the one implementation that
        training, ``decode_s2`` and both generation engines run.

        Args:
            hidden: trunk states h. Without a cache (B, T, d), the keys/values. With a cache, (R, Q, d): the
                newest state of each of the Q queries (sample paths) of a cache row.
            causal: True: query t sees h[<= t] (needs Tq == T); training uses it, since s1_ids[t] is the next
                token's id. False: every query sees all of h (the official eval-mode head; with Tq == 1 the
                query sees h[<= t] either way).
            dep_cache: keys/values of h from :meth:`cache_context`. Each query sits at rotary position 0 (no
                rotation) and sees the cached states ``mask`` (Q, N) allows (all slots when None): its own
                past, which is causal by construction.
        """
        sibling = self.embedding.emb_s1(s1_ids)  # (B, Tq, d)
        attn = self.dep_layer.cross_attn
        if dep_cache is not None:
            if not causal:
                raise ValueError("a dependency cache serves one causal query per path (causal=True); pass the "
                                 "whole context without a cache for the unmasked head")
            attended = attn.project_out(dep_cache.attend(attn.split_heads(attn.q_proj(sibling)), mask))  # (R, Q, d)
        else:
            if causal and sibling.shape[1] != hidden.shape[1]:
                raise ValueError(f"a causal fine head needs one coarse id per state, got {sibling.shape[1]} ids "
                                 f"for {hidden.shape[1]} states")
            attended = attn.cross(sibling, hidden, causal=causal)
        return self.head.proj_s2(self.dep_layer.norm(hidden + attended))

    # ---- pieces the generation engine composes ---------------------------------------
    def embed(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor, stamp: torch.Tensor | None) -> torch.Tensor:
        x = self.embedding(s1_ids, s2_ids)
        if stamp is not None:
            x = x + self.time_emb(stamp)
        return self.token_drop(x)  # (B, T, d)

    def rotary_tables(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """Rotary (cos, signed sin) tables (T, hd) of the trunk, computed once for all its blocks.

        Every block's ``inv_freq`` is the same function of head_dim (and so in every official checkpoint).
        """
        return self.transformer[0].self_attn.rotary.tables(positions, dtype)

    def trunk(self, x: torch.Tensor, caches: list[StaticKVCache] | None = None,
              step: DecodeStep | None = None) -> torch.Tensor:
        """Causal blocks then the final norm: (R, T, d) -> h (R, T, d).

        Without caches, positions 0..T-1 (one rotary table for all blocks). With ``caches`` (one per block,
        as :meth:`new_caches` makes them) the new keys/values go where ``step`` says.
        """
        rotary = None
        if step is None:
            if caches is not None:
                raise ValueError("trunk caches need the DecodeStep that places the new tokens")
            rotary = self.rotary_tables(torch.arange(x.shape[1], device=x.device), compute_dtype(x))
        for index, block in enumerate(self.transformer):
            x = block(x, cache=None if caches is None else caches[index], step=step, rotary=rotary)
        return self.norm(x)

    def new_caches(self, rows: int, slots: int, *, device, dtype) -> list[StaticKVCache]:
        """Zeroed trunk caches (R, n_heads, N, hd), one per block with its fused q/k/v projection, then the
        dependency layer's (see below)."""
        cfg = self.config
        trunk = [StaticKVCache.zeros(rows, cfg.n_heads, slots, cfg.d_model // cfg.n_heads, device=device,
                                     dtype=dtype, projection=block.self_attn.fused_projection(dtype))
                 for block in self.transformer]
        return trunk + [self.new_dependency_cache(rows, slots, device=device, dtype=dtype)]

    def new_dependency_cache(self, rows: int, slots: int, *, device, dtype) -> StaticKVCache:
        """A zeroed (R, 4, N, d / 4) cache for the dependency layer's keys/values of the trunk states h."""
        head_dim = self.config.d_model // DEPENDENCY_HEADS
        return StaticKVCache.zeros(rows, DEPENDENCY_HEADS, slots, head_dim, device=device, dtype=dtype)

    def cache_context(self, hidden: torch.Tensor, dep_cache: StaticKVCache, slots: torch.Tensor | None = None
                      ) -> None:
        """Write the dependency layer's keys/values of trunk states h (R, t, d) at ``slots`` (t,) (0..t-1 if None).

        They are not rotated: the official head rotates by the query length, 1 at decode time (position 0).
        """
        attn = self.dep_layer.cross_attn
        if slots is None:
            slots = torch.arange(hidden.shape[1], device=hidden.device)
        dep_cache.write(attn.split_heads(attn.k_proj(hidden)), attn.split_heads(attn.v_proj(hidden)), slots)
