"""CRPS through scoringrules equals the classic ensemble and Gaussian CRPS to 1e-10."""
import numpy as np
from scipy import stats

from kronos_quant.research.calibration import crps_normal, crps_samples


def _crps_by_definition(samples: np.ndarray, obs: np.ndarray) -> np.ndarray:
    """E|X - y| - E|X - X'| / 2 with the 1/P^2 normalisation, by brute force over all pairs."""
    first = np.abs(samples - obs[:, None]).mean(axis=1)
    pairs = np.abs(samples[:, :, None] - samples[:, None, :]).mean(axis=(1, 2))
    return first - pairs / 2


def test_ensemble_crps_equals_the_definition_with_ties_and_outliers():
    rng = np.random.default_rng(3)
    samples = rng.standard_t(3, size=(300, 16)) * 0.02
    samples[:50, :4] = samples[:50, [0]]  # tied samples within a row
    obs = rng.normal(scale=0.03, size=300)
    obs[::37] = 0.4  # outcomes far outside the ensemble
    np.testing.assert_allclose(crps_samples(samples, obs), _crps_by_definition(samples, obs), rtol=0, atol=1e-10)


def test_gaussian_crps_equals_the_closed_form():
    rng = np.random.default_rng(4)
    mu, sigma = rng.normal(scale=0.01, size=200), rng.uniform(0.005, 0.05, size=200)
    obs = rng.normal(scale=0.03, size=200)
    z = (obs - mu) / sigma
    closed = sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    np.testing.assert_allclose(crps_normal(mu, sigma, obs), closed, rtol=0, atol=1e-10)
