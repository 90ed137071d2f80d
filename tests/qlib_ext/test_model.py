"""KronosModel: construction errors, predict's output, no look-ahead, pickling (tiny model, tiny market)."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

PRICE_FIELDS = ("open", "high", "low", "close", "vwap")


@pytest.fixture(scope="module")
def dataset(tiny_market, init_qlib, kronos_setup):
    init_qlib(tiny_market)
    return kronos_setup.dataset()


def _model(tiny_checkpoints, **kwargs):
    from kronos_quant.qlib_ext.model import KronosModel

    tokenizer, predictor = tiny_checkpoints
    values = dict(lookback=30, horizon=5, sample_count=2, T=1.0, device="cpu", seed=3)
    values.update(kwargs)
    return KronosModel(str(tokenizer), str(predictor), **values)


@pytest.fixture(scope="module")
def scores(dataset, tiny_checkpoints):
    return _model(tiny_checkpoints).fit(dataset).predict(dataset)


@pytest.mark.parametrize("kwargs, message", [
    (dict(signal="alpha"), "unknown signal 'alpha'"),
    (dict(mode="few_shot"), "mode must be one of"),
    (dict(lookback=0), "lookback must be >= 1"),
    (dict(horizon=0), "horizon must be >= 1"),
    (dict(top_p=1.5), r"top_p must be in \(0, 1\]"),
    (dict(T=0.0), "temperature T must be .*> 0"),
    (dict(top_k=-1), "top_k must be >= 0"),
    (dict(sample_count=0), "sample_count must be >= 1"),
    (dict(engine="fast"), "engine must be one of"),
    (dict(horizon=20, max_context=10), "pred_len=20 > max_context=10"),
    (dict(device="tpu9"), "device must be"),
    (dict(memory_budget_gb=0), "memory_budget_gb must be > 0"),
    (dict(lookbak=30), r"unknown arguments \['lookbak'\]"),
    (dict(forecast={"lookbak": 30}), r"ForecastSettings: unknown keys \['lookbak'\]"),
    (dict(train_config={"predictor": {}}), "only used by mode finetune or scratch"),
])
def test_bad_kwargs_fail_at_construction(tiny_checkpoints, kwargs, message):
    with pytest.raises(ValueError, match=message):
        _model(tiny_checkpoints, **kwargs)


def test_missing_checkpoint_says_where_to_put_it(tiny_checkpoints, tmp_path):
    from kronos_quant.qlib_ext.model import KronosModel

    with pytest.raises(ValueError, match="predictor: Checkpoint folder .* does not exist"):
        KronosModel(str(tiny_checkpoints[0]), str(tmp_path / "nowhere"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match=r"lacks \['config.json', 'model.safetensors'\]"):
        KronosModel(str(tmp_path / "empty"), str(tiny_checkpoints[1]))


def test_training_modes_validate_their_sources(tiny_checkpoints, kronos_setup):
    from kronos_quant.qlib_ext.model import KronosModel

    train = {"tokenizer": kronos_setup.train, "predictor": kronos_setup.train}
    with pytest.raises(ValueError, match="pass train_config"):
        KronosModel("tokenizer-base", "small", mode="scratch")
    with pytest.raises(ValueError, match="with mode scratch pass a preset"):
        KronosModel("no-such-preset", "small", mode="scratch", train_config=train)
    with pytest.raises(ValueError, match=r"unknown keys \['optimizer'\]"):
        KronosModel("tokenizer-base", "small", mode="scratch", train_config={"optimizer": {}})
    with pytest.raises(ValueError, match="lr must be > 0"):
        KronosModel("tokenizer-base", "small", mode="scratch", train_config={**train, "predictor": {"lr": -1}})
    with pytest.raises(ValueError, match="trains nothing"):
        KronosModel(*map(str, tiny_checkpoints), mode="finetune", train_config={"predictor": None})
    model = KronosModel("tokenizer-base", "small", mode="scratch", train_config=train)
    assert not model.fitted
    with pytest.raises(ValueError, match="call fit"):
        model.networks()


def test_fit_rejects_reweighter_and_foreign_datasets(dataset, tiny_checkpoints):
    model = _model(tiny_checkpoints)
    with pytest.raises(ValueError, match="reweighter"):
        model.fit(dataset, reweighter=object())
    with pytest.raises(TypeError, match="needs a KronosDataset"):
        model.fit(object())
    with pytest.raises(TypeError, match="segment name"):
        model.predict(dataset, ["test", "valid"])  # slices are fine (tests/qlib_ext/test_online.py)
    with pytest.raises(ValueError, match="lookback/horizon"):
        _model(tiny_checkpoints, lookback=40).predict(dataset)


def test_predict_returns_scores_of_the_segment(scores, dataset, kronos_setup):
    from qlib.data import D

    assert isinstance(scores, pd.Series) and scores.name == "score"
    assert scores.index.names == ["datetime", "instrument"] and scores.index.is_unique
    assert np.isfinite(scores).all() and scores.std() > 0
    start, end = kronos_setup.segments["test"]
    days = pd.DatetimeIndex(D.calendar(start_time=start, end_time=end))
    assert set(scores.index.get_level_values("datetime")) == set(days)
    assert scores.groupby(level="datetime").size().min() >= 20  # most of the 25 members each day


def test_same_seed_same_scores_other_seed_differs(scores, dataset, tiny_checkpoints):
    pd.testing.assert_series_equal(_model(tiny_checkpoints).predict(dataset), scores)
    other = _model(tiny_checkpoints, seed=4).predict(dataset)
    assert not np.allclose(other, scores)


def test_a_windows_score_does_not_depend_on_the_other_windows(scores, dataset, tiny_checkpoints):
    """Uniforms are keyed by (datetime, instrument): a sub-universe scores each stock as the full one."""
    model = _model(tiny_checkpoints)
    windows = model.prepare_windows(dataset, "test")
    subset = np.flatnonzero(windows.index.get_level_values("instrument").isin(
        windows.index.get_level_values("instrument").unique()[::3]))[:40]
    part = model.score(model.forecast_rows(windows.x[subset], windows.x_stamp[subset], windows.y_stamp[subset],
                                           windows.index[subset]))
    np.testing.assert_allclose(part, scores.reindex(windows.index[subset]).to_numpy(), rtol=1e-6)


def test_predict_is_the_signal_of_forecast(scores, dataset, tiny_checkpoints):
    """forecast gives every window's price-space paths; predict is exactly their signal."""
    from kronos_quant.research.signals import compute_signal

    model = _model(tiny_checkpoints)
    index, result = model.forecast(dataset, "test")
    assert index.equals(scores.index)
    assert result.paths.shape == (len(index), 2, 5, 6) and result.paths.dtype == np.float32
    windows = model.prepare_windows(dataset, "test")
    np.testing.assert_array_equal(result.last_close, windows.x[:, -1, 3].astype(np.float64))
    closes = result.paths[..., 3]
    assert 0.5 < np.median(closes[:, 0, 0] / result.last_close) < 2.0  # price units, not z-scores
    np.testing.assert_array_equal(compute_signal("expected_return", result.paths, result.last_close),
                                  scores.to_numpy())
    other = _model(tiny_checkpoints, signal="prob_up")
    np.testing.assert_array_equal(other.predict(dataset).to_numpy(),
                                  compute_signal("prob_up", result.paths, result.last_close))


def test_qrun_users_choose_sliding_and_autocast(tiny_checkpoints):
    model = _model(tiny_checkpoints, forecast={"sliding": "rolling", "autocast": "bf16", "max_context": 64})
    generation = model.forecast_settings.generation
    assert (generation.sliding, generation.autocast, generation.max_context) == ("rolling", "bf16", 64)
    assert (generation.pred_len, generation.sample_count, generation.sampling.temperature) == (5, 2, 1.0)
    with pytest.raises(ValueError, match="sliding must be one of"):
        _model(tiny_checkpoints, sliding="ring")


def test_pickle_round_trip_keeps_state_and_scores(scores, dataset, tiny_checkpoints, tmp_path):
    from qlib.utils.serial import Serializable

    model = _model(tiny_checkpoints)
    model.fit(dataset)
    assert getattr(model, "_pair", None) is not None
    model.to_pickle(tmp_path / "params.pkl")  # what qrun does with the trained model
    restored = Serializable.load(tmp_path / "params.pkl")
    assert "_pair" not in vars(restored)  # loaded networks are not pickled, only their paths
    assert restored.tokenizer_path == str(tiny_checkpoints[0].resolve())
    assert restored.forecast_settings == model.forecast_settings and restored.runtime == model.runtime
    pd.testing.assert_series_equal(restored.predict(dataset), scores)
    assert len(pickle.dumps(model)) < 20_000  # no weight blobs


def _perturb_after(provider, cutoff: pd.Timestamp) -> None:
    """Scale every price/volume bar after ``cutoff`` in place (the set of traded bars is unchanged)."""
    calendar = pd.DatetimeIndex(pd.read_csv(provider / "calendars" / "day.txt", header=None)[0])
    fields = PRICE_FIELDS + ("volume", "amount")
    for folder in (provider / "features").iterdir():
        for field in fields:
            path = folder / f"{field}.day.bin"
            if not path.exists():
                continue
            values = np.fromfile(path, dtype="<f4")
            dates = calendar[int(values[0]): int(values[0]) + len(values) - 1]
            values[1:][dates > cutoff] *= np.float32(1.7 if field in PRICE_FIELDS else 0.3)
            values.tofile(path)


def test_no_lookahead_scores_ignore_later_bars(scores, tiny_market, tiny_checkpoints, init_qlib, kronos_setup,
                                               tmp_path):
    cutoff = pd.Timestamp("2022-01-31")
    provider = tmp_path / "perturbed"
    shutil.copytree(tiny_market, provider)
    _perturb_after(provider, cutoff)
    init_qlib(provider)
    try:
        perturbed = _model(tiny_checkpoints).predict(kronos_setup.dataset())
    finally:
        init_qlib(tiny_market)
    assert perturbed.index.equals(scores.index)
    dates = scores.index.get_level_values("datetime")
    np.testing.assert_array_equal(perturbed[dates <= cutoff].to_numpy(), scores[dates <= cutoff].to_numpy())
    assert not np.allclose(perturbed[dates > cutoff], scores[dates > cutoff])  # the perturbation did bite


def test_params_pickled_before_forecast_became_a_method_still_load(tiny_checkpoints):
    """Older params.pkl hold the settings as ``forecast`` (no ``generation``): they become forecast_settings."""
    from kronos_quant.qlib_ext.model import KronosModel
    from kronos_quant.qlib_ext.model_settings import ForecastSettings

    model = _model(tiny_checkpoints, sample_count=3)
    state = model.__getstate__()
    settings = state.pop("forecast_settings")
    legacy = object.__new__(ForecastSettings)  # as unpickled: fields of the time, no generation config
    legacy.__dict__.update({key: value for key, value in vars(settings).items()
                            if key not in ("generation", "sliding", "autocast")})
    restored = KronosModel.__new__(KronosModel)
    restored.__setstate__({**state, "forecast": legacy})
    assert restored.forecast_settings == settings and restored.forecast_settings.generation.sample_count == 3
    assert "forecast" not in vars(restored) and callable(restored.forecast)
