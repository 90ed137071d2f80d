"""KronosTokenizer: a transformer autoencoder with a BSQ bottleneck, turning K-lines into token pairs."""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from kronos_quant.model.bsq import BSQLoss, BSQuantizer, bits_to_ids, ids_to_codes
from kronos_quant.model.checkpoint import PretrainedMixin
from kronos_quant.model.config import TokenizerConfig
from kronos_quant.model.kv_cache import LayerCache
from kronos_quant.model.layers import TransformerBlock


class TokenizerOutput(NamedTuple):
    """Training forward of the tokenizer."""

    recon_coarse: torch.Tensor  # (B, T, d_in) decoded from the s1 bits alone
    recon_full: torch.Tensor  # (B, T, d_in) decoded from all bits
    bsq_loss: BSQLoss
    codes: torch.Tensor  # (B, T, s1_bits + s2_bits) quantised codes, ±1/sqrt(s1+s2)


class KronosTokenizer(PretrainedMixin, nn.Module):
    """Encode normalised bars (B, T, 6) into coarse/fine token ids (B, T) and decode them back.

    The encoder and decoder are causal, so token t depends only on bars 0..t.
    """

    config_class = TokenizerConfig

    def __init__(self, config: TokenizerConfig | None = None, **kwargs):
        super().__init__()
        config = config if config is not None else TokenizerConfig(**kwargs)
        self.config = config
        self.s1_bits, self.s2_bits = config.s1_bits, config.s2_bits
        block_kwargs = dict(ffn_dropout_p=config.ffn_dropout_p, attn_dropout_p=config.attn_dropout_p,
                            resid_dropout_p=config.resid_dropout_p)
        self.embed = nn.Linear(config.d_in, config.d_model)
        self.encoder = nn.ModuleList(
            TransformerBlock(config.d_model, config.n_heads, config.ff_dim, **block_kwargs)
            for _ in range(config.n_enc_layers - 1))
        self.decoder = nn.ModuleList(
            TransformerBlock(config.d_model, config.n_heads, config.ff_dim, **block_kwargs)
            for _ in range(config.n_dec_layers - 1))
        self.quant_embed = nn.Linear(config.d_model, config.codebook_dim)
        self.post_quant_embed_pre = nn.Linear(config.s1_bits, config.d_model)
        self.post_quant_embed = nn.Linear(config.codebook_dim, config.d_model)
        self.head = nn.Linear(config.d_model, config.d_in)
        self.tokenizer = BSQuantizer(s1_bits=config.s1_bits, s2_bits=config.s2_bits, beta=config.beta,
                                     gamma0=config.gamma0, gamma=config.gamma, zeta=config.zeta,
                                     group_size=config.group_size)

    def latent(self, x: torch.Tensor) -> torch.Tensor:
        """Bars (B, T, d_in) -> pre-quantisation latent (B, T, s1_bits + s2_bits)."""
        if x.shape[-1] != self.config.d_in:
            raise ValueError(
                f"KronosTokenizer has d_in={self.config.d_in} (its config.json) but the bars have {x.shape[-1]} "
                "columns (Kronos feeds open, high, low, close, volume, amount: 6); use a tokenizer trained on "
                f"{x.shape[-1]} columns, e.g. NeoQuasar/Kronos-Tokenizer-base (d_in=6), or retrain with d_in: "
                f"{x.shape[-1]}")
        z = self.embed(x)
        for block in self.encoder:
            z = block(z)
        return self.quant_embed(z)

    def decode_codes(self, codes: torch.Tensor, *, coarse_only: bool = False) -> torch.Tensor:
        """Codes (B, T, s1_bits[+s2_bits]) -> bars (B, T, d_in)."""
        z = self.post_quant_embed_pre(codes) if coarse_only else self.post_quant_embed(codes)
        for block in self.decoder:
            z = block(z)
        return self.head(z)

    def encode(self, x: torch.Tensor, half: bool = True):
        """Normalised bars (B, T, d_in) -> token ids.

        Returns ``[s1_ids, s2_ids]`` (each (B, T) int64) when ``half``; else one id (B, T)
        over all s1_bits + s2_bits bits.
        """
        _, codes = self.tokenizer(self.latent(x))
        if half:
            return list(self.tokenizer.split_ids(codes))
        return bits_to_ids(codes)

    def decode(self, ids, half: bool = True) -> torch.Tensor:
        """Token ids -> normalised bars (B, T, d_in); ``ids`` is [s1_ids, s2_ids] when ``half``."""
        if half:
            s1_ids, s2_ids = ids
            codes = self.tokenizer.ids_to_codes(s1_ids, s2_ids)
        else:
            codes = ids_to_codes(ids, self.tokenizer.bsq.codebook_dim, self.tokenizer.bsq.scale)
        return self.decode_codes(codes)

    def decode_continuations(self, prefix_ids: tuple[torch.Tensor, torch.Tensor],
                             new_ids: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        """Decode new tokens that continue a shared prefix, running the prefix once per series.

        Args:
            prefix_ids: (s1, s2), each (B, L) — the tokens before the continuations.
            new_ids: (s1, s2), each (B * P, H) — P continuations per series, row b * P + p.
        Returns:
            (B * P, H, d_in) bars at the new positions; equal (to float rounding) to the last H
            rows of ``decode`` on the concatenated sequences.
        """
        batch, paths = prefix_ids[0].shape[0], new_ids[0].shape[0] // prefix_ids[0].shape[0]
        capacity = prefix_ids[0].shape[1] + new_ids[0].shape[1]
        z = self.post_quant_embed(self.tokenizer.ids_to_codes(*prefix_ids))
        caches = []
        for block in self.decoder:
            attn = block.self_attn
            cache = LayerCache(batch, attn.n_heads, attn.head_dim, capacity, device=z.device, dtype=z.dtype)
            z = block(z, cache=cache)
            caches.append(cache.share_among_paths(paths) if paths > 1 else cache)
        z = self.post_quant_embed(self.tokenizer.ids_to_codes(*new_ids))
        for block, cache in zip(self.decoder, caches):
            z = block(z, cache=cache)
        return self.head(z)

    def forward(self, x: torch.Tensor) -> TokenizerOutput:
        """Training forward: reconstructions from the coarse bits and from all bits, plus the BSQ loss."""
        z, codes = self.tokenizer(self.latent(x))
        bsq_loss = self.tokenizer.bsq.loss(z, codes)
        recon_coarse = self.decode_codes(codes[..., : self.s1_bits], coarse_only=True)
        recon_full = self.decode_codes(codes)
        return TokenizerOutput(recon_coarse, recon_full, bsq_loss, codes)
