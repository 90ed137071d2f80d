"""Windows sampled on the fly from a :class:`~kronos_quant.training.pretrain_panel.PricePanel`.

A window is ``length`` consecutive traded bars of one instrument. Window ``w`` (a global id in
``[0, len(sampler))``) belongs to instrument ``i = searchsorted(first_window, w)`` and starts at
its traded bar ``w - first_window[i]``. Only ids are drawn; bars are sliced and normalised when
a batch is built, so memory is the panel plus one batch, whatever the universe and history.

Sampling weights (:class:`SamplingWeights`):

- ``instruments: windows`` (default) draws an instrument in proportion to its windows and then a
  window within it, i.e. uniform over all windows; ``instruments: equal`` gives each instrument
  the same chance, however long its history.
- ``half_life`` (trading days, optional) tilts towards recent windows: a window whose last bar
  lies ``a`` bars before the panel's last day weighs ``0.5 ** (a / half_life)``. Age counts the
  instrument's traded bars plus its distance from the last day (suspensions count as zero).
  With ``instruments: windows`` the draw is then exactly proportional to those weights.

``targets_from`` (a calendar position) keeps only windows whose bars after the context all lie on
or after that day; the context may reach back before it. Validation windows are built this way:
their targets are bars no training window holds.

Draws are a pure function of ``(seed, epoch)``: a resumed run sees the same windows, and under DDP
every rank draws the same epoch and takes its interleaved shard (see training.datasets).
Normalisation uses the first ``context`` bars of each window only (lookback statistics).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from kronos_quant.normalization import NORM_EPS
from kronos_quant.time_features import time_features
from kronos_quant.training.pretrain_panel import PricePanel

INSTRUMENT_WEIGHTS = ("windows", "equal")


@dataclass(frozen=True)
class SamplingWeights:
    """How windows are drawn (see the module doc)."""

    instruments: str = "windows"  # windows: uniform over windows | equal: uniform over instruments
    half_life: float | None = None  # trading days; None: no recency tilt

    def __post_init__(self) -> None:
        if self.instruments not in INSTRUMENT_WEIGHTS:
            raise ValueError(f"sampling.instruments must be one of {INSTRUMENT_WEIGHTS}, got {self.instruments!r}")
        if self.half_life is not None and not self.half_life > 0:
            raise ValueError(f"sampling.half_life must be > 0 trading days or null, got {self.half_life!r}")


class WindowSampler:
    """Training source for :class:`~kronos_quant.training.loop.Trainer` (duck-types WindowArrays).

    ``len()`` is the number of windows; ``epoch_order(epoch, seed=, windows_per_epoch=)`` draws
    window ids; ``batch(ids, device)`` returns (bars (B, length, 6) float32 normalised, stamps
    (B, length, 5) int64).
    """

    def __init__(self, panel: PricePanel, *, length: int, context: int, clip: float = 5.0,
                 weights: SamplingWeights = SamplingWeights(), targets_from: int | None = None):
        if not 2 <= context < length:
            raise ValueError(f"context ({context}) must be >= 2 and below the window length ({length})")
        self.panel, self.length, self.context, self.clip, self.weights = panel, length, context, clip, weights
        self.first_start = self._first_starts(targets_from)  # (N,) first allowed start, in the instrument's bars
        self.windows_per_instrument = np.maximum(panel.lengths - length + 1 - self.first_start, 0)  # (N,) int64
        self.first_window = np.concatenate([[0], np.cumsum(self.windows_per_instrument)]).astype(np.int64)
        if self.first_window[-1] == 0:
            span = panel.date_span() if len(panel.days) else "the panel"
            raise ValueError(f"no instrument has {length} traded bars in {span}; "
                             "lower lookback/horizon or widen the date span")
        self.stamp_table = time_features(panel.calendar)  # (D, 5) int64, small
        self.instrument_p, self.ratio, self.age = self._instrument_weights()

    def _first_starts(self, targets_from: int | None) -> np.ndarray:
        if targets_from is None:
            return np.zeros(len(self.panel.instruments), dtype=np.int64)
        # bars of each instrument before targets_from: the first future bar must be at or after it
        before = np.concatenate([[0], np.cumsum(self.panel.days < targets_from)])[self.panel.offsets]
        return np.maximum(np.diff(before) - self.context, 0).astype(np.int64)

    def __len__(self) -> int:
        return int(self.first_window[-1])

    @property
    def n_instruments(self) -> int:
        """Instruments with at least one window."""
        return int((self.windows_per_instrument > 0).sum())

    def _instrument_weights(self):
        counts = self.windows_per_instrument.astype(np.float64)
        ratio = None if self.weights.half_life is None else 0.5 ** (1.0 / self.weights.half_life)
        last_day = self.panel.days[np.maximum(self.panel.offsets[1:] - 1, 0)] if len(self.panel.days) else None
        age = np.zeros(len(counts)) if last_day is None else (len(self.panel.calendar) - 1 - last_day).astype(float)
        if ratio is None:
            mass = counts if self.weights.instruments == "windows" else (counts > 0).astype(float)
        elif self.weights.instruments == "windows":
            mass = ratio ** age * (1 - ratio ** counts) / (1 - ratio)  # sum of the geometric window weights
        else:
            mass = (counts > 0).astype(float)
        return mass / mass.sum(), ratio, age

    def epoch_order(self, epoch: int, *, seed: int, windows_per_epoch: int | None) -> np.ndarray:
        """int64 (windows_per_epoch,) window ids drawn with replacement, a pure function of (seed, epoch)."""
        if windows_per_epoch is None:
            raise ValueError("pretraining samples windows on the fly: set windows_per_epoch (windows drawn per "
                             "epoch), e.g. batch_size x steps you want per epoch")
        rng = np.random.default_rng([seed, epoch, 20])
        instrument = rng.choice(len(self.instrument_p), size=windows_per_epoch, p=self.instrument_p)
        counts = self.windows_per_instrument[instrument]
        uniform = rng.random(windows_per_epoch)
        if self.ratio is None:
            position = np.minimum((uniform * counts).astype(np.int64), counts - 1)
        else:  # truncated geometric over positions, newest (counts - 1) heaviest; exact inverse CDF
            tail = 1 - uniform * (1 - self.ratio ** counts)
            back = np.floor(np.log(tail) / np.log(self.ratio)).astype(np.int64)
            position = counts - 1 - np.clip(back, 0, counts - 1)
        return self.first_window[instrument] + position

    def locate(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Window ids -> (instrument index (B,), first panel row (B,))."""
        ids = np.asarray(ids, dtype=np.int64)
        if ids.size and (ids.min() < 0 or ids.max() >= len(self)):
            raise IndexError(f"window ids must lie in [0, {len(self)})")
        instrument = np.searchsorted(self.first_window, ids, side="right") - 1
        return instrument, (self.panel.offsets[instrument] + self.first_start[instrument] + ids
                            - self.first_window[instrument])

    def windows(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Raw bars (B, length, 6) float32 and stamps (B, length, 5) int64 of window ids."""
        _, start = self.locate(ids)
        rows = start[:, None] + np.arange(self.length)[None, :]  # (B, length)
        return self.panel.bars[rows], self.stamp_table[self.panel.days[rows]]

    def head_stamps(self, count: int) -> np.ndarray:
        """Stamps (min(count, len), length, 5) of the first windows (what bar_freq_of_stamps reads)."""
        return self.windows(np.arange(min(count, len(self))))[1]

    def normalized(self, raw: np.ndarray) -> np.ndarray:
        """Instance-normalise (B, length, 6) raw windows with their first ``context`` bars' statistics."""
        lookback = raw[:, : self.context].astype(np.float64)
        mean, std = lookback.mean(axis=1, keepdims=True), lookback.std(axis=1, keepdims=True)
        return np.clip((raw - mean) / (std + NORM_EPS), -self.clip, self.clip).astype(np.float32)

    def batch(self, ids: np.ndarray, device: torch.device | str = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
        """(bars (B, length, 6) float32 normalised, stamps (B, length, 5) int64) on ``device``."""
        raw, stamps = self.windows(ids)
        bars, stamps = torch.from_numpy(self.normalized(raw)), torch.from_numpy(stamps)
        device = torch.device(device)
        if device.type == "cuda":  # page-locked host memory: the copy overlaps with compute
            bars, stamps = bars.pin_memory(), stamps.pin_memory()
        return bars.to(device, non_blocking=True), stamps.to(device, non_blocking=True)
