"""Generate U joint futures ("universes") of H trading days for every member, from bars <= t0 only.

The fast (cached) engine runs batched over instruments x universes: each instrument's lookback is
prefilled once and its KV cache shared by its U sample paths, one per universe. Work is chunked to a
memory budget, with a progress bar. Co-movement comes from :mod:`kronos_quant.universes.dependence`:
coarse tokens are sampled in an order monotone in return, with uniforms correlated across instruments.
A seed reproduces every universe; chunking does not change them (uniforms are drawn up front).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
import torch
from tqdm.auto import tqdm

from kronos_quant.inference.batching import series_per_chunk
from kronos_quant.inference.cached import generate_cached
from kronos_quant.inference.generation import decode_new_tokens, precision_context
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig
from kronos_quant.model.kronos import Kronos
from kronos_quant.model.tokenizer import KronosTokenizer
from kronos_quant.normalization import NORM_EPS, derived_amount, fit_scale, normalize
from kronos_quant.time_features import time_features
from kronos_quant.universes.dependence import factor_uniforms, s1_return_order
from kronos_quant.universes.history import MarketHistory

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class UniverseConfig:
    """How universes are generated."""

    n_universes: int  # U joint futures
    horizon: int = 60  # H trading days after t0
    lookback: int = 120  # bars of history each member is conditioned on (its last valid bars <= t0)
    rho: float = 0.0  # copula loading of the common factor; 0 = independent paths
    ordered_tokens: bool = True  # sample coarse tokens in an order monotone in return (needed for rho > 0)
    temperature: float = 1.0
    top_p: float = 0.9
    max_context: int = 512
    limit: float | None = 0.1  # daily close move clipped to +-limit (A-share price limit); None = no clip
    seed: int = 0
    memory_budget_gb: float = 2.0
    clip: float = 5.0  # normalised inputs clipped to +-clip, as the predictor does

    def __post_init__(self) -> None:
        if int(self.n_universes) < 1:
            raise ValueError(f"n_universes must be >= 1, got {self.n_universes}")
        if int(self.horizon) < 1 or int(self.lookback) < 2:
            raise ValueError(f"need horizon >= 1 and lookback >= 2, got {self.horizon}, {self.lookback}")
        if not 0.0 <= self.rho < 1.0:
            raise ValueError(f"rho must be in [0, 1), got {self.rho}")
        if self.rho > 0 and not self.ordered_tokens:
            raise ValueError("rho > 0 needs ordered_tokens=True: a common uniform moves returns together "
                             "only over a token order that is monotone in return")
        if self.limit is not None and not 0 < self.limit < 1:
            raise ValueError(f"limit must be in (0, 1) or None, got {self.limit}")
        SamplingConfig(temperature=self.temperature, top_p=self.top_p)  # validates both


@dataclass(frozen=True)
class Universes:
    """Generated futures.

    paths: float32 (U, I, H, 6) open, high, low, close, volume, amount in price units.
    history: the members' real bars up to t0 (the conditioning data).
    coarse_uniforms: float32 (I, U, H) the coarse sampling uniforms (for diagnostics).
    """

    history: MarketHistory
    dates: pd.DatetimeIndex  # H future trading days
    instruments: tuple[str, ...]  # I members that had a full lookback
    paths: np.ndarray
    config: UniverseConfig
    coarse_uniforms: np.ndarray

    @property
    def n_universes(self) -> int:
        return self.paths.shape[0]

    def close_panel(self) -> np.ndarray:
        """float32 (U, D_hist + H, I): real closes up to t0 then each universe's generated closes."""
        columns = [self.history.instruments.index(name) for name in self.instruments]
        real = self.history.close[:, columns]
        generated = np.transpose(self.paths[..., 3], (0, 2, 1))
        return np.concatenate([np.broadcast_to(real, (self.n_universes,) + real.shape), generated], axis=1)

    def all_dates(self) -> pd.DatetimeIndex:
        return self.history.dates.append(self.dates)


class _OrderedCoarseVocab:
    """Kronos seen through a permutation of its coarse vocabulary: position k stands for token order[k].

    The engine samples by inverse CDF over vocabulary positions; here those positions run from the lowest
    to the highest decoded close, so the same uniform means "a high return" in every series. Every model
    method that takes coarse ids maps them back; any other attribute the engine asks for must be in
    ``ID_FREE`` (methods that never see coarse ids), else this raises rather than silently mixing id spaces.
    """

    ID_FREE = frozenset({"trunk", "new_caches", "new_dependency_cache", "cache_context", "rotary_tables",
                         "parameters", "config"})

    def __init__(self, model: Kronos, order: torch.Tensor):
        self._model, self._order = model, order
        self.head = SimpleNamespace(proj_s1=lambda hidden: model.head.proj_s1(hidden)[..., order])

    def __getattr__(self, name):
        if name not in self.ID_FREE:
            raise AttributeError(f"the generation engine asked the ordered-vocabulary view for {name!r}; map its "
                                 "coarse ids in kronos_quant.universes.generate._OrderedCoarseVocab")
        return getattr(self._model, name)

    def embed(self, s1_ids, s2_ids, stamp):
        return self._model.embed(self._order[s1_ids], s2_ids, stamp)

    def fine_logits(self, hidden, s1_ids, **kwargs):
        return self._model.fine_logits(hidden, self._order[s1_ids], **kwargs)


def _lookback_windows(history: MarketHistory, lookback: int) -> tuple[list[int], np.ndarray, np.ndarray]:
    """Members with >= lookback valid bars; their last ``lookback`` valid bars (I, T, 6) and stamps (I, T, 5)."""
    valid = history.valid()
    kept, windows, stamps = [], [], []
    for column in range(valid.shape[1]):
        rows = np.flatnonzero(valid[:, column])[-lookback:]
        if len(rows) < lookback:
            continue
        kept.append(column)
        windows.append(history.bars[rows, column].astype(np.float64))
        stamps.append(time_features(history.dates[rows]))
    if not kept:
        raise ValueError(f"no member has {lookback} valid bars up to t0={history.t0.date()}; pick a later t0, "
                         "load more history days, or shorten the lookback")
    dropped = valid.shape[1] - len(kept)
    if dropped:
        logger.info("%d of %d members lack %d valid bars before t0 and are left out", dropped, valid.shape[1],
                    lookback)
    return kept, np.stack(windows), np.stack(stamps)


def _coarse_order(tokenizer: KronosTokenizer, x_all: np.ndarray, ordered: bool, max_windows: int = 64
                  ) -> np.ndarray:
    """The coarse vocabulary order: by decoded close in the members' own lookbacks, or the natural order."""
    if not ordered:
        return np.arange(2 ** tokenizer.s1_bits)
    step = max(1, len(x_all) // max_windows)
    return s1_return_order(tokenizer, torch.from_numpy(x_all[::step][:max_windows]))


def _chunks(n_instruments: int, n_universes: int, rows_per_chunk: int):
    """(instrument slice, universe slice) blocks of at most rows_per_chunk instrument-universe rows."""
    universes = max(1, min(n_universes, rows_per_chunk))
    instruments = max(1, rows_per_chunk // universes)
    for i in range(0, n_instruments, instruments):
        for u in range(0, n_universes, universes):
            yield slice(i, i + instruments), slice(u, u + universes)


@torch.inference_mode()
def generate_universes(tokenizer: KronosTokenizer, model: Kronos, history: MarketHistory, dates: pd.DatetimeIndex,
                       config: UniverseConfig, *, device: str | torch.device = "cpu",
                       progress: bool = False) -> Universes:
    """U universes of H future bars for every member of ``history`` (which ends at t0).

    Args:
        dates: the H future trading days (time features of the generated bars).
    Returns:
        :class:`Universes` with paths (U, I, H, 6) in price units.
    """
    if len(dates) != config.horizon:
        raise ValueError(f"dates has {len(dates)} days but horizon={config.horizon}")
    device = torch.device(device)
    model, tokenizer = model.to(device).eval(), tokenizer.to(device).eval()
    kept, windows, x_stamps = _lookback_windows(history, config.lookback)
    scale = fit_scale(windows)  # (I, 1, 6) from each lookback only
    x_all = normalize(windows, scale, config.clip)
    y_stamp = time_features(dates)
    n_inst, n_univ, horizon = len(kept), int(config.n_universes), config.horizon
    uniforms = factor_uniforms(n_inst, n_univ, horizon, rho=config.rho, seed=config.seed).float()
    order = torch.from_numpy(_coarse_order(tokenizer, x_all, config.ordered_tokens)).to(device)
    rank = torch.empty_like(order)
    rank[order] = torch.arange(order.numel(), device=device)
    view = _OrderedCoarseVocab(model, order)
    one_path = GenerationConfig(pred_len=horizon, max_context=config.max_context, sample_count=1,
                                sampling=SamplingConfig(temperature=config.temperature, top_p=config.top_p))
    rows = series_per_chunk(model, config.lookback, one_path, config.memory_budget_gb * 2**30)
    normalised = np.empty((n_inst, n_univ, horizon, 6), dtype=np.float32)
    plan = list(_chunks(n_inst, n_univ, rows))
    for inst, univ in tqdm(plan, desc="universes", unit="chunk", disable=not progress):
        x = torch.from_numpy(x_all[inst]).float().to(device)
        stamps = torch.from_numpy(np.concatenate(
            [x_stamps[inst], np.broadcast_to(y_stamp, (x.shape[0],) + y_stamp.shape)], axis=1)).long().to(device)
        block = uniforms[inst, univ].to(device)  # (B, P, H, 2)
        gen_config = GenerationConfig(pred_len=horizon, max_context=config.max_context,
                                      sample_count=block.shape[1], sampling=one_path.sampling)
        with precision_context(device, None):
            s1_hist, s2_hist = tokenizer.encode(x, half=True)
            s1_new, s2_new = generate_cached(view, rank[s1_hist], s2_hist, stamps, gen_config, block)
            decoded = decode_new_tokens(tokenizer, (s1_hist, s2_hist), (order[s1_new], s2_new), config.max_context)
        normalised[inst, univ] = decoded.float().reshape(x.shape[0], block.shape[1], horizon, -1).cpu().numpy()
    prices = normalised * (scale.std[:, None] + NORM_EPS) + scale.mean[:, None]  # (I, U, H, 6)
    last_close = windows[:, -1, 3]
    paths = tidy_bars(np.transpose(prices, (1, 0, 2, 3)), last_close, limit=config.limit)
    return Universes(history=history, dates=pd.DatetimeIndex(dates), instruments=tuple(
        history.instruments[c] for c in kept), paths=paths.astype(np.float32), config=config,
        coarse_uniforms=uniforms[..., 0].numpy())


def tidy_bars(paths: np.ndarray, last_close: np.ndarray, *, limit: float | None) -> np.ndarray:
    """Make generated bars (U, I, H, 6) tradable; float64 out.

    Prices stay > 0. With a ``limit``, each generated close-to-close return is clipped to +-limit (the
    exchange's price limit) and the closes rebuilt from the clipped returns; each bar's open/high/low are
    moved with its close, then kept inside the day's band. Then high >= max(open, close),
    low <= min(open, close), volume >= 0 and amount = volume * mean(OHLC).
    """
    bars = np.array(paths, dtype=np.float64)
    floor = 1e-4 * last_close[None, :, None, None]
    bars[..., :4] = np.maximum(bars[..., :4], floor)
    if limit is not None:
        closes = np.concatenate([np.broadcast_to(last_close[None, :, None], bars.shape[:2] + (1,)),
                                 bars[..., 3]], axis=2)
        ratios = np.clip(closes[..., 1:] / closes[..., :-1], 1 - limit, 1 + limit)
        new_close = last_close[None, :, None] * np.cumprod(ratios, axis=2)
        bars[..., :4] *= (new_close / bars[..., 3])[..., None]
        previous = np.concatenate([np.broadcast_to(last_close[None, :, None], bars.shape[:2] + (1,)),
                                   new_close[..., :-1]], axis=2)
        bars[..., :4] = np.clip(bars[..., :4], (previous * (1 - limit))[..., None],
                                (previous * (1 + limit))[..., None])
    body_high = np.maximum(bars[..., 0], bars[..., 3])
    body_low = np.minimum(bars[..., 0], bars[..., 3])
    bars[..., 1] = np.maximum(bars[..., 1], body_high)
    bars[..., 2] = np.minimum(bars[..., 2], body_low)
    bars[..., 4] = np.maximum(bars[..., 4], 0.0)
    bars[..., 5] = derived_amount(bars)
    return bars
