"""Window arrays -> training batches: seeded per-epoch sampling and rank sharding (no qlib here).

Sampling is a pure function of ``(seed, epoch)``, so a resumed run sees exactly the batches the
interrupted run would have seen, and under DDP every rank computes the same permutation and takes
its own interleaved shard: optimizer step s of rank r uses ``perm[(s*B + j) * W + r]`` for
j < B, so the union over ranks is ``perm[s*B*W : (s+1)*B*W]`` — the batch one process with batch
size B*W would use. That is what makes DDP equal single-process gradient averaging.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from kronos_quant.time_features import time_features


@dataclass(frozen=True)
class WindowArrays:
    """Normalised training windows.

    bars: float32 (N, L, 6) normalised open, high, low, close, volume, amount (lookback-only stats).
    stamps: int64 (N, L, 5) time features (minute, hour, weekday, day, month) of each bar.
    L = lookback + horizon (+1 for the predictor's next-token shift); every window has the same L.
    """

    bars: np.ndarray
    stamps: np.ndarray

    def __post_init__(self) -> None:
        bars, stamps = np.asarray(self.bars), np.asarray(self.stamps)
        if bars.ndim != 3 or bars.shape[-1] != 6:
            raise ValueError(f"WindowArrays.bars must be (N, L, 6) normalised bars, got shape {bars.shape}")
        if stamps.shape != bars.shape[:2] + (5,):
            raise ValueError(f"WindowArrays.stamps must be (N, L, 5) = {bars.shape[:2] + (5,)}, got {stamps.shape}")
        if len(bars) == 0:
            raise ValueError("WindowArrays is empty: no windows to train or validate on")
        if not np.isfinite(bars).all():
            raise ValueError("WindowArrays.bars holds NaN/inf; drop or fill those windows before training")
        object.__setattr__(self, "bars", np.ascontiguousarray(bars, dtype=np.float32))
        object.__setattr__(self, "stamps", np.ascontiguousarray(stamps, dtype=np.int64))

    def __len__(self) -> int:
        return len(self.bars)

    @property
    def length(self) -> int:
        """L, bars per window."""
        return self.bars.shape[1]

    def batch(self, rows: np.ndarray, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(bars (B, L, 6) float32, stamps (B, L, 5) int64) on ``device`` for the given row indices."""
        bars, stamps = torch.from_numpy(self.bars[rows]), torch.from_numpy(self.stamps[rows])
        if torch.device(device).type == "cuda":  # page-locked host memory: the copy overlaps with compute
            bars, stamps = bars.pin_memory(), stamps.pin_memory()
        return bars.to(device, non_blocking=True), stamps.to(device, non_blocking=True)


def epoch_permutation(n_windows: int, epoch: int, *, seed: int, windows_per_epoch: int | None) -> np.ndarray:
    """The window rows of one epoch: a seeded permutation of range(n), cut to ``windows_per_epoch``."""
    order = np.random.default_rng([seed, epoch]).permutation(n_windows)
    return order if windows_per_epoch is None else order[:windows_per_epoch]


def epoch_order(source, epoch: int, *, seed: int, windows_per_epoch: int | None) -> np.ndarray:
    """Rows of one epoch: ``source.epoch_order`` when the source samples its own windows (the
    pretraining sampler draws ids on the fly), else :func:`epoch_permutation` of its rows."""
    if hasattr(source, "epoch_order"):
        return source.epoch_order(epoch, seed=seed, windows_per_epoch=windows_per_epoch)
    return epoch_permutation(len(source), epoch, seed=seed, windows_per_epoch=windows_per_epoch)


def rank_shard(order: np.ndarray, rank: int, world_size: int) -> np.ndarray:
    """Interleaved shard ``order[rank::world]`` cut so that every rank holds the same count."""
    per_rank = len(order) // world_size
    return order[rank::world_size][:per_rank]


def steps_per_epoch(n_windows: int, *, windows_per_epoch: int | None, batch_size: int, grad_accum_steps: int,
                    world_size: int) -> int:
    """Optimizer steps in one epoch (incomplete last batches are dropped)."""
    used = n_windows if windows_per_epoch is None else min(windows_per_epoch, n_windows)
    return used // world_size // (batch_size * grad_accum_steps)


def step_rows(shard: np.ndarray, step: int, *, batch_size: int, grad_accum_steps: int) -> list[np.ndarray]:
    """The ``grad_accum_steps`` micro-batches (row indices) of optimizer step ``step`` of an epoch."""
    start = step * batch_size * grad_accum_steps
    return [shard[start + k * batch_size: start + (k + 1) * batch_size] for k in range(grad_accum_steps)]


def validation_rows(n_windows: int, *, seed: int, limit: int | None, rank: int, world_size: int) -> np.ndarray:
    """A fixed (seeded) subset of validation rows, sorted, then this rank's interleaved part (uneven ok)."""
    rows = np.arange(n_windows)
    if limit is not None and limit < n_windows:
        rows = np.sort(np.random.default_rng([seed, 1_000_003]).choice(n_windows, limit, replace=False))
    return rows[rank::world_size]


def save_window_arrays(path: str | Path, train: WindowArrays, valid: WindowArrays) -> Path:
    """Write train/valid windows to one ``.npz`` (the ``data.arrays_file`` source of a training YAML)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, train_bars=train.bars, train_stamps=train.stamps, valid_bars=valid.bars,
             valid_stamps=valid.stamps)
    return path


def load_window_arrays(path: str | Path) -> tuple[WindowArrays, WindowArrays]:
    """(train, valid) WindowArrays from a file written by :func:`save_window_arrays`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"window arrays file {path} does not exist; write it with save_window_arrays")
    with np.load(path) as data:
        missing = {"train_bars", "train_stamps", "valid_bars", "valid_stamps"} - set(data.files)
        if missing:
            raise ValueError(f"{path} lacks arrays {sorted(missing)}; write it with save_window_arrays")
        return (WindowArrays(data["train_bars"], data["train_stamps"]),
                WindowArrays(data["valid_bars"], data["valid_stamps"]))


def mix_windows(real: WindowArrays, generated: WindowArrays, *, ratio: float, seed: int = 0) -> WindowArrays:
    """All real windows plus ``round(ratio * len(real))`` generated ones (drawn without replacement, seeded).

    ``ratio`` is generated windows per real window; 0 returns ``real`` unchanged.
    """
    if ratio < 0:
        raise ValueError(f"ratio must be >= 0 (generated windows per real window), got {ratio}")
    if real.bars.shape[1:] != generated.bars.shape[1:]:
        raise ValueError(f"real windows {real.bars.shape[1:]} and generated windows {generated.bars.shape[1:]} "
                         "differ in length; build both with the same lookback and horizon")
    wanted = int(round(ratio * len(real)))
    if wanted == 0:
        return real
    if wanted > len(generated):
        raise ValueError(f"ratio {ratio} needs {wanted} generated windows but only {len(generated)} exist; "
                         "generate more universes or lower the ratio")
    rows = np.sort(np.random.default_rng(seed).choice(len(generated), wanted, replace=False))
    return WindowArrays(np.concatenate([real.bars, generated.bars[rows]]),
                        np.concatenate([real.stamps, generated.stamps[rows]]))


def random_walk_windows(n_windows: int, length: int, *, seed: int = 0) -> WindowArrays:
    """Synthetic normalised windows: per-series random-walk OHLC + volume/amount, daily stamps.

    For tests and benchmarks without market data; bars are normalised with the first
    ``length - length // 10`` rows' statistics (a lookback), as real windows are.
    """
    rng = np.random.default_rng(seed)
    close = np.cumsum(rng.normal(0, 1, (n_windows, length)), axis=1) + 100
    spread = np.abs(rng.normal(0, 0.5, (n_windows, length, 2)))
    open_ = close + rng.normal(0, 0.3, (n_windows, length))
    high = np.maximum(open_, close) + spread[..., 0]
    low = np.minimum(open_, close) - spread[..., 1]
    volume = np.exp(rng.normal(10, 0.3, (n_windows, length)))
    raw = np.stack([open_, high, low, close, volume, volume * close], axis=-1)
    lookback = raw[:, : length - length // 10]
    bars = np.clip((raw - lookback.mean(1, keepdims=True)) / (lookback.std(1, keepdims=True) + 1e-5), -5, 5)
    days = np.datetime64("2020-01-06") + rng.integers(0, 500, n_windows)[:, None] + np.arange(length)[None, :]
    stamps = _day_stamps(days)
    return WindowArrays(bars.astype(np.float32), stamps)


def _day_stamps(days: np.ndarray) -> np.ndarray:
    """datetime64[D] (N, L) -> (N, L, 5) int64 time features."""
    return time_features(days.ravel()).reshape(days.shape + (5,))
