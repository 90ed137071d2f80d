"""AdamW with nanoGPT's decay groups and a warmup + cosine/linear/constant learning-rate schedule."""
from __future__ import annotations

import math

import torch
from torch import nn


def build_optimizer(model: nn.Module, *, lr: float, betas: tuple[float, float], weight_decay: float,
                    device: torch.device, fused: bool | None = None) -> torch.optim.AdamW:
    """AdamW; weight decay on matrices and embeddings (dim >= 2) only, not on biases and norm gains.

    ``fused`` defaults to True on CUDA; on the CPU the multi-tensor ``foreach`` kernels are used.
    ``fused=False`` gives the plain per-parameter loop (foreach=False), the benchmark's baseline.
    """
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    if fused is None:
        fused = device.type == "cuda"
        kwargs = {"fused": True} if fused else {"foreach": True}
    else:
        kwargs = {"fused": True} if fused else {"foreach": False, "fused": False}
    return torch.optim.AdamW(groups, lr=lr, betas=tuple(betas), **kwargs)


def lr_factor(step: int, *, warmup_steps: int, total_steps: int, schedule: str, min_lr_ratio: float) -> float:
    """Multiplier of the peak lr at optimizer step ``step`` (0-based): linear warmup, then decay to min."""
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if schedule == "constant":
        return 1.0
    progress = min(1.0, (step - warmup_steps) / max(1, total_steps - warmup_steps))
    if schedule == "cosine":
        return min_lr_ratio + (1 - min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress))
    if schedule == "linear":
        return 1.0 - (1 - min_lr_ratio) * progress
    raise ValueError(f"unknown schedule {schedule!r}; use cosine, linear or constant")


def build_scheduler(optimizer: torch.optim.Optimizer, *, warmup_steps: int, total_steps: int, schedule: str,
                    min_lr_ratio: float) -> torch.optim.lr_scheduler.LambdaLR:
    def factor(step: int) -> float:
        return lr_factor(step, warmup_steps=warmup_steps, total_steps=total_steps, schedule=schedule,
                         min_lr_ratio=min_lr_ratio)

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
