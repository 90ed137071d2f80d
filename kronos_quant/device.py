"""One device resolver for inference, training and the Qlib adapter."""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

AUTO = (None, "auto")


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def resolve_device(name: str | torch.device | None = None, *, local_rank: int = 0) -> torch.device:
    """The torch device a user's setting names.

    Args:
        name: None or "auto" (cuda, then mps, then cpu), "cpu", "cuda", "cuda:N", "mps", or a torch.device.
        local_rank: the GPU a bare "cuda" (or "auto" on a CUDA machine) means; torchrun ranks pass LOCAL_RANK.
    Raises:
        ValueError: an unknown name, or a cuda/mps device this machine does not have.
    """
    if name in AUTO:
        if torch.cuda.is_available():
            name = "cuda"
        else:
            return torch.device("mps" if mps_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError) as err:
        raise ValueError(f"device must be auto, cpu, cuda, cuda:N or mps, got {name!r}") from err
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(f"device {str(name)!r} requested but CUDA is not available; use cpu (or auto)")
        return device if device.index is not None else torch.device("cuda", local_rank)
    if device.type == "mps" and not mps_available():
        raise ValueError(f"device {str(name)!r} requested but MPS is not available; use cpu (or auto)")
    return device


@contextmanager
def torch_threads(count: int | None) -> Iterator[None]:
    """Run the block with ``count`` torch intra-op threads (None: leave torch's setting alone).

    The number of threads decides how a CPU matmul splits its sums, so float results (and, through
    sampling, whole forecasts and trained weights) differ between thread counts; a fixed count makes
    them independent of the machine's cores and of ``OMP_NUM_THREADS``.
    """
    if count is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(int(count))
    try:
        yield
    finally:
        torch.set_num_threads(previous)

