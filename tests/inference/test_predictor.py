"""KronosPredictor: official semantics, seeds, batches of mixed lengths, chunking, quantiles."""
import numpy as np
import pandas as pd
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

from kronos_quant import Kronos, KronosPredictor, KronosTokenizer


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(11)
    return KronosPredictor(Kronos(tiny_predictor_config()), KronosTokenizer(tiny_tokenizer_config()),
                           device="cpu", max_context=48)


def make_series(n_bars, horizon, seed, freq="D"):
    rng = np.random.default_rng(seed)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, n_bars)))
    df = pd.DataFrame({"open": close * (1 + rng.normal(0, 0.005, n_bars)), "close": close,
                       "volume": rng.uniform(1e5, 2e5, n_bars)})
    df["high"] = df[["open", "close"]].max(axis=1) * 1.01
    df["low"] = df[["open", "close"]].min(axis=1) * 0.99
    times = pd.date_range("2021-01-04", periods=n_bars + horizon, freq=freq)
    return df, pd.Series(times[:n_bars]), pd.Series(times[n_bars:])


def test_predict_returns_official_frame(predictor):
    df, xt, yt = make_series(30, 5, seed=0)
    out = predictor.predict(df, xt, yt, pred_len=5, T=1.0, top_p=0.9, sample_count=2, verbose=False, seed=0)
    assert list(out.columns) == ["open", "high", "low", "close", "volume", "amount"]
    assert out.index.equals(pd.DatetimeIndex(yt)) and out.shape == (5, 6)
    assert np.isfinite(out.to_numpy()).all()


def test_seed_reproduces_and_differs(predictor):
    df, xt, yt = make_series(30, 4, seed=1)
    run = lambda seed: predictor.predict_paths([df], [xt], [yt], 4, T=1.0, top_p=0.95, sample_count=3,
                                               seed=seed).paths
    np.testing.assert_array_equal(run(7), run(7))
    assert not np.array_equal(run(7), run(8))


def test_mixed_lengths_equal_single_predictions(predictor):
    series = [make_series(n, 3, seed=n) for n in (20, 33, 20, 60)]  # 60 > max_context
    batch = predictor.predict_batch(*map(list, zip(*series)), pred_len=3, top_k=1, verbose=False)
    for (df, xt, yt), together in zip(series, batch):
        alone = predictor.predict(df, xt, yt, pred_len=3, top_k=1, verbose=False)
        pd.testing.assert_frame_equal(alone, together, rtol=1e-5, atol=1e-5)


def test_lookback_past_max_context_follows_the_official_order(predictor):
    """Normalise over the whole df, tokenise it whole, generate from the last max_context tokens."""
    from kronos_quant.inference.generation import generate_paths
    from kronos_quant.inference.generation_config import GenerationConfig
    from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms
    from kronos_quant.normalization import derived_amount
    from kronos_quant.time_features import time_features

    df, xt, yt = make_series(70, 6, seed=3)  # 70 bars > max_context 48
    out = predictor.predict(df, xt, yt, pred_len=6, top_k=1, verbose=False)
    bars = df[["open", "high", "low", "close", "volume"]].to_numpy()
    bars = np.concatenate([bars, derived_amount(bars)[:, None]], axis=1)
    mean, std = bars.mean(0), bars.std(0)
    x = torch.tensor(np.clip((bars - mean) / (std + 1e-5), -5, 5), dtype=torch.float32)[None]
    config = GenerationConfig(pred_len=6, max_context=48, sampling=SamplingConfig(top_k=1), engine="recompute")
    paths = generate_paths(predictor.tokenizer, predictor.model, x, torch.tensor(time_features(xt))[None],
                           torch.tensor(time_features(yt))[None], config, draw_uniforms(1, 1, 6, seed=0))
    expected = paths[0, 0].numpy() * (std + 1e-5) + mean
    np.testing.assert_allclose(out.to_numpy(), expected, rtol=1e-4, atol=1e-4)


def test_time_zones_keep_the_local_wall_clock(predictor):
    df, xt, yt = make_series(30, 4, seed=6, freq="30min")
    naive = predictor.predict(df, xt, yt, pred_len=4, top_k=1, verbose=False)
    local = [s.dt.tz_localize("Asia/Shanghai") for s in (xt, yt)]
    aware = predictor.predict(df, *local, pred_len=4, top_k=1, verbose=False)
    np.testing.assert_array_equal(aware.to_numpy(), naive.to_numpy())  # same hour/day features
    assert aware.index.equals(pd.DatetimeIndex(local[1]))  # indexed by the caller's own timestamps
    with pytest.raises(ValueError, match="give both a time zone or neither"):
        predictor.predict(df, local[0], yt, pred_len=4, verbose=False)


def test_series_keys_make_paths_independent_of_the_other_series(predictor):
    series = [make_series(30, 4, seed=s) for s in range(3)]
    kwargs = dict(pred_len=4, T=1.0, top_p=0.9, sample_count=3, seed=7)
    alone = predictor.predict_paths(*[[part] for part in series[2]], series_keys=["C"], **kwargs).paths
    third = predictor.predict_paths(*map(list, zip(*series)), series_keys=["A", "B", "C"], **kwargs).paths
    np.testing.assert_allclose(third[2], alone[0], rtol=1e-5)
    positional = predictor.predict_paths(*map(list, zip(*series)), **kwargs).paths
    assert not np.allclose(positional[2], alone[0])  # by position, series 2 draws another block
    with pytest.raises(ValueError, match="needs a seed"):
        predictor.predict_paths(*[[part] for part in series[0]], pred_len=4, series_keys=["A"])
    with pytest.raises(ValueError, match="3 distinct keys"):
        predictor.predict_paths(*map(list, zip(*series)), series_keys=["A", "A", "B"], **kwargs)


def test_unseeded_paths_follow_torch_manual_seed(predictor):
    df, xt, yt = make_series(30, 4, seed=1)
    runs = []
    for _ in range(2):
        torch.manual_seed(2024)
        paths = predictor.predict_paths([df], [xt], [yt], 4, T=1.0, top_p=0.95, sample_count=2).paths
        runs.append((paths, torch.rand(3)))  # the global generator continues, not reseeded
    np.testing.assert_array_equal(runs[0][0], runs[1][0])
    assert torch.equal(runs[0][1], runs[1][1])


def test_chunking_equals_one_batch():
    torch.manual_seed(2)
    model, tokenizer = Kronos(tiny_predictor_config()), KronosTokenizer(tiny_tokenizer_config())
    series = [make_series(25, 4, seed=s) for s in range(5)]
    args = list(map(list, zip(*series)))
    whole = KronosPredictor(model, tokenizer, device="cpu", max_context=48)
    chunked = KronosPredictor(model, tokenizer, device="cpu", max_context=48, memory_budget_gb=1e-6)
    kwargs = dict(pred_len=4, T=0.9, top_p=0.9, sample_count=3, seed=5)
    np.testing.assert_allclose(whole.predict_paths(*args, **kwargs).paths,
                               chunked.predict_paths(*args, **kwargs).paths, rtol=1e-5, atol=1e-5)


def test_paths_and_quantiles_shapes(predictor):
    series = [make_series(30, 6, seed=s) for s in range(2)]
    result = predictor.predict_paths(*map(list, zip(*series)), pred_len=6, sample_count=5, seed=0)
    assert result.paths.shape == (2, 5, 6, 6)
    frames = result.quantiles((0.1, 0.5, 0.9))
    assert frames[0].shape == (6, 24)
    low, mid, high = (frames[0][("close", q)] for q in (0.1, 0.5, 0.9))
    assert (low <= mid).all() and (mid <= high).all()
    np.testing.assert_allclose(frames[1][("close", "mean")], result.paths[1, :, :, 3].mean(0), rtol=1e-6)
    np.testing.assert_allclose(result.last_close, [s[0]["close"].iloc[-1] for s in series])


def test_no_volume_and_derived_amount(predictor):
    """No volume = explicit volume and amount 0; volume without amount = explicit volume * mean(OHLC)."""
    df, xt, yt = make_series(30, 3, seed=4)
    run = lambda frame: predictor.predict(frame, xt, yt, 3, top_k=1, verbose=False)
    prices = df[["open", "high", "low", "close"]]
    no_volume = run(prices)
    pd.testing.assert_frame_equal(no_volume, run(prices.assign(volume=0.0, amount=0.0)))
    assert not no_volume.equals(run(prices.assign(volume=df["volume"], amount=0.0)))  # volume reaches the model
    derived = run(df)  # volume, no amount
    explicit = prices.assign(volume=df["volume"], amount=df["volume"] * (df["open"] + df["high"] + df["low"]
                                                                         + df["close"]) / 4)
    pd.testing.assert_frame_equal(derived, run(explicit))
    assert not derived.equals(run(explicit.assign(amount=explicit["amount"] * 2)))  # the amount matters too
    assert not derived.equals(no_volume)


def test_flat_series_gives_no_nan(predictor):
    df, xt, yt = make_series(30, 3, seed=4)
    df.loc[:, ["open", "high", "low", "close"]] = 7.0
    df["volume"] = 100.0
    out = predictor.predict(df, xt, yt, 3, top_k=1, verbose=False)
    assert np.isfinite(out.to_numpy()).all()
    np.testing.assert_allclose(out["close"], 7.0, atol=1e-3)


@pytest.mark.parametrize("mutate,error,match", [
    (lambda df, xt, yt: (df.to_numpy(), xt, yt, 3), TypeError, "pandas DataFrame"),
    (lambda df, xt, yt: (df.drop(columns="close"), xt, yt, 3), ValueError, r"lacks price columns \['close'\]"),
    (lambda df, xt, yt: (df.assign(open=df["open"].where(df.index != 5)), xt, yt, 3), ValueError, "NaN/inf"),
    (lambda df, xt, yt: (df.assign(high=df["high"].replace(df["high"].iloc[3], np.inf)), xt, yt, 3),
     ValueError, "NaN/inf"),
    (lambda df, xt, yt: (df.assign(low=-df["low"]), xt, yt, 3), ValueError, "negative prices"),
    (lambda df, xt, yt: (df, xt[::-1], yt, 3), ValueError, "not sorted"),
    (lambda df, xt, yt: (df, pd.Series([xt.iloc[0]] * len(xt)), yt, 3), ValueError, "duplicated"),
    (lambda df, xt, yt: (df, xt[:-1], yt, 3), ValueError, "one timestamp per bar"),
    (lambda df, xt, yt: (df, xt, yt[:2], 3), ValueError, "pred_len=3"),
    (lambda df, xt, yt: (df, xt, yt, 0), ValueError, "pred_len must be >= 1"),
    (lambda df, xt, yt: (df.iloc[:0], xt[:0], yt, 3), ValueError, "empty"),
    (lambda df, xt, yt: (df, xt, xt[-3:], 3), ValueError, "not after the last bar"),
    (lambda df, xt, yt: (df, pd.Series(np.arange(len(df))), yt, 3), TypeError, "holds numbers"),
    (lambda df, xt, yt: (df, xt.astype("int64") // 10**9, yt, 3), TypeError, "unit='s'"),
])
def test_bad_input_raises_clear_errors(predictor, mutate, error, match):
    df, xt, yt = make_series(30, 3, seed=9)
    with pytest.raises(error, match=match):
        predictor.predict(*mutate(df, xt, yt), verbose=False)


def test_bad_constructor_arguments():
    model, tokenizer = Kronos(tiny_predictor_config()), KronosTokenizer(tiny_tokenizer_config())
    with pytest.raises(TypeError, match="in that order"):
        KronosPredictor(tokenizer, model)
    with pytest.raises(ValueError, match="engine must be one of"):
        KronosPredictor(model, tokenizer, device="cpu", engine="turbo")
    with pytest.raises(ValueError, match="disagree on s1_bits"):
        KronosPredictor(Kronos(tiny_predictor_config(s1_bits=5)), tokenizer, device="cpu")
