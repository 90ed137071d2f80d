"""Token-level forecasting: normalised bars in, normalised sample paths out.

This layer works on tensors of one lookback length; :func:`kronos_quant.inference.forecast.forecast_windows`
normalises raw windows, groups them by length and chunks large universes on top of it.
"""
from __future__ import annotations

import contextlib

import torch

from kronos_quant.inference.cached import generate_cached
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.recompute import generate_recompute
from kronos_quant.model.kronos import Kronos
from kronos_quant.model.tokenizer import KronosTokenizer


def precision_context(device: torch.device, dtype: torch.dtype | None):
    """torch.autocast for the given dtype, or a no-op for float32."""
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device_type=device.type, dtype=dtype)


def generate_tokens(model: Kronos, s1_history: torch.Tensor, s2_history: torch.Tensor, stamps: torch.Tensor,
                    config: GenerationConfig, uniforms: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(B, T) lookback ids + (B, T + H, 5) stamps -> generated ids (B * P, H): the one engine dispatch.

    ``uniforms`` is (B, P, H, 2). Row b * P + p of the result is path p of series b. The recompute
    engine (the official algorithm) runs every path as its own row over the repeated history.
    """
    if config.engine == "cached":
        return generate_cached(model, s1_history, s2_history, stamps, config, uniforms)
    paths = config.sample_count
    return generate_recompute(model, s1_history.repeat_interleave(paths, 0), s2_history.repeat_interleave(paths, 0),
                              stamps.repeat_interleave(paths, 0), config, uniforms.reshape(-1, config.pred_len, 2))


@torch.inference_mode()
def generate_paths(tokenizer: KronosTokenizer, model: Kronos, x: torch.Tensor, x_stamp: torch.Tensor,
                   y_stamp: torch.Tensor, config: GenerationConfig, uniforms: torch.Tensor) -> torch.Tensor:
    """Sample future bars for a batch of equal-length normalised windows.

    Args:
        x: (B, T, 6) normalised, clipped lookback bars.
        x_stamp: (B, T, 5) and y_stamp: (B, H, 5) integer time features, H = pred_len.
        uniforms: (B, P, H, 2) sampling uniforms (see :func:`~kronos_quant.inference.sampling.draw_uniforms`).
    Returns:
        (B, P, H, 6) float32 normalised sample paths on x's device.
    """
    batch, paths, horizon = x.shape[0], config.sample_count, config.pred_len
    stamps = torch.cat([x_stamp, y_stamp], dim=1)
    with precision_context(x.device, config.autocast_dtype):
        s1_history, s2_history = tokenizer.encode(x, half=True)
        s1_new, s2_new = generate_tokens(model, s1_history, s2_history, stamps, config, uniforms)
        decoded = decode_new_tokens(tokenizer, (s1_history, s2_history), (s1_new, s2_new), config.max_context)
    return decoded.float().reshape(batch, paths, horizon, -1)


def decode_new_tokens(tokenizer: KronosTokenizer, history: tuple[torch.Tensor, torch.Tensor],
                      new: tuple[torch.Tensor, torch.Tensor], max_context: int) -> torch.Tensor:
    """Bars (B * P, H, 6) of the generated tokens, decoded in the last <= max_context tokens' window.

    The shared history part of the window is decoded once per series; when the window holds
    generated tokens only, every path is decoded in full.
    """
    history_len, horizon = history[0].shape[1], new[0].shape[1]
    window_start = max(0, history_len + horizon - max_context)
    if window_start < history_len:
        prefix = tuple(ids[:, window_start:] for ids in history)
        return tokenizer.decode_continuations(prefix, new)
    tail = [ids[:, window_start - history_len:] for ids in new]
    return tokenizer.decode(tail, half=True)[:, -horizon:]
