"""Calibration of forecast return distributions: CRPS, PIT, interval coverage, P(up) reliability, and a knob.

Conventions
-----------
- ``samples``: float ``(N, P)`` sample h-bar log returns (one row per forecast, P >= 2 sample paths), e.g.
  :func:`kronos_quant.research.volatility.horizon_returns`; ``obs``: ``(N,)`` realised h-bar log returns.
- The Gaussian yardstick takes ``mu`` and ``sigma`` ``(N,)`` of the h-bar log return (e.g. the GARCH
  mean times h and the GARCH per-bar volatility times sqrt(h)).
- CRPS is ``scoringrules``' (``crps_ensemble`` with the exact quantile-decomposition estimator, which equals
  the classic ``E|X - y| - E|X - X'| / 2`` ensemble CRPS, and ``crps_normal``), in return units (lower is
  better).
- PIT of an ensemble is randomised: ``(#{samples < obs} + U * (#{samples == obs} + 1)) / (P + 1)`` with
  ``U ~ U(0, 1)``; it is exactly uniform when ``obs`` is exchangeable with the samples.
- Rows of one date share a market shock, so the uniformity tests' p-values treat dependent rows as
  independent and overstate significance; read them as descriptive.

The knob: :func:`fit_spread_scale` stretches every sample around its row's mean by one factor ``s``
chosen to minimise the mean CRPS of the *validation* rows it is given; :func:`fit_temperature` picks the
sampling temperature the same way from validation forecasts made at each candidate. Neither sees test rows.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

LEVELS = (0.5, 0.8, 0.9)  # central interval coverages
SCALE_GRID = tuple(float(x) for x in np.exp(np.linspace(np.log(0.2), np.log(10.0), 81)))  # spread scales


def check_samples(samples, obs) -> tuple[np.ndarray, np.ndarray]:
    """float64 ``(N, P)`` samples and ``(N,)`` obs, finite, with P >= 2 (else the spread is undefined)."""
    samples, obs = np.asarray(samples, dtype=np.float64), np.asarray(obs, dtype=np.float64)
    if samples.ndim != 2 or obs.shape != samples.shape[:1]:
        raise ValueError(f"samples must be (N, P) and obs (N,); got {samples.shape} and {obs.shape}")
    if samples.shape[1] < 2:
        raise ValueError("a one-path forecast has no spread: CRPS, PIT and intervals need sample_count >= 2")
    if not (np.isfinite(samples).all() and np.isfinite(obs).all()):
        raise ValueError("samples and obs must be finite; drop rows without a realised outcome first")
    return samples, obs


def check_gaussian(mu, sigma, obs) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    mu, sigma, obs = (np.asarray(a, dtype=np.float64) for a in (mu, sigma, obs))
    if not (mu.shape == sigma.shape == obs.shape and obs.ndim == 1):
        raise ValueError(f"mu, sigma and obs must be (N,) each; got {mu.shape}, {sigma.shape}, {obs.shape}")
    if not (np.isfinite(mu).all() and np.isfinite(obs).all() and np.all(sigma > 0)):
        raise ValueError("mu and obs must be finite and sigma > 0")
    return mu, sigma, obs


def crps_samples(samples, obs) -> np.ndarray:
    """CRPS of each row's ensemble against its outcome (scoringrules.crps_ensemble, ``qd``): ``(N,)``.

    The ``qd`` estimator is the sorted-sample form of ``E|X - y| - E|X - X'| / 2`` with the ``1/P^2``
    normalisation (not the "fair" ``1/(P(P-1))`` one), so figures match the classic ensemble CRPS.
    """
    import scoringrules

    samples, obs = check_samples(samples, obs)
    return np.asarray(scoringrules.crps_ensemble(obs, samples, estimator="qd"), dtype=np.float64)


def crps_normal(mu, sigma, obs) -> np.ndarray:
    """CRPS of N(mu, sigma^2) against each outcome (scoringrules.crps_normal): ``(N,)``."""
    import scoringrules

    mu, sigma, obs = check_gaussian(mu, sigma, obs)
    return np.asarray(scoringrules.crps_normal(obs, mu, sigma), dtype=np.float64)


def pit_samples(samples, obs, *, seed: int = 0) -> np.ndarray:
    """Randomised PIT of each outcome within its ensemble: ``(N,)`` in (0, 1)."""
    samples, obs = check_samples(samples, obs)
    below = (samples < obs[:, None]).sum(axis=1)
    ties = (samples == obs[:, None]).sum(axis=1)
    uniform = np.random.default_rng(seed).uniform(size=len(obs))
    return (below + uniform * (ties + 1)) / (samples.shape[1] + 1)


def pit_normal(mu, sigma, obs) -> np.ndarray:
    """PIT ``Phi((obs - mu) / sigma)``: ``(N,)``."""
    mu, sigma, obs = check_gaussian(mu, sigma, obs)
    return stats.norm.cdf((obs - mu) / sigma)


class PITTest(NamedTuple):
    """PIT histogram (counts per equal bin) and two uniformity tests (scipy)."""

    counts: np.ndarray  # (bins,)
    chi2: float
    chi2_p: float
    ks: float
    ks_p: float
    n: int


def pit_uniformity(pit, *, bins: int = 10) -> PITTest:
    """Chi-square test on ``bins`` equal bins and Kolmogorov-Smirnov test against U(0, 1)."""
    pit = np.asarray(pit, dtype=np.float64)
    pit = pit[np.isfinite(pit)]
    if len(pit) < bins:
        raise ValueError(f"need at least {bins} PIT values, got {len(pit)}")
    counts = np.histogram(pit, bins=bins, range=(0.0, 1.0))[0]
    chi2 = stats.chisquare(counts)
    ks = stats.kstest(pit, "uniform")
    return PITTest(counts, float(chi2.statistic), float(chi2.pvalue), float(ks.statistic), float(ks.pvalue), len(pit))


def coverage_samples(samples, obs, levels: Sequence[float] = LEVELS, *, seed: int = 0) -> dict[float, float]:
    """Fraction of outcomes inside each central interval of the ensemble.

    An outcome is inside the central ``level`` interval when its randomised PIT lies in
    ``[(1 - level) / 2, (1 + level) / 2]``. With P samples the PIT of a calibrated ensemble is exactly
    uniform, so this coverage is nominal for any P; interval ends from interpolated sample quantiles
    would instead cover less than ``level`` for small P (about 74% for a "90%" interval from 10 paths).
    """
    pit = pit_samples(samples, obs, seed=seed)
    return {level: float(np.mean(np.abs(pit - 0.5) <= level / 2)) for level in _levels(levels)}


def coverage_normal(mu, sigma, obs, levels: Sequence[float] = LEVELS) -> dict[float, float]:
    """Fraction of outcomes inside each central interval of N(mu, sigma^2)."""
    mu, sigma, obs = check_gaussian(mu, sigma, obs)
    z = np.abs(obs - mu) / sigma
    return {level: float(np.mean(z <= stats.norm.ppf((1 + level) / 2))) for level in _levels(levels)}


def _levels(levels: Sequence[float]) -> tuple[float, ...]:
    levels = tuple(float(x) for x in levels)
    if not levels or any(not 0 < x < 1 for x in levels):
        raise ValueError(f"coverage levels must be in (0, 1), got {levels}")
    return levels


def reliability(prob, outcome, *, bins: int = 10) -> pd.DataFrame:
    """Reliability diagram data for P(up): per equal-width bin, mean forecast, observed frequency, count.

    ``prob`` in [0, 1] and ``outcome`` in {0, 1}, ``(N,)`` each. Empty bins are dropped.
    """
    prob, outcome = np.asarray(prob, dtype=np.float64), np.asarray(outcome, dtype=np.float64)
    if prob.shape != outcome.shape or prob.ndim != 1:
        raise ValueError(f"prob and outcome must be (N,) each; got {prob.shape}, {outcome.shape}")
    if np.any((prob < 0) | (prob > 1)) or not np.isin(outcome, (0.0, 1.0)).all():
        raise ValueError("prob must be in [0, 1] and outcome 0/1")
    which = np.minimum((prob * bins).astype(int), bins - 1)
    frame = pd.DataFrame({"bin": which, "prob": prob, "outcome": outcome})
    table = frame.groupby("bin").agg(mean_prob=("prob", "mean"), frequency=("outcome", "mean"),
                                     count=("outcome", "size"))
    return table


def brier(prob, outcome) -> float:
    """Mean squared error of P(up) against the 0/1 outcome."""
    prob, outcome = np.asarray(prob, dtype=np.float64), np.asarray(outcome, dtype=np.float64)
    return float(np.mean((prob - outcome) ** 2))


def calibration_summary(samples, obs, *, levels: Sequence[float] = LEVELS, seed: int = 0) -> dict:
    """Headline numbers of an ensemble: mean CRPS, PIT test, coverage per level, Brier score of P(up)."""
    samples, obs = check_samples(samples, obs)
    pit = pit_uniformity(pit_samples(samples, obs, seed=seed))
    prob_up = (samples > 0).mean(axis=1)
    return {
        "crps": float(crps_samples(samples, obs).mean()),
        "pit": pit,
        "coverage": coverage_samples(samples, obs, levels, seed=seed),
        "brier": brier(prob_up, (obs > 0).astype(float)),
        "n": len(obs),
    }


def gaussian_summary(mu, sigma, obs, *, levels: Sequence[float] = LEVELS) -> dict:
    """The same headline numbers for N(mu, sigma^2) forecasts (the GARCH yardstick)."""
    mu, sigma, obs = check_gaussian(mu, sigma, obs)
    prob_up = stats.norm.sf(-mu / sigma)
    return {
        "crps": float(crps_normal(mu, sigma, obs).mean()),
        "pit": pit_uniformity(pit_normal(mu, sigma, obs)),
        "coverage": coverage_normal(mu, sigma, obs, levels),
        "brier": brier(prob_up, (obs > 0).astype(float)),
        "n": len(obs),
    }


def scale_spread(samples, scale: float) -> np.ndarray:
    """Stretch each row's samples around the row mean: ``mean + scale * (sample - mean)``. ``(N, P)``."""
    if not scale > 0:
        raise ValueError(f"spread scale must be > 0, got {scale}")
    samples = np.asarray(samples, dtype=np.float64)
    centre = samples.mean(axis=1, keepdims=True)
    return centre + scale * (samples - centre)


class SpreadScale(NamedTuple):
    """A fitted spread scale and the validation CRPS it was chosen on."""

    scale: float
    crps_before: float  # mean validation CRPS at scale 1
    crps_after: float  # at the fitted scale
    n: int  # validation rows


def fit_spread_scale(valid_samples, valid_obs, *, grid: Sequence[float] = SCALE_GRID) -> SpreadScale:
    """The grid scale minimising mean CRPS on the validation rows (only these rows are seen).

    One ``scoringrules`` call gives the CRPS at scale 1; the grid then uses the identity
    ``CRPS = E|X - y| - E|X - X'| / 2`` (Gneiting and Raftery 2007), in which stretching the samples by
    ``s`` around their mean multiplies ``E|X - X'|`` by ``s``: ``CRPS(s) = E|m + s (X - m) - y| - s G``
    with ``G = E|X - y| - CRPS(1)``. That is exact and avoids re-sorting every ensemble at every grid point
    (each grid point would otherwise sort every ensemble again).
    """
    samples, obs = check_samples(valid_samples, valid_obs)
    grid = np.asarray(sorted(set(float(g) for g in grid) | {1.0}))
    if np.any(grid <= 0):
        raise ValueError("spread scale grid values must be > 0")
    centre = samples.mean(axis=1, keepdims=True)
    deviation = samples - centre  # (N, P)
    crps_one = crps_samples(samples, obs)  # (N,)
    half_spread = np.abs(samples - obs[:, None]).mean(axis=1) - crps_one  # E|X - X'| / 2 at scale 1, (N,)
    miss = centre - obs[:, None]  # (N, 1)
    scores = np.array([(np.abs(miss + s * deviation).mean(axis=1) - s * half_spread).mean() for s in grid])
    best = int(np.argmin(scores))
    return SpreadScale(float(grid[best]), float(crps_one.mean()), float(scores[best]), len(obs))


def fit_temperature(
    forecast_valid: Callable[[float], np.ndarray], valid_obs, temperatures: Sequence[float]
) -> tuple[float, Mapping[float, float]]:
    """The temperature whose validation forecasts have the lowest mean CRPS.

    Args:
        forecast_valid: ``T -> samples (N, P)`` of the *validation* rows sampled at temperature T.
        valid_obs: ``(N,)`` their outcomes.
        temperatures: candidates (> 0).
    Returns:
        ``(best T, {T: mean CRPS})``.
    """
    if not temperatures or any(not t > 0 for t in temperatures):
        raise ValueError(f"temperatures must be a non-empty list of values > 0, got {temperatures}")
    scores = {float(t): float(crps_samples(forecast_valid(float(t)), valid_obs).mean()) for t in temperatures}
    return min(scores, key=scores.get), scores
