"""hac_mean against a direct statsmodels OLS-HAC fit, and against the AR(1) long-run variance."""
import numpy as np
import pytest
import statsmodels.api as sm

from kronos_quant.research.hac import default_lags, hac_mean


def _ar1(n: int, phi: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    noise = rng.normal(size=n)
    values = np.empty(n)
    values[0] = noise[0] / np.sqrt(1 - phi**2)
    for t in range(1, n):
        values[t] = phi * values[t - 1] + noise[t]
    return values + 0.1


def test_matches_statsmodels_ols_hac_on_ar1():
    values = _ar1(400, 0.6, 0)
    direct = sm.OLS(values, np.ones((values.size, 1))).fit(
        cov_type="HAC", cov_kwds={"maxlags": 7, "use_correction": True}
    )
    result = hac_mean(values, lags=7)
    assert result.mean == pytest.approx(direct.params[0], rel=1e-12)
    assert result.se == pytest.approx(direct.bse[0], rel=1e-12)
    assert result.t_stat == pytest.approx(direct.tvalues[0], rel=1e-12)
    naive_se = values.std(ddof=1) / np.sqrt(values.size)
    assert result.se > 1.5 * naive_se  # positive autocorrelation widens the error bar


def test_se_approaches_the_ar1_long_run_variance():
    n, phi = 20000, 0.5
    result = hac_mean(_ar1(n, phi, 1), lags=40)
    expected = 1.0 / (1 - phi) / np.sqrt(n)  # sqrt(sigma^2 / (1 - phi)^2 / n), sigma = 1
    assert result.se == pytest.approx(expected, rel=0.15)


def test_lags_at_least_the_label_horizon_and_nan_handling():
    assert default_lags(250, label_horizon=10) == 10 and default_lags(250, 1) == 4
    values = np.r_[_ar1(50, 0.3, 2), [np.nan, np.nan]]
    result = hac_mean(values, label_horizon=5)
    assert result.n == 50 and result.lags == 5
    assert np.isnan(hac_mean([1.0, 1.0, 1.0]).t_stat) and np.isnan(hac_mean([1.0, 2.0]).se)
    with pytest.raises(ValueError, match="label_horizon"):
        hac_mean(values, label_horizon=0)
