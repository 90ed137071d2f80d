"""Cross-sectional dependence for generated universes: a one-factor Gaussian copula on the sampling uniforms.

Kronos forecasts each series on its own. With independent sampling uniforms, the paths of different
instruments are independent, so an equal-weight portfolio of 300 generated stocks is ~17x calmer than
its members and the benchmark no longer moves with them. The scheme here restores co-movement:

1. **An order of coarse tokens that is monotone in return.** The sampler returns the token where the
   cumulative probability passes the uniform u (inverse CDF). Over the token ids' natural order a
   common u means nothing; over tokens sorted by the close they decode to (coarse-only decode of a
   one-token sequence, in normalised units), a high u picks a high-close token in *every* series.
   :func:`s1_return_order` computes that order once per tokenizer.
2. **Uniforms correlated across instruments by one market factor per universe and day.**
   ``u[i, n, t] = Phi(sqrt(rho) * Z[n, t] + sqrt(1 - rho) * eps[i, n, t])`` for instrument i,
   universe n and day t (:func:`factor_uniforms`); only the coarse (s1) draw is correlated, the
   fine (s2) uniforms stay independent.
3. **rho calibrated to history** over the lookback: :func:`calibrate_rho` interpolates the measured
   average pairwise correlation of generated daily returns at a few rho to hit the historical one.

:func:`dependence_stats` gives the validation numbers (average pairwise correlation of daily returns,
volatility of the equal-weight and benchmark index, cross-sectional dispersion).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
from scipy.special import ndtr

from kronos_quant.model.tokenizer import KronosTokenizer

TRADING_DAYS = 252  # annualisation of daily volatility
CLOSE = 3  # field order: open, high, low, close, volume, amount


@torch.inference_mode()
def s1_return_order(tokenizer: KronosTokenizer, context: torch.Tensor | None = None) -> np.ndarray:
    """int64 (2**s1_bits,) coarse token ids sorted by the close they decode to, lowest first.

    With ``context`` (B, T, 6) normalised windows (e.g. the members' lookbacks), each candidate coarse
    token replaces the last token of every window (its fine token kept) and is decoded in that context;
    the order sorts the candidates' decoded close averaged over the windows. Without context, each
    coarse code is decoded alone (coarse-only decoder path), a cruder proxy. How well the order tracks
    realised returns is measured by :func:`order_monotonicity` on generated paths.
    """
    vocab = 2 ** tokenizer.s1_bits
    device = next(tokenizer.parameters()).device
    if context is None:
        codes = tokenizer.tokenizer.ids_to_codes(torch.arange(vocab, device=device)[:, None])  # (V, 1, bits)
        closes = tokenizer.decode_codes(codes, coarse_only=True)[:, 0, CLOSE]
    else:
        s1, s2 = tokenizer.encode(context.to(device).float(), half=True)  # (B, T)
        batch = s1.shape[0]
        candidates = torch.arange(vocab, device=device).repeat(batch)[:, None]  # (B * V, 1)
        fine = s2[:, -1:].repeat_interleave(vocab, 0)
        decoded = tokenizer.decode_continuations((s1[:, :-1], s2[:, :-1]), (candidates, fine))  # (B * V, 1, 6)
        closes = decoded[:, 0, CLOSE].reshape(batch, vocab).mean(0)
    return torch.argsort(closes.float().cpu(), stable=True).numpy().astype(np.int64)


def factor_uniforms(n_instruments: int, n_universes: int, horizon: int, *, rho: float, seed: int) -> torch.Tensor:
    """float64 (I, N, H, 2) sampling uniforms; [..., 0] (coarse draw) share one factor per universe and day.

    ``u[i, n, t, 0] = Phi(sqrt(rho) Z[n, t] + sqrt(1 - rho) eps[i, n, t])``; ``[..., 1]`` is independent.
    rho = 0 gives independent paths. A seed reproduces every value.
    """
    if not 0.0 <= rho < 1.0:
        raise ValueError(f"rho must be in [0, 1), got {rho}; 0 means independent paths")
    if min(n_instruments, n_universes, horizon) < 1:
        raise ValueError(f"need >= 1 instrument, universe and day, got {n_instruments}, {n_universes}, {horizon}")
    rng = np.random.default_rng(seed)
    market = rng.standard_normal((1, n_universes, horizon))
    own = rng.standard_normal((n_instruments, n_universes, horizon))
    coarse = ndtr(np.sqrt(rho) * market + np.sqrt(1.0 - rho) * own)
    fine = rng.random((n_instruments, n_universes, horizon))
    values = np.stack([coarse, fine], axis=-1)
    return torch.from_numpy(np.clip(values, 0.0, 1.0 - 2.0**-53))


@dataclass(frozen=True)
class DependenceStats:
    """Co-movement statistics of one market over a window (returns are daily fractions)."""

    mean_pairwise_corr: float  # average off-diagonal correlation of members' daily returns
    ew_index_vol: float  # annualised volatility of the equal-weight index of the members
    benchmark_vol: float  # annualised volatility of the benchmark (NaN when none is given)
    dispersion: float  # mean over days of the cross-sectional std of daily returns
    member_vol: float  # median annualised volatility of the members


def dependence_stats(returns: np.ndarray, benchmark_returns: np.ndarray | None = None) -> DependenceStats:
    """Statistics of daily returns (D, I); NaN (suspended) entries are left out pairwise/per day."""
    returns = np.asarray(returns, dtype=np.float64)
    if returns.ndim != 2 or returns.shape[0] < 3 or returns.shape[1] < 2:
        raise ValueError(f"returns must be (days >= 3, instruments >= 2), got {returns.shape}")
    corr = _pairwise_corr(returns)
    off_diagonal = corr[~np.eye(corr.shape[0], dtype=bool)]
    ew = np.nanmean(returns, axis=1)
    bench = np.nan if benchmark_returns is None else _annual_vol(np.asarray(benchmark_returns, float))
    return DependenceStats(
        mean_pairwise_corr=float(np.nanmean(off_diagonal)),
        ew_index_vol=_annual_vol(ew),
        benchmark_vol=float(bench),
        dispersion=float(np.nanmean(np.nanstd(returns, axis=1))),
        member_vol=float(np.nanmedian([_annual_vol(column) for column in returns.T])),
    )


def mean_stats(per_universe: Sequence[DependenceStats]) -> DependenceStats:
    """Average of per-universe statistics (each universe is one draw of the whole market)."""
    if not per_universe:
        raise ValueError("no universes to average")
    values = {name: np.array([getattr(s, name) for s in per_universe]) for name in DependenceStats.__dataclass_fields__}
    return DependenceStats(**{name: float(v[np.isfinite(v)].mean()) if np.isfinite(v).any() else float("nan")
                              for name, v in values.items()})


def calibrate_rho(target_corr: float, measure: Callable[[float], float], *,
                  grid: Sequence[float] = (0.0, 0.4, 0.8)) -> tuple[float, dict[float, float]]:
    """rho whose generated mean pairwise correlation matches ``target_corr``.

    ``measure(rho)`` generates a pilot and returns its mean pairwise correlation; it is called once per
    grid point, then rho is interpolated linearly between the bracketing points (the correlation is
    increasing in rho). Returns (rho, {rho: measured correlation}). rho is clipped to [0, 0.95].
    """
    measured = {float(rho): float(measure(float(rho))) for rho in sorted(grid)}
    rhos = np.array(list(measured))
    corrs = np.maximum.accumulate(np.array(list(measured.values())))  # enforce monotone for np.interp
    if target_corr <= corrs[0]:
        return float(rhos[0]), measured
    if target_corr >= corrs[-1]:  # extrapolate from the last two points
        slope = (corrs[-1] - corrs[-2]) / max(rhos[-1] - rhos[-2], 1e-12)
        rho = rhos[-1] + (target_corr - corrs[-1]) / slope if slope > 1e-9 else rhos[-1]
        return float(np.clip(rho, 0.0, 0.95)), measured
    return float(np.clip(np.interp(target_corr, corrs, rhos), 0.0, 0.95)), measured


def order_monotonicity(uniforms: np.ndarray, returns: np.ndarray) -> float:
    """Spearman correlation between coarse uniforms (..., H) and the daily returns they produced (..., H).

    Near 0 for the natural token order; clearly positive when the order is monotone in return.
    """
    from scipy.stats import spearmanr

    u, r = np.asarray(uniforms, float).ravel(), np.asarray(returns, float).ravel()
    keep = np.isfinite(u) & np.isfinite(r)
    return float(spearmanr(u[keep], r[keep]).statistic)


def _annual_vol(returns: np.ndarray) -> float:
    finite = returns[np.isfinite(returns)]
    return float(np.std(finite, ddof=1) * np.sqrt(TRADING_DAYS)) if finite.size > 2 else float("nan")


def _pairwise_corr(returns: np.ndarray) -> np.ndarray:
    """(I, I) correlations; with NaNs, pandas' pairwise-complete estimate."""
    if np.isfinite(returns).all():
        return np.corrcoef(returns, rowvar=False)
    import pandas as pd

    return pd.DataFrame(returns).corr(min_periods=3).to_numpy()
