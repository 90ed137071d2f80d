"""forecast_windows: the one array-level way through inference (raw windows in, price-space paths out)."""
import numpy as np
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

from kronos_quant import Kronos, KronosPredictor, KronosTokenizer
from kronos_quant.inference.forecast import forecast_windows
from kronos_quant.inference.generation import generate_paths
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms
from kronos_quant.normalization import fit_scale, normalize

CONFIG = GenerationConfig(pred_len=4, max_context=32, sample_count=3, sampling=SamplingConfig(temperature=0.9))


@pytest.fixture(scope="module")
def pair():
    torch.manual_seed(5)
    return KronosTokenizer(tiny_tokenizer_config()).eval(), Kronos(tiny_predictor_config()).eval()


def raw_windows(n, lookback, horizon=4, seed=0):
    rng = np.random.default_rng(seed)
    close = 20 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, lookback)), axis=1))
    bars = np.stack([close * 1.001, close * 1.01, close * 0.99, close, rng.uniform(1e5, 2e5, (n, lookback)),
                     np.zeros((n, lookback))], axis=-1)
    bars[..., 5] = bars[..., 4] * bars[..., :4].mean(-1)
    stamps = rng.integers(0, 7, (n, lookback + horizon, 5))
    return bars, stamps[:, :lookback], stamps[:, lookback:]


def test_paths_are_the_denormalised_generation_of_each_own_lookback(pair):
    tokenizer, model = pair
    x, x_stamp, y_stamp = raw_windows(3, 20)
    uniforms = draw_uniforms(3, 3, 4, seed=1)
    result = forecast_windows(tokenizer, model, x, x_stamp, y_stamp, CONFIG, uniforms, clip=5.0)
    assert result.paths.shape == (3, 3, 4, 6) and result.paths.dtype == np.float32
    np.testing.assert_array_equal(result.last_close, x[:, -1, 3])
    scale = fit_scale(x)  # by hand: normalise per window, generate, invert
    z = generate_paths(tokenizer, model, torch.from_numpy(normalize(x, scale, 5.0)), torch.from_numpy(x_stamp),
                       torch.from_numpy(y_stamp), CONFIG, uniforms.float()).numpy()
    expected = z * (scale.std[:, None] + 1e-5) + scale.mean[:, None]
    np.testing.assert_allclose(result.paths, expected, rtol=1e-5)
    assert result.mean()[0].index.tolist() == [0, 1, 2, 3]  # no timestamps given: bar numbers


def test_scaling_a_window_scales_its_paths_only(pair):
    """Statistics come from each window's own lookback: prices x 3 give paths x 3, others unchanged."""
    tokenizer, model = pair
    x, x_stamp, y_stamp = raw_windows(2, 24, seed=2)
    uniforms = draw_uniforms(2, 3, 4, seed=3)
    base = forecast_windows(tokenizer, model, x, x_stamp, y_stamp, CONFIG, uniforms).paths
    scaled = x.copy()
    scaled[0] *= 3.0
    moved = forecast_windows(tokenizer, model, scaled, x_stamp, y_stamp, CONFIG, uniforms).paths
    np.testing.assert_allclose(moved[0], 3.0 * base[0], rtol=1e-4)
    np.testing.assert_array_equal(moved[1], base[1])


def test_a_list_of_mixed_lengths_equals_each_window_alone(pair):
    tokenizer, model = pair
    windows = [raw_windows(1, n, seed=n) for n in (12, 30, 12, 40)]  # 40 > max_context 32
    uniforms = draw_uniforms(4, 3, 4, seed=0)
    together = forecast_windows(tokenizer, model, *[[w[k][0] for w in windows] for k in range(3)], CONFIG,
                                uniforms, memory_budget_gb=1e-6)  # one window per chunk
    for i, window in enumerate(windows):
        alone = forecast_windows(tokenizer, model, *window, CONFIG, uniforms[i:i + 1])
        np.testing.assert_allclose(together.paths[i], alone.paths[0], rtol=1e-5, atol=1e-5)


def test_predictor_is_the_dataframe_wrapper(pair):
    import pandas as pd

    tokenizer, model = pair
    x, _, _ = raw_windows(1, 25, seed=4)
    frame = pd.DataFrame(x[0], columns=["open", "high", "low", "close", "volume", "amount"])
    times = pd.date_range("2024-01-02", periods=29, freq="D")
    predictor = KronosPredictor(model, tokenizer, device="cpu", max_context=32)
    via_frame = predictor.predict_paths([frame], [times[:25]], [times[25:]], 4, T=0.9, top_p=1.0, sample_count=3,
                                        seed=9)
    from kronos_quant.time_features import time_features

    direct = forecast_windows(tokenizer, model, x, time_features(times[:25])[None], time_features(times[25:])[None],
                              CONFIG, draw_uniforms(1, 3, 4, seed=9))
    np.testing.assert_array_equal(via_frame.paths, direct.paths)
    assert via_frame.timestamps[0].equals(times[25:])


def test_empty_input_gives_empty_paths(pair):
    tokenizer, model = pair
    x, x_stamp, y_stamp = raw_windows(0, 10)
    result = forecast_windows(tokenizer, model, x, x_stamp, y_stamp, CONFIG, draw_uniforms(0, 3, 4, seed=0))
    assert result.paths.shape == (0, 3, 4, 6) and result.last_close.shape == (0,)


@pytest.mark.parametrize("change, error, match", [
    (lambda a: {**a, "uniforms": a["uniforms"][:, :2]}, ValueError, r"uniforms must be \(N, sample_count"),
    (lambda a: {**a, "y_stamp": a["y_stamp"][:, :3]}, ValueError, "pred_len=4"),
    (lambda a: {**a, "x_stamp": a["x_stamp"][:1]}, ValueError, "one window each"),
    (lambda a: {**a, "x": a["x"][..., :5]}, ValueError, r"\(N, L, 6\)"),
    (lambda a: {**a, "x": "bars"}, TypeError, "array or a list"),
    (lambda a: {**a, "clip": 0.0}, ValueError, "clip must be > 0"),
])
def test_bad_inputs_say_what_to_pass(pair, change, error, match):
    tokenizer, model = pair
    x, x_stamp, y_stamp = raw_windows(2, 10)
    args = dict(x=x, x_stamp=x_stamp, y_stamp=y_stamp, uniforms=draw_uniforms(2, 3, 4, seed=0), clip=5.0)
    args = change(args)
    with pytest.raises(error, match=match):
        forecast_windows(tokenizer, model, args["x"], args["x_stamp"], args["y_stamp"], CONFIG, args["uniforms"],
                         clip=args["clip"])
