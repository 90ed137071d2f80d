"""normalization: the per-window scaling, its inverse, and the one derived amount (volume x mean OHLC)."""
import numpy as np
import pytest

from kronos_quant.normalization import (
    DERIVED_AMOUNT_EXPRESSION,
    denormalize,
    derived_amount,
    fill_volume_amount,
    fit_scale,
    normalize,
)


def test_denormalize_inverts_normalize_inside_the_clip():
    rng = np.random.default_rng(0)
    bars = rng.uniform(5, 15, (3, 20, 6))
    scale = fit_scale(bars)
    assert scale.mean.shape == (3, 1, 6)
    np.testing.assert_allclose(denormalize(normalize(bars, scale, clip=50.0), scale), bars, rtol=1e-6)


def test_derived_amount_is_volume_times_mean_ohlc_everywhere():
    bars = np.array([[10.0, 12.0, 8.0, 10.0, 100.0, np.nan], [1.0, 2.0, 3.0, 4.0, 2.0, 99.0]])
    np.testing.assert_allclose(derived_amount(bars), [1000.0, 5.0])
    filled = fill_volume_amount(bars, has_volume=True, has_amount=False)
    np.testing.assert_allclose(filled[:, 5], [1000.0, 5.0])
    no_volume = fill_volume_amount(bars, has_volume=False, has_amount=False)
    assert (no_volume[:, 4:] == 0).all()
    # the Qlib expression the handler and the exposures use is the same formula
    env = {"volume": bars[:, 4], "open": bars[:, 0], "high": bars[:, 1], "low": bars[:, 2], "close": bars[:, 3]}
    np.testing.assert_allclose(eval(DERIVED_AMOUNT_EXPRESSION.replace("$", ""), {}, env), derived_amount(bars))


def test_panel_amount_uses_the_same_function():
    from kronos_quant.data.windows import derive_missing_amount

    panel = np.full((2, 1, 6), np.nan)
    panel[:, 0, :5] = [[10.0, 12.0, 8.0, 10.0, 100.0], [5.0, 5.0, 5.0, 5.0, 0.0]]
    np.testing.assert_allclose(derive_missing_amount(panel)[:, 0, 5], [1000.0, 0.0])


@pytest.mark.parametrize("clip", [1.0, 3.0])
def test_normalize_clips(clip):
    bars = np.concatenate([np.zeros((19, 6)), np.full((1, 6), 100.0)])
    assert np.abs(normalize(bars, fit_scale(bars), clip)).max() == pytest.approx(clip)
