"""`kronos-quant volatility`: a missing earlier step, mismatched horizons and empty ranges are one-line errors
that name the file and the command to run, before any data is loaded or a model is built."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from kronos_quant.cli import main
from kronos_quant.qlib_ext.volatility_study import (
    MODEL_SETTINGS,
    check_forecast_pair,
    forecast_file_settings,
    load_forecast,
    save_forecast,
)


def _fake_trained(out, lookback=60, horizon=20, complete=True):
    """The folder layout the train step leaves (checkpoint dirs + settings); no weights needed for these checks."""
    for network in ("tokenizer", "predictor"):
        (out / network / "best").mkdir(parents=True)
    (out / MODEL_SETTINGS).write_text(json.dumps({"lookback": lookback, "horizon": horizon, "complete": complete}))


def _run(capsys, *argv) -> str:
    assert main(["volatility", *argv]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.count("error:") == 1
    return err


def test_forecast_before_train_names_the_train_command(tiny_market, tmp_path, capsys):
    err = _run(capsys, "forecast", "--provider", str(tiny_market), "--out", str(tmp_path / "vol"), "--segment", "valid")
    assert f"no trained model in {tmp_path / 'vol'}" in err
    assert f"run `kronos-quant volatility train --provider {tiny_market} --out {tmp_path / 'vol'}" in err


@pytest.mark.parametrize("option, value, message", [
    ("--horizon", "10", "was trained with --horizon 20, this step has --horizon 10"),
    ("--lookback", "90", "was trained with --lookback 60, this step has --lookback 90"),
])
def test_forecast_with_other_settings_than_the_trained_model_is_refused(tiny_market, tmp_path, capsys, option,
                                                                         value, message):
    _fake_trained(tmp_path / "vol")
    err = _run(capsys, "forecast", "--provider", str(tiny_market), "--out", str(tmp_path / "vol"), "--segment",
               "valid", option, value)
    assert message in err


def test_forecast_after_an_interrupted_train_step_is_refused(tiny_market, tmp_path, capsys):
    _fake_trained(tmp_path / "vol", complete=False)  # best/ dirs exist: early-stopping saves them mid-run
    err = _run(capsys, "forecast", "--provider", str(tiny_market), "--out", str(tmp_path / "vol"), "--segment", "valid")
    assert f"the train step in {tmp_path / 'vol'} did not finish (interrupted?)" in err
    assert "rerun `kronos-quant volatility train" in err


def test_forecast_of_a_segment_the_provider_does_not_cover_is_an_empty_range(tiny_market, tmp_path, capsys):
    _fake_trained(tmp_path / "vol")
    err = _run(capsys, "forecast", "--provider", str(tiny_market), "--out", str(tmp_path / "vol"), "--segment", "test")
    assert f"segment test (2023-07-03..2024-05-30) has no trading day in {tiny_market}, which holds " \
           "2020-01-02..2022-06-30" in err


def test_forecast_with_one_path_is_refused(tiny_market, tmp_path, capsys):
    _fake_trained(tmp_path / "vol")
    err = _run(capsys, "forecast", "--provider", str(tiny_market), "--out", str(tmp_path / "vol"), "--segment",
               "valid", "--paths", "1")
    assert "--paths 1: the spread of the forecast needs at least 2 sample paths" in err


def _paths_file(path, horizon, *, rows=3, settings=None):
    index = pd.MultiIndex.from_product([pd.bdate_range("2022-01-04", periods=rows), ["SH600000"]],
                                       names=["datetime", "instrument"])
    paths = np.ones((len(index), 2, horizon, 6), dtype=np.float32)
    save_forecast(path, index, paths, np.ones(len(index), dtype=np.float32), settings=settings)


def test_evaluate_before_forecast_names_the_missing_file_and_command(tiny_market, tmp_path, capsys):
    out = tmp_path / "vol"
    out.mkdir()
    _paths_file(out / "paths_test_T1.npz", 20)
    err = _run(capsys, "evaluate", "--provider", str(tiny_market), "--out", str(out))
    assert f"{out / 'paths_valid_T1.npz'} is missing: run `kronos-quant volatility forecast --provider {tiny_market}" \
           in err and "--segment valid --temperature 1` first" in err


def test_evaluate_of_files_forecast_with_other_horizons_is_refused(tiny_market, tmp_path, capsys):
    out = tmp_path / "vol"
    out.mkdir()
    _paths_file(out / "paths_valid_T1.npz", 20, settings={"horizon": 20, "lookback": 60})
    _paths_file(out / "paths_test_T1.npz", 30, settings={"horizon": 30, "lookback": 60})
    err = _run(capsys, "evaluate", "--provider", str(tiny_market), "--out", str(out))
    assert "mismatched horizon: paths_valid_T1.npz was forecast with 20, paths_test_T1.npz with 30" in err


def test_settings_round_trip_and_older_files_read_as_empty(tmp_path):
    _paths_file(tmp_path / "new.npz", 5, settings={"horizon": 5, "segment": "valid"})
    assert forecast_file_settings(tmp_path / "new.npz") == {"horizon": 5, "segment": "valid"}
    index, paths, last_close = load_forecast(tmp_path / "new.npz")
    assert paths.shape == (3, 2, 5, 6) and len(index) == 3 and last_close.shape == (3,)
    np.savez_compressed(tmp_path / "old.npz", datetime=np.zeros(1, dtype=np.int64), instrument=np.array(["A"]),
                        paths=np.ones((1, 2, 5, 6)), last_close=np.ones(1))
    assert forecast_file_settings(tmp_path / "old.npz") == {}


def test_forecast_pairs_that_cannot_be_evaluated_together(tmp_path):
    for name, horizon, rows in (("v20", 20, 3), ("t30", 30, 3), ("v10", 10, 3), ("t10", 10, 3), ("empty", 20, 0)):
        _paths_file(tmp_path / f"{name}.npz", horizon, rows=rows)
    load = {name: load_forecast(tmp_path / f"{name}.npz") for name in ("v20", "t30", "v10", "t10", "empty")}
    horizons = (1, 5, 10, 20)
    with pytest.raises(ValueError, match="mismatched horizons: the valid paths have 20 bars, the test paths 30"):
        check_forecast_pair(load["v20"], load["t30"], horizons)
    with pytest.raises(ValueError, match=r"the paths have 10 bars but horizons \[1, 5, 10, 20\] are evaluated"):
        check_forecast_pair(load["v10"], load["t10"], horizons)
    with pytest.raises(ValueError, match="the test forecasts are empty"):
        check_forecast_pair(load["v20"], load["empty"], horizons)
    check_forecast_pair(load["v10"], load["t10"], (1, 5, 10))


@pytest.mark.parametrize("argv, message", [
    (["train", "--every", "0"], "--every must be >= 1, got 0"),
    (["train", "--max-steps", "0"], "--max-steps must be >= 1, got 0"),
    (["forecast", "--segment", "valid", "--every", "0"], "--every must be >= 1, got 0"),
    (["evaluate", "--refit-every", "0"], "--refit-every must be >= 1, got 0"),
])
def test_non_positive_step_options_are_refused(tiny_market, tmp_path, capsys, argv, message):
    _fake_trained(tmp_path / "vol")
    err = _run(capsys, *argv, "--provider", str(tiny_market), "--out", str(tmp_path / "vol"))
    assert message in err


def test_a_truncated_paths_file_is_named(tmp_path):
    _paths_file(tmp_path / "paths_valid_T1.npz", 20)
    data = (tmp_path / "paths_valid_T1.npz").read_bytes()
    (tmp_path / "paths_valid_T1.npz").write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match=r"paths_valid_T1.npz is not a readable paths file .* run the forecast step"):
        load_forecast(tmp_path / "paths_valid_T1.npz")
    assert list(tmp_path.iterdir()) == [tmp_path / "paths_valid_T1.npz"]  # no temporary file left by save_forecast
