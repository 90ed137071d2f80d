"""The official generation algorithm, kept as the reference baseline (``engine="recompute"``).

Every step re-runs the whole window (last <= max_context tokens, positions from 0) through the
trunk, and evaluates both heads at every position, exactly as the reference predictor does.
"""
from __future__ import annotations

import torch

from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import sample_tokens
from kronos_quant.model.kronos import Kronos


def generate_recompute(model: Kronos, s1_history: torch.Tensor, s2_history: torch.Tensor,
                       stamps: torch.Tensor, config: GenerationConfig,
                       uniforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Generate ``pred_len`` token pairs per row.

    Args:
        s1_history, s2_history: (R, T) token ids of the lookback (one row per sample path).
        stamps: (R, T + pred_len, 5) time features of lookback and future bars.
        uniforms: (R, pred_len, 2) sampling uniforms.
    Returns:
        s1, s2: (R, pred_len) generated ids.
    """
    s1_tokens, s2_tokens = s1_history, s2_history
    for step in range(config.pred_len):
        length = s1_tokens.shape[1]
        start = max(0, length - config.max_context)
        s1_logits, context = model.decode_s1(s1_tokens[:, start:], s2_tokens[:, start:], stamps[:, start:length])
        s1_next = sample_tokens(s1_logits[:, -1], uniforms[:, step, 0], config.sampling)
        s2_logits = model.decode_s2(context, s1_next[:, None])
        s2_next = sample_tokens(s2_logits[:, -1], uniforms[:, step, 1], config.sampling)
        s1_tokens = torch.cat([s1_tokens, s1_next[:, None]], dim=1)
        s2_tokens = torch.cat([s2_tokens, s2_next[:, None]], dim=1)
    history = s1_history.shape[1]
    return s1_tokens[:, history:], s2_tokens[:, history:]
