"""Distributed inference of a KronosModel: shard the (date, instrument) windows over torchrun ranks.

::

    torchrun --nproc_per_node=8 -m kronos_quant.cli predict --workflow-config workflows/csi300_zero_shot.yaml \
        --out scores.pkl                      # nccl on GPUs (cuda:LOCAL_RANK), gloo on CPU

Every rank prepares the same windows (data loading is cheap next to forecasting) and forecasts a
contiguous block of them. A window's uniforms are keyed by its (datetime, instrument) and the seed,
so they do not depend on the block. Rank 0 gathers the blocks in rank order, so the scores equal
a single-process :meth:`KronosModel.predict` bit for bit (see tests/qlib_ext/test_distributed.py).
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch.distributed as dist

from kronos_quant.qlib_ext.model import KronosModel
from kronos_quant.training.ddp import DistContext

logger = logging.getLogger(__name__)


def shard_bounds(n_rows: int, rank: int, world_size: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous block; blocks differ in size by at most one row."""
    if not 0 <= rank < world_size:
        raise ValueError(f"rank must be in [0, {world_size}), got {rank}")
    base, extra = divmod(n_rows, world_size)
    start = rank * base + min(rank, extra)
    return start, start + base + (1 if rank < extra else 0)


def distributed_predict(model: KronosModel, dataset, segment: str = "test", *,
                        ctx: DistContext | None = None) -> pd.Series | None:
    """Scores of ``segment`` like ``model.predict(dataset, segment)``, forecast by all ranks.

    Returns the full ``pd.Series`` on rank 0 and ``None`` on the other ranks. Without a process
    group (``ctx`` None or a world of one) it is ``model.predict``.
    """
    if ctx is None or not ctx.distributed:
        return model.predict(dataset, segment)
    windows = model.prepare_windows(dataset, segment)
    start, stop = shard_bounds(len(windows), ctx.rank, ctx.world_size)
    logger.info("rank %d/%d: windows %d..%d of %d", ctx.rank, ctx.world_size, start, stop, len(windows))
    rows = slice(start, stop)
    block = model.score(model.forecast_rows(windows.x[rows], windows.x_stamp[rows], windows.y_stamp[rows],
                                            windows.index[rows],
                                            progress=bool(model.runtime.progress) and ctx.is_master))
    blocks = [None] * ctx.world_size if ctx.is_master else None
    dist.gather_object(block, blocks, dst=0)
    if not ctx.is_master:
        return None
    scores = np.concatenate(blocks)
    assert len(scores) == len(windows), "gathered blocks must cover every window exactly once"
    return pd.Series(scores, index=windows.index, name="score")
