"""Calibration metrics on a Gaussian forecaster with Gaussian outcomes (known answers) and the knob."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from kronos_quant.research.calibration import (
    brier,
    calibration_summary,
    coverage_normal,
    coverage_samples,
    crps_normal,
    crps_samples,
    fit_spread_scale,
    fit_temperature,
    gaussian_summary,
    pit_normal,
    pit_samples,
    pit_uniformity,
    reliability,
    scale_spread,
)

N, P = 1500, 100


def _gaussian_case(seed: int = 0, spread: float = 1.0):
    rng = np.random.default_rng(seed)
    mu = rng.normal(0, 0.01, N)
    sigma = rng.uniform(0.01, 0.04, N)
    obs = mu + sigma * rng.standard_normal(N)
    samples = mu[:, None] + spread * sigma[:, None] * rng.standard_normal((N, P))
    return mu, sigma, obs, samples


def test_crps_matches_the_closed_form():
    mu, sigma, obs, samples = _gaussian_case()
    z = (obs - mu) / sigma
    closed = sigma * (z * (2 * stats.norm.cdf(z) - 1) + 2 * stats.norm.pdf(z) - 1 / np.sqrt(np.pi))
    np.testing.assert_allclose(crps_normal(mu, sigma, obs), closed, rtol=1e-8)
    # the ensemble CRPS converges to the closed form (sampling error ~ 1/P)
    assert crps_samples(samples, obs).mean() == pytest.approx(closed.mean(), rel=0.02)


def test_pit_uniform_and_coverage_nominal_when_calibrated():
    mu, sigma, obs, samples = _gaussian_case(seed=1)
    for pit in (pit_samples(samples, obs), pit_normal(mu, sigma, obs)):
        test = pit_uniformity(pit)
        assert test.ks_p > 0.01 and test.chi2_p > 0.01
        assert test.counts.sum() == N
    for coverage in (coverage_samples(samples, obs), coverage_normal(mu, sigma, obs)):
        for level, value in coverage.items():
            assert value == pytest.approx(level, abs=0.04)


def test_coverage_is_nominal_with_few_paths():
    rng = np.random.default_rng(8)
    obs, samples = rng.standard_normal(20000), rng.standard_normal((20000, 10))
    coverage = coverage_samples(samples, obs)
    for level, value in coverage.items():
        assert value == pytest.approx(level, abs=0.015)


def test_too_narrow_forecasts_are_flagged():
    _, _, obs, samples = _gaussian_case(seed=2, spread=0.5)
    summary = calibration_summary(samples, obs)
    assert summary["pit"].ks_p < 1e-6
    assert summary["coverage"][0.9] < 0.7  # 90% interval of half the width covers ~59%
    counts = summary["pit"].counts
    assert counts[0] + counts[-1] > 2.5 * counts[4:6].sum() / 2  # U-shaped histogram


def test_reliability_of_a_calibrated_prob_up():
    rng = np.random.default_rng(3)
    prob = rng.uniform(0, 1, 20000)
    outcome = (rng.uniform(0, 1, 20000) < prob).astype(float)
    table = reliability(prob, outcome)
    np.testing.assert_allclose(table["frequency"], table["mean_prob"], atol=0.03)
    assert table["count"].sum() == 20000
    assert brier(prob, outcome) == pytest.approx(1 / 6, abs=0.01)  # E[p(1-p)] for p ~ U(0, 1)
    with pytest.raises(ValueError, match="0/1"):
        reliability(prob[:3], np.array([0.0, 0.5, 1.0]))


def test_gaussian_summary_yardstick():
    mu, sigma, obs, _ = _gaussian_case(seed=4)
    summary = gaussian_summary(mu, sigma, obs)
    assert summary["coverage"][0.5] == pytest.approx(0.5, abs=0.03)
    assert summary["pit"].ks_p > 0.01


def test_spread_scale_fitted_on_validation_only():
    _, _, valid_obs, valid_samples = _gaussian_case(seed=5, spread=0.5)
    fitted = fit_spread_scale(valid_samples, valid_obs)
    assert fitted.scale == pytest.approx(2.0, rel=0.1)
    assert fitted.crps_after < fitted.crps_before and fitted.n == N
    exact = crps_samples(scale_spread(valid_samples, fitted.scale), valid_obs).mean()
    assert fitted.crps_after == pytest.approx(exact, rel=1e-10)  # the grid identity is exact
    _, _, test_obs, test_samples = _gaussian_case(seed=6, spread=0.5)
    before = coverage_samples(test_samples, test_obs)[0.8]
    after = coverage_samples(scale_spread(test_samples, fitted.scale), test_obs)[0.8]
    assert before < 0.6 and after == pytest.approx(0.8, abs=0.03)


def _price_case(n_inst: int = 6, n_days: int = 260, paths: int = 40, horizon: int = 5):
    """Daily bars of constant per-instrument vol, and segment -> ``(index, paths, last_close)`` whose spread is
    ``spread`` times the true one (the layout of :func:`~kronos_quant.qlib_ext.volatility_study.forecast_segment`)."""
    rng = np.random.default_rng(9)
    dates = pd.bdate_range("2019-01-01", periods=n_days, name="datetime")
    sigma = np.linspace(0.01, 0.03, n_inst)
    close = 20 * np.exp(np.cumsum(rng.standard_normal((n_days, n_inst)) * sigma, axis=0))
    index = pd.MultiIndex.from_product([dates, [f"S{i}" for i in range(n_inst)]], names=["datetime", "instrument"])
    flat = close.ravel()
    bars = pd.DataFrame({"open": flat, "high": flat * 1.005, "low": flat * 0.995, "close": flat, "volume": 1.0},
                        index=index)

    def segment(first: int, last: int, spread: float, seed: int):
        rows = index[(index.get_level_values("datetime") >= dates[first]) &
                     (index.get_level_values("datetime") <= dates[last])]
        inst = rows.get_level_values("instrument").str[1:].astype(int).to_numpy()
        last_close = close[dates.get_indexer(rows.get_level_values("datetime")), inst]
        draws = np.random.default_rng(seed).standard_normal((len(rows), paths, horizon))
        log_paths = np.cumsum(draws * spread * sigma[inst][:, None, None], axis=2)
        return rows, np.repeat((last_close[:, None, None] * np.exp(log_paths))[..., None], 6, axis=3), last_close

    def realised(rows, h: int) -> np.ndarray:  # log(close[t + h] / close[t]), recomputed from the panel
        at = dates.get_indexer(rows.get_level_values("datetime"))
        inst = rows.get_level_values("instrument").str[1:].astype(int).to_numpy()
        return np.log(close[at + h, inst] / close[at, inst])

    return bars, segment, realised


def test_study_spread_scale_comes_from_validation_rows_and_test_rows_cannot_move_it():
    from kronos_quant.qlib_ext.volatility_study import evaluate_forecasts
    from kronos_quant.research.vol_baselines import BaselineConfig
    from kronos_quant.research.vol_evaluation import VolEvalConfig

    bars, segment, realised = _price_case()
    config = VolEvalConfig(horizons=(1, 5), garch=False, baselines=BaselineConfig(refit_every=60))
    valid, test = segment(100, 190, spread=0.5, seed=1), segment(200, 250, spread=0.8, seed=2)  # test: s ~ 1.25
    tables, scales = evaluate_forecasts(valid, test, bars, config)
    for h in (1, 5):
        valid_returns = np.log(valid[1][:, :, h - 1, 3] / valid[2][:, None])
        expected = fit_spread_scale(valid_returns, realised(valid[0], h))  # validation rows alone
        assert scales[h].scale == expected.scale and scales[h].n == expected.n == len(valid[0])
        assert scales[h].crps_after == pytest.approx(expected.crps_after, rel=1e-12)
        assert scales[h].scale == pytest.approx(2.0, rel=0.2)  # half-width paths need a 2x stretch
        test_returns = np.log(test[1][:, :, h - 1, 3] / test[2][:, None])
        row = tables["calibration"].set_index(["horizon", "forecaster"]).loc[(h, "kronos_scaled")]
        test_crps = crps_samples(scale_spread(test_returns, expected.scale), realised(test[0], h)).mean()
        assert row["crps"] == pytest.approx(test_crps, rel=1e-9)  # the test rows are scored with that scale
    # perturb the test rows (3x wider paths, other draws): the fitted scale must not move
    _, moved_test = evaluate_forecasts(valid, segment(200, 250, spread=1.5, seed=3), bars, config)
    assert moved_test == scales
    # ... while the validation rows do move it (calibrated paths need no stretch)
    _, moved_valid = evaluate_forecasts(segment(100, 190, spread=1.0, seed=1), test, bars, config)
    assert all(moved_valid[h].scale == pytest.approx(1.0, rel=0.2) for h in (1, 5))


def test_temperature_knob_picks_the_calibrated_temperature():
    rng = np.random.default_rng(7)
    sigma = rng.uniform(0.01, 0.03, 1000)
    valid_obs = sigma * rng.standard_normal(1000)

    def forecast_valid(temperature: float) -> np.ndarray:  # spread grows with T; calibrated at T = 1
        return temperature * sigma[:, None] * rng.standard_normal((1000, 50))

    best, scores = fit_temperature(forecast_valid, valid_obs, [0.5, 1.0, 1.5])
    assert best == 1.0 and scores[1.0] < scores[0.5] and scores[1.0] < scores[1.5]
    with pytest.raises(ValueError, match="temperatures"):
        fit_temperature(forecast_valid, valid_obs, [0.0])


def test_one_path_and_bad_shapes_are_clear_errors():
    with pytest.raises(ValueError, match="one-path"):
        crps_samples(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match="one-path"):
        fit_spread_scale(np.zeros((5, 1)), np.zeros(5))
    with pytest.raises(ValueError, match=r"\(N, P\)"):
        coverage_samples(np.zeros((5, 3)), np.zeros(4))
    with pytest.raises(ValueError, match="sigma > 0"):
        crps_normal(np.zeros(2), np.array([0.1, 0.0]), np.zeros(2))
    with pytest.raises(ValueError, match="spread scale"):
        scale_spread(np.zeros((2, 3)), 0.0)
