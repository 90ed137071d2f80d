"""Operations per decode step, counted with torch.profiler (issue 24).

A decode step on a GPU is launch-bound: its cost is the number of operations it dispatches more than their
size. :func:`ops_per_decode_step` counts them without looking inside the engine: it profiles generation at
two horizons and takes the difference per added step, so the prefill and the final decode cancel out.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch.profiler import ProfilerActivity, profile

from kronos_quant.inference.generation import generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import draw_uniforms
from kronos_quant.model.kronos import Kronos


class StepOps(NamedTuple):
    """Operations of one decode step."""

    aten: float  # every aten:: call the profiler records, nested ones included
    top_level: float  # aten:: calls made by Python code, not from inside another aten:: call
    kernels: float | None  # device kernels launched (CUDA only; None on the CPU)


def count_ops(fn) -> StepOps:
    """Profile ``fn()`` once and count its operations."""
    activities = [ProfilerActivity.CPU]
    on_cuda = torch.cuda.is_available()
    if on_cuda:
        activities.append(ProfilerActivity.CUDA)
    with profile(activities=activities) as prof:
        fn()
        if on_cuda:
            torch.cuda.synchronize()
    events = prof.events()
    aten = [event for event in events if event.name.startswith("aten::")]
    top = [event for event in aten if event.cpu_parent is None or not event.cpu_parent.name.startswith("aten::")]
    kernels = None
    if on_cuda:
        kernels = sum(1 for event in events if event.device_type == torch.autograd.DeviceType.CUDA)
    return StepOps(float(len(aten)), float(len(top)), kernels)


def ops_per_decode_step(model: Kronos, s1_history: torch.Tensor, s2_history: torch.Tensor, stamps: torch.Tensor,
                        config: GenerationConfig, *, extra_steps: int = 4) -> StepOps:
    """Operations per decode step of ``generate_tokens``: (ops at H + extra_steps - ops at H) / extra_steps.

    ``stamps`` must cover lookback + pred_len + extra_steps bars; the window must not slide within them.
    """
    counts = []
    for horizon in (config.pred_len, config.pred_len + extra_steps):
        step_config = GenerationConfig(**{**config.__dict__, "pred_len": horizon})
        uniforms = draw_uniforms(s1_history.shape[0], config.sample_count, horizon, seed=0)
        used = stamps[:, : s1_history.shape[1] + horizon]
        with torch.inference_mode():
            generate_tokens(model, s1_history, s2_history, used, step_config, uniforms)  # warm-up
            counts.append(count_ops(lambda: generate_tokens(model, s1_history, s2_history, used, step_config,
                                                            uniforms)))
    per_step = [(after - before) / extra_steps if before is not None else None
                for before, after in zip(counts[0], counts[1])]
    return StepOps(*per_step)
