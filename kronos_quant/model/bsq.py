"""Binary spherical quantisation (BSQ, Zhao et al., arXiv:2406.07548) as Kronos uses it.

A d-dim latent is L2-normalised and each coordinate snapped to ±1/sqrt(d). The first
``s1_bits`` coordinates form the coarse token, the rest the fine token; ids read the
bits least-significant first. Module paths (``tokenizer.bsq.basis``) match the checkpoints.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


def bits_to_ids(codes: torch.Tensor) -> torch.Tensor:
    """(..., n) codes -> (...,) int64 ids; bit i (least significant first) is 1 where code i >= 0."""
    bits = (codes >= 0).long()
    weights = 2 ** torch.arange(codes.shape[-1], device=codes.device, dtype=torch.long)
    return (bits * weights).sum(-1)


def ids_to_codes(ids: torch.Tensor, n_bits: int, scale: float) -> torch.Tensor:
    """(...,) int ids -> (..., n_bits) float codes (2*bit - 1) * scale, least significant bit first."""
    shifts = torch.arange(n_bits, device=ids.device, dtype=torch.long)
    bits = (ids.long().unsqueeze(-1) >> shifts) & 1
    return (bits.float() * 2.0 - 1.0) * scale


def binary_entropy(p: torch.Tensor) -> torch.Tensor:
    """Entropy (nats) of Bernoulli(p), elementwise, safe at p in {0, 1}."""
    return -(torch.xlogy(p, p) + torch.xlogy(1 - p, 1 - p))


class BSQLoss(NamedTuple):
    total: torch.Tensor  # commitment + zeta * entropy penalty (scalar)
    commitment: torch.Tensor  # beta * mean ||zq - z||^2
    per_sample_entropy: torch.Tensor  # mean entropy of each code's bits (nats)
    codebook_entropy: torch.Tensor  # entropy of the batch-average group code distribution (nats)


class BinarySphericalQuantizer(nn.Module):
    """Quantiser state: the bit-weight buffers stored in the official checkpoints."""

    def __init__(self, codebook_dim: int, *, beta: float, gamma0: float, gamma: float, zeta: float,
                 group_size: int, inv_temperature: float = 1.0):
        super().__init__()
        self.codebook_dim = codebook_dim
        self.beta, self.gamma0, self.gamma, self.zeta = beta, gamma0, gamma, zeta
        self.group_size = group_size
        self.inv_temperature = inv_temperature  # softness of the entropy estimate (BSQ paper, eq. 8)
        self.register_buffer("basis", 2 ** torch.arange(codebook_dim - 1, -1, -1, dtype=torch.long))
        self.register_buffer("group_basis", 2 ** torch.arange(group_size - 1, -1, -1, dtype=torch.long))

    @property
    def scale(self) -> float:
        return self.codebook_dim ** -0.5

    def quantize(self, z: torch.Tensor) -> torch.Tensor:
        """Unit-norm z (..., d) -> codes ±1/sqrt(d) with a straight-through gradient."""
        hard = torch.where(z > 0, torch.ones_like(z), -torch.ones_like(z))
        return (z + (hard - z).detach()) * self.scale

    def group_codebook(self, device: torch.device) -> torch.Tensor:
        """(2**group_size, group_size) every ±1/sqrt(d) code of one group."""
        ids = torch.arange(2 ** self.group_size, device=device)
        return ids_to_codes(ids, self.group_size, self.scale)

    def loss(self, z: torch.Tensor, zq: torch.Tensor) -> BSQLoss:
        """Commitment plus entropy penalty (gamma0 * per-sample - gamma * codebook entropy)."""
        commitment = self.beta * ((zq.detach() - z) ** 2).sum(-1).mean()
        # per-sample entropy, analytically per bit: P(bit = -1) = sigmoid(-4 z scale * inv_t)
        p_negative = torch.sigmoid(-4.0 * z * self.scale * self.inv_temperature)
        per_sample = binary_entropy(p_negative).sum(-1).mean()
        # codebook entropy over groups of group_size bits, from soft assignments
        grouped = z.reshape(*z.shape[:-1], -1, self.group_size)  # (..., G, g)
        logits = 2.0 * torch.einsum("...gc,kc->...gk", grouped, self.group_codebook(z.device))
        probs = (logits * self.inv_temperature).softmax(-1)  # (..., G, 2**g)
        mean_probs = probs.reshape(-1, *probs.shape[-2:]).mean(0)  # (G, 2**g)
        codebook = -(torch.xlogy(mean_probs, mean_probs)).sum()
        penalty = self.gamma0 * per_sample - self.gamma * codebook
        total = commitment + self.zeta * penalty / self.inv_temperature
        return BSQLoss(total, commitment, per_sample, codebook)


class BSQuantizer(nn.Module):
    """Normalise, quantise and split codes into (s1, s2) ids. Holds ``bsq`` for the checkpoint's names."""

    def __init__(self, *, s1_bits: int, s2_bits: int, beta: float, gamma0: float, gamma: float,
                 zeta: float, group_size: int):
        super().__init__()
        self.s1_bits, self.s2_bits = s1_bits, s2_bits
        self.bsq = BinarySphericalQuantizer(s1_bits + s2_bits, beta=beta, gamma0=gamma0, gamma=gamma,
                                            zeta=zeta, group_size=group_size)

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """z (B, T, s1+s2) -> (unit-norm z, quantised codes), both (B, T, s1+s2)."""
        z = F.normalize(z, dim=-1)
        return z, self.bsq.quantize(z)

    def split_ids(self, codes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Codes (B, T, s1+s2) -> (s1_ids, s2_ids), each (B, T) int64."""
        return bits_to_ids(codes[..., : self.s1_bits]), bits_to_ids(codes[..., self.s1_bits:])

    def ids_to_codes(self, s1_ids: torch.Tensor, s2_ids: torch.Tensor | None = None) -> torch.Tensor:
        """(s1_ids[, s2_ids]) (B, T) -> codes (B, T, s1_bits[+s2_bits]) scaled by 1/sqrt(s1+s2)."""
        scale = self.bsq.scale
        s1_codes = ids_to_codes(s1_ids, self.s1_bits, scale)
        if s2_ids is None:
            return s1_codes
        return torch.cat([s1_codes, ids_to_codes(s2_ids, self.s2_bits, scale)], dim=-1)
