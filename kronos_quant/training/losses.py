"""The two finetuning losses of Kronos (see docs/kronos-architecture.md, "Training loss").

Tokenizer: ``(mse(recon_coarse, x) + mse(recon_full, x) + bsq_loss.total) / 2``.
Predictor: ``(CE(s1) + CE(s2)) / 2`` on next-token targets: inputs ``tokens[:, :-1]``,
targets ``tokens[:, 1:]``.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


class TokenizerLoss(NamedTuple):
    total: torch.Tensor  # scalar, what is minimised
    recon_coarse: torch.Tensor  # mse of the s1-only reconstruction
    recon_full: torch.Tensor  # mse of the full reconstruction
    bsq: torch.Tensor  # BSQ commitment + entropy penalty


class PredictorLoss(NamedTuple):
    total: torch.Tensor  # scalar, (s1 + s2) / 2
    s1: torch.Tensor  # cross-entropy of the coarse tokens (nats)
    s2: torch.Tensor  # cross-entropy of the fine tokens (nats)


def tokenizer_loss(model: nn.Module, bars: torch.Tensor) -> TokenizerLoss:
    """Loss of a KronosTokenizer (or its DDP wrapper) on normalised bars (B, T, 6)."""
    out = model(bars)
    recon_coarse = F.mse_loss(out.recon_coarse.float(), bars)
    recon_full = F.mse_loss(out.recon_full.float(), bars)
    bsq = out.bsq_loss.total.float()
    return TokenizerLoss((recon_coarse + recon_full + bsq) / 2, recon_coarse, recon_full, bsq)


def next_token_split(s1: torch.Tensor, s2: torch.Tensor, stamp: torch.Tensor):
    """Tokens (B, T) + stamps (B, T, 5) -> inputs (B, T-1) with their stamps, and targets (B, T-1)."""
    inputs = (s1[:, :-1], s2[:, :-1], stamp[:, :-1])
    targets = (s1[:, 1:], s2[:, 1:])
    return inputs, targets


def predictor_loss(model: nn.Module, s1: torch.Tensor, s2: torch.Tensor, stamp: torch.Tensor, *,
                   teacher_forcing: bool = True) -> PredictorLoss:
    """Next-token loss of Kronos (or its DDP wrapper) on token ids s1, s2 (B, T) and stamps (B, T, 5).

    The model's own forward runs in train and eval mode alike; its fine head is causal in both
    (:meth:`~kronos_quant.model.kronos.Kronos.fine_logits`), so the validation loss cannot see the target.
    """
    (s1_in, s2_in, stamp_in), (s1_target, s2_target) = next_token_split(s1, s2, stamp)
    condition = s1_target if teacher_forcing else None
    s1_logits, s2_logits = model(s1_in, s2_in, stamp_in, s1_condition=condition)
    ce_s1 = F.cross_entropy(s1_logits.float().flatten(0, 1), s1_target.flatten())
    ce_s2 = F.cross_entropy(s2_logits.float().flatten(0, 1), s2_target.flatten())
    return PredictorLoss((ce_s1 + ce_s2) / 2, ce_s1, ce_s2)
