"""Distributed data parallel helpers, nanoGPT style: torchrun env -> process group, master gate.

``torchrun --nproc_per_node=N ...`` sets RANK, WORLD_SIZE and LOCAL_RANK; without them the
process is a world of one and no process group is created. gloo serves CPU, nccl serves CUDA.
"""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist
from torch import nn

from kronos_quant.device import resolve_device

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DistContext:
    """Where this process sits: rank, world size, and its device."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    device: torch.device = torch.device("cpu")

    @property
    def is_master(self) -> bool:
        """True on rank 0, the only rank that logs and writes files."""
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world_size > 1


def init_distributed(device: str = "auto") -> DistContext:
    """Join the torchrun process group when RANK/WORLD_SIZE are set; otherwise a single process."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return DistContext(device=resolve_device(device))
    rank, local_rank = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda:"):
        raise ValueError(f"device {device!r} under torchrun would put every rank on one GPU; use device: cuda "
                         "(each rank takes cuda:LOCAL_RANK) and pick GPUs with CUDA_VISIBLE_DEVICES")
    target = resolve_device(device, local_rank=local_rank)
    if target.type == "mps":
        raise ValueError("MPS cannot join a torchrun process group (gloo serves CPU, nccl CUDA); use device: cpu")
    backend = "nccl" if target.type == "cuda" else "gloo"
    if target.type == "cuda":
        check_local_rank(local_rank, torch.cuda.device_count())
        torch.cuda.set_device(target)
    if not dist.is_initialized():
        # device_id binds this rank's communicator to its GPU at once (no guessed device, no hang)
        extra = {"device_id": target} if target.type == "cuda" else {}
        dist.init_process_group(backend=backend, rank=rank, world_size=world_size, **extra)
    if rank == 0:
        logger.info("DDP: %d processes, backend %s", world_size, backend)
    return DistContext(rank=rank, world_size=world_size, local_rank=local_rank, device=target)


def check_local_rank(local_rank: int, device_count: int) -> None:
    """A ValueError unless ``0 <= local_rank < device_count`` (each rank takes cuda:LOCAL_RANK)."""
    if not 0 <= local_rank < device_count:
        raise ValueError(f"LOCAL_RANK {local_rank} has no GPU: this node shows {device_count} CUDA device(s); "
                         f"launch at most {device_count} processes per node (torchrun --nproc_per_node="
                         f"{max(device_count, 1)}) or widen CUDA_VISIBLE_DEVICES")


def shutdown_distributed() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def distributed_session(device: str = "auto"):
    """``with distributed_session(device) as ctx:`` the process group of a ``torchrun`` entry point.

    Initialises it (a single process without torchrun), leaves logging to rank 0 and always shuts it down.
    """
    ctx = init_distributed(device)
    if not ctx.is_master:
        logging.getLogger().setLevel(logging.WARNING)  # rank 0 alone logs
    try:
        yield ctx
    finally:
        shutdown_distributed()


def wrap_model(model: nn.Module, ctx: DistContext) -> nn.Module:
    """DDP-wrap ``model`` (already on ctx.device) when distributed; otherwise return it unchanged."""
    if not ctx.distributed:
        return model
    from torch.nn.parallel import DistributedDataParallel

    device_ids = [ctx.device.index] if ctx.device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids)


def unwrap(model: nn.Module) -> nn.Module:
    """The plain module under DDP (``.module``) and torch.compile (``._orig_mod``) wrappers."""
    while True:
        if hasattr(model, "module") and isinstance(model.module, nn.Module):
            model = model.module
        elif hasattr(model, "_orig_mod"):
            model = model._orig_mod
        else:
            return model


def all_reduce_sum(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Sum of a float64 tensor over ranks (a copy; unchanged in a world of one)."""
    values = values.detach().to(ctx.device, torch.float64).clone()
    if ctx.distributed:
        dist.all_reduce(values, op=dist.ReduceOp.SUM)
    return values


def all_reduce_mean(values: torch.Tensor, ctx: DistContext) -> torch.Tensor:
    """Mean of a tensor over ranks (every rank gets the result)."""
    return all_reduce_sum(values, ctx) / ctx.world_size
