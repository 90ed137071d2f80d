"""Kronos forecast features: hand-checked values, the entropy, and no look-ahead (no qlib here)."""
from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

from kronos_quant.data.windows import build_windows
from kronos_quant.factors.features import feature_names, first_step_entropy, path_features, window_features
from kronos_quant.inference.pair import KronosPair
from kronos_quant.inference.sampling import window_uniforms
from kronos_quant.model import Kronos, KronosTokenizer
from kronos_quant.qlib_ext.model_settings import ForecastSettings

LOOKBACK, HORIZON, PATHS = 12, 5, 3


def _bars(close: np.ndarray, high: np.ndarray, low: np.ndarray) -> np.ndarray:
    """(..., 6) bars from close/high/low (open = close, volume 1, amount = close)."""
    return np.stack([close, high, low, close, np.ones_like(close), close], axis=-1)


def test_path_features_match_hand_computed_values():
    # one instrument, two paths, horizon 2, last close 100
    close = np.array([[[101.0, 102.0], [99.0, 96.0]]])  # (1, 2, 2)
    high = close + np.array([[[1.0, 3.0], [0.5, 0.5]]])
    low = close - np.array([[[2.0, 1.0], [1.0, 4.0]]])
    values = path_features(_bars(close, high, low), np.array([100.0]), horizons=(1, 2))
    names = feature_names((1, 2))[:-1]
    got = dict(zip(names, values[0]))
    assert got["kronos_ret_1"] == pytest.approx((101 + 99) / 2 / 100 - 1)  # 0.0
    assert got["kronos_ret_2"] == pytest.approx((102 + 96) / 2 / 100 - 1)  # -0.01
    assert got["kronos_pup"] == pytest.approx(0.5)
    assert got["kronos_disp"] == pytest.approx(np.std([0.02, -0.04]))  # 0.03
    ranges = [(105 - 99) / 100, (99.5 - 92) / 100]  # max high - min low per path
    assert got["kronos_range"] == pytest.approx(np.mean(ranges))
    vol_a = np.std(np.diff(np.log([100, 101, 102])))
    vol_b = np.std(np.diff(np.log([100, 99, 96])))
    assert got["kronos_vol"] == pytest.approx((vol_a + vol_b) / 2)


@pytest.mark.parametrize("horizons, message", [((0, 2), "must be integers in"), ((1, 3), "must be integers in")])
def test_bad_horizons_are_rejected(horizons, message):
    paths = _bars(*(np.full((1, 1, 2), 100.0),) * 3)
    with pytest.raises(ValueError, match=message):
        path_features(paths, np.array([100.0]), horizons=horizons)


@pytest.fixture(scope="module")
def pair() -> KronosPair:
    torch.manual_seed(0)
    tokenizer = KronosTokenizer(tiny_tokenizer_config(s1_bits=4, s2_bits=4)).eval()
    model = Kronos(tiny_predictor_config(s1_bits=4, s2_bits=4)).eval()
    return KronosPair(tokenizer, model, torch.device("cpu"))


def test_entropy_is_the_softmax_entropy_of_the_first_step(pair):
    rng = np.random.default_rng(1)
    x_norm = rng.normal(size=(3, 10, 6)).astype(np.float32)
    stamp = np.tile(np.array([0, 0, 1, 5, 3]), (3, 10, 1))
    entropy = first_step_entropy(pair.tokenizer, pair.model, x_norm, stamp, max_context=512)
    with torch.no_grad():
        s1, s2 = pair.tokenizer.encode(torch.from_numpy(x_norm), half=True)
        logits, _ = pair.model.decode_s1(s1, s2, torch.from_numpy(stamp))
        probs = torch.softmax(logits[:, -1].double(), -1)
    expected = -(probs * probs.log()).sum(-1).numpy()
    np.testing.assert_allclose(entropy, expected, rtol=1e-10)
    assert np.all(entropy > 0) and np.all(entropy <= math.log(2 ** 4) + 1e-9)


def _panel(seed: int = 3, days: int = 60, instruments: int = 4):
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (days, instruments)), axis=0))
    spread = np.abs(rng.normal(0, 0.01, (days, instruments))) * close
    values = _bars(close, close + spread, close - spread)
    values[..., 4] = rng.uniform(1e5, 2e5, (days, instruments))
    calendar = pd.bdate_range("2021-01-04", periods=days, name="datetime")
    return values, calendar, [f"S{i}" for i in range(instruments)]


def _features(pair, values, calendar, instruments):
    settings = ForecastSettings(lookback=LOOKBACK, horizon=HORIZON, sample_count=PATHS, T=1.0, seed=5)
    future = pd.bdate_range(calendar[0], periods=len(calendar) + HORIZON, name="datetime")
    windows = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON,
                            future_calendar=future)
    uniforms = window_uniforms(windows.index, PATHS, HORIZON, seed=settings.seed)
    features = window_features(pair, windows.x, windows.x_stamp, windows.y_stamp, settings, uniforms,
                               horizons=(1, 2, 5))  # one chunk: rows share every batch
    return pd.DataFrame(features, index=windows.index, columns=feature_names((1, 2, 5)))


def test_perturbing_bars_after_t_leaves_every_feature_at_t_bit_identical(pair):
    values, calendar, instruments = _panel()
    before = _features(pair, values, calendar, instruments)
    cut = calendar[35]
    changed = values.copy()
    changed[36:, :, :4] *= np.random.default_rng(9).uniform(0.5, 1.5, changed[36:, :, :1].shape)
    changed[36:, :, 4] *= 3.0
    after = _features(pair, changed, calendar, instruments)
    assert before.index.equals(after.index)
    early = before.index.get_level_values("datetime") <= cut
    assert early.sum() > 50 and (~early).sum() > 50
    np.testing.assert_array_equal(before[early].to_numpy(), after[early].to_numpy())
    assert not np.allclose(before[~early].to_numpy(), after[~early].to_numpy())  # the later rows did move
    assert np.isfinite(before.to_numpy()).all()


def test_volatility_is_nan_only_for_windows_with_a_non_positive_close():
    close = np.array([[[101.0, 102.0]], [[-1.0, 99.0]]])  # (2, 1, 2): the second window decodes a negative close
    values = path_features(_bars(close, close, close), np.array([100.0, 100.0]), horizons=(1, 2))
    vol = values[:, feature_names((1, 2)).index("kronos_vol")]
    assert np.isfinite(vol[0]) and np.isnan(vol[1])
    assert np.isfinite(np.delete(values, feature_names((1, 2)).index("kronos_vol"), axis=1)).all()
