"""Array views of generated universes: closes, $change, the derived benchmark and naive-factor signals.

One definition serves both the provider writer and the vectorised simulator, so a universe written as a
Qlib provider and the same universe simulated in memory see the same numbers (up to float32 storage).
Shapes: U universes, D days (history then future), I instruments.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from kronos_quant.universes.generate import Universes

BENCHMARK_BASE = 1000.0  # level of the derived benchmark on the first history day
SIGNAL_PATTERN = re.compile(r"^(reversal|momentum)_(\d+)$")


def forward_fill(values: np.ndarray, axis: int = -2) -> np.ndarray:
    """Carry the last finite value forward along ``axis`` (the day axis of (..., D, I))."""
    moved = np.moveaxis(np.asarray(values, dtype=np.float64), axis, -1)
    index = np.where(np.isfinite(moved), np.arange(moved.shape[-1]), 0)
    np.maximum.accumulate(index, axis=-1, out=index)
    filled = np.take_along_axis(moved, index, axis=-1)
    return np.moveaxis(filled, -1, axis)


def change_panel(close: np.ndarray) -> np.ndarray:
    """(..., D, I) close / last valid previous close - 1 (Qlib's ``$change``); NaN on suspended days and day 0."""
    previous = np.concatenate([np.full_like(close[..., :1, :], np.nan), forward_fill(close)[..., :-1, :]], axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isfinite(close), close / previous - 1.0, np.nan)


def equal_weight_returns(close: np.ndarray) -> np.ndarray:
    """(..., D) mean of the members' $change that day (suspended members left out); 0 on day 0."""
    change = change_panel(close)
    counts = np.isfinite(change).sum(-1)
    total = np.nansum(change, axis=-1)
    return np.where(counts > 0, total / np.maximum(counts, 1), 0.0)


def benchmark_level(close: np.ndarray) -> np.ndarray:
    """(..., D) the derived benchmark: an equal-weight index of the members, BENCHMARK_BASE on day 0."""
    return BENCHMARK_BASE * np.cumprod(1.0 + equal_weight_returns(close), axis=-1)


def check_signal(name: str) -> tuple[str, int]:
    """(kind, days) of a naive factor name, or a ValueError naming the accepted forms."""
    match = SIGNAL_PATTERN.match(str(name))
    if match is None or int(match.group(2)) < 1:
        raise ValueError(f"unknown signal {name!r}; use reversal_<days> or momentum_<days> (days >= 1), e.g. "
                         "reversal_5, momentum_20")
    return match.group(1), int(match.group(2))


def factor_signal(name: str, close: np.ndarray) -> np.ndarray:
    """A naive factor on closes (..., D, I): ``reversal_k`` = -(close / Ref(close, k) - 1) and
    ``momentum_k`` = close / Ref(close, k) - 1, both NaN where either close is missing (as Qlib's
    ``Ref`` over calendar rows). Equivalent Qlib expressions: :func:`factor_expression`."""
    kind, days = check_signal(name)
    lagged = np.concatenate([np.full_like(close[..., :days, :], np.nan), close[..., :-days, :]], axis=-2)
    with np.errstate(invalid="ignore", divide="ignore"):
        momentum = close / lagged - 1.0
    return -momentum if kind == "reversal" else momentum


def factor_expression(name: str) -> str:
    """The Qlib expression of a naive factor name (for workflows on generated providers)."""
    kind, days = check_signal(name)
    ratio = f"$close/Ref($close, {days})"
    return f"1-{ratio}" if kind == "reversal" else f"{ratio}-1"  # qlib has no unary minus


@dataclass(frozen=True)
class SimulationInputs:
    """What :func:`kronos_quant.universes.simulator.simulate` takes, over the H future days."""

    close: np.ndarray  # (U, H, I)
    change: np.ndarray  # (U, H, I)
    signal: np.ndarray  # (U, H, I) score used on day d = factor at the close of day d - 1
    bench: np.ndarray  # (U, H)


def inputs_from_panel(panel: np.ndarray, start: int, signal: str, scores: np.ndarray | None = None
                      ) -> SimulationInputs:
    """Simulation inputs over days [start, D) of close panels (U, D, I); the signal on day d is the factor
    (or the given ``scores`` (U, D, I)) at the close of day d - 1, the benchmark the members' equal-weight index."""
    if start < 1 or start >= panel.shape[1]:
        raise ValueError(f"start must leave >= 1 day before and after it, got {start} of {panel.shape[1]} days")
    scores = factor_signal(signal, panel) if scores is None else np.asarray(scores, dtype=np.float64)
    return SimulationInputs(close=panel[:, start:], change=change_panel(panel)[:, start:],
                            signal=scores[:, start - 1:-1], bench=equal_weight_returns(panel)[:, start:])


def simulation_inputs(universes: Universes, signal: str) -> SimulationInputs:
    """Closes, changes, the lagged signal and the derived benchmark over the generated days."""
    return inputs_from_panel(universes.close_panel().astype(np.float64), len(universes.history.dates), signal)
