"""The shared bar checks (kronos_quant.validation) and the predictor's use of them: one test per input class."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

from kronos_quant import Kronos, KronosPredictor, KronosTokenizer
from kronos_quant.inference.sampling import SamplingConfig
from kronos_quant.validation import BarValidationError, check_bar_frame, check_bar_panels, raise_for_issues


def bars(n=20, seed=0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
    frame = pd.DataFrame({"open": close * (1 + rng.normal(0, 0.005, n)), "close": close,
                          "volume": rng.uniform(1e5, 2e5, n)}, index=pd.bdate_range("2024-01-01", periods=n))
    frame["high"] = frame[["open", "close"]].max(axis=1) * 1.01
    frame["low"] = frame[["open", "close"]].min(axis=1) * 0.99
    frame["amount"] = frame["volume"] * frame["close"]
    return frame


def rules(issues, severity=None):
    return {issue.rule for issue in issues if severity is None or issue.severity == severity}


def _set(frame, column, row, value):
    frame = frame.copy()
    frame.iloc[row, frame.columns.get_loc(column)] = value
    return frame


def test_clean_bars_have_no_issue():
    assert check_bar_frame(bars()) == []


@pytest.mark.parametrize("mutate, rule, severity, column, where", [
    (lambda f: _set(f, "close", 4, 0.0), "non_positive_price", "error", "close", "row 4 (2024-01-05"),
    (lambda f: _set(f, "open", 2, -1.0), "non_positive_price", "error", "open", "row 2"),
    (lambda f: _set(f, "high", 3, f["low"].iloc[3] * 0.9), "high_below_low", "error", "high", "row 3"),
    (lambda f: _set(f, "open", 5, f["high"].iloc[5] * 1.05), "ohlc_inconsistent", "warning", "open/close", "row 5"),
    (lambda f: _set(f, "volume", 6, -5.0), "negative_volume", "error", "volume", "row 6"),
    (lambda f: _set(f, "amount", 7, -5.0), "negative_amount", "error", "amount", "row 7"),
    (lambda f: _set(f, "close", 8, np.nan), "missing_values", "error", "close", "row 8"),
    (lambda f: _set(f, "high", 8, np.inf), "missing_values", "error", "high", "row 8"),
    (lambda f: f.drop(columns="volume"), "amount_without_volume", "warning", "amount", ""),
    (lambda f: f.iloc[:1], "too_few_bars", "error", "*", ""),
    (lambda f: pd.concat([f, f[["close"]]], axis=1), "duplicate_columns", "error", "close", ""),
    (lambda f: f.assign(volume=f["volume"].astype(str).where(f.index != f.index[2], "n/a")), "non_numeric",
     "error", "volume", ""),
    (lambda f: f.assign(open=10.0, high=10.0, low=10.0, close=10.0), "constant_prices", "warning", "close", ""),
])
def test_each_rule_names_column_place_and_fix(mutate, rule, severity, column, where):
    issues = [i for i in check_bar_frame(mutate(bars()), min_bars=2) if i.rule == rule]
    assert len(issues) == 1 and issues[0].severity == severity
    assert issues[0].column == column and issues[0].where.startswith(where)
    assert "fix:" in issues[0].message() and repr(column) in issues[0].message()


def test_missing_values_allowed_where_they_mean_suspension():
    frame = _set(bars(), "close", 3, np.nan)
    assert "missing_values" not in rules(check_bar_frame(frame, allow_missing=True))


def test_raise_for_issues_raises_errors_and_logs_warnings(caplog):
    frame = _set(_set(bars(), "close", 4, 0.0), "open", 5, 100.0)
    with caplog.at_level(logging.WARNING), pytest.raises(BarValidationError, match="AAPL.csv has invalid bars") as err:
        raise_for_issues(check_bar_frame(frame), source="AAPL.csv")
    assert [i.rule for i in err.value.issues] == ["non_positive_price"]
    assert "ohlc_inconsistent" not in str(err.value) and "open or close outside" in caplog.text


def test_panel_check_names_date_and_instrument():
    dates = pd.bdate_range("2024-01-01", periods=3)
    high = pd.DataFrame([[11, 11], [11, 9], [11, np.nan]], index=dates, columns=["SH600000", "SZ000001"], dtype=float)
    low = pd.DataFrame(10.0, index=dates, columns=high.columns)
    [issue] = check_bar_panels({"high": high, "low": low})
    assert issue.rule == "high_below_low" and issue.where == "2024-01-02, SZ000001"


# ---- the predictor runs these rules, and says which series failed ------------------------------------


@pytest.fixture(scope="module")
def predictor():
    torch.manual_seed(0)
    return KronosPredictor(Kronos(tiny_predictor_config()), KronosTokenizer(tiny_tokenizer_config()),
                           device="cpu", max_context=32)


def _times(frame, horizon=3, tz=None):
    times = pd.date_range("2024-01-01", periods=len(frame) + horizon, freq="D", tz=tz)
    return pd.Series(times[:len(frame)]), pd.Series(times[len(frame):])


@pytest.mark.parametrize("mutate, match", [
    (lambda f: _set(f, "close", 4, 0.0), "zero or negative prices"),
    (lambda f: _set(f, "high", 3, 1.0), "high below low"),
    (lambda f: _set(f, "volume", 6, -5.0), "negative volume"),
    (lambda f: f.iloc[:1], "only 1 bars"),
    (lambda f: pd.concat([f, f[["open"]]], axis=1), "'open': appears more than once"),
])
def test_predictor_refuses_bad_bars(predictor, mutate, match):
    frame = mutate(bars()).reset_index(drop=True)
    xt, yt = _times(frame)
    with pytest.raises(ValueError, match=match):
        predictor.predict(frame, xt, yt, 3, verbose=False)


def test_predictor_warns_that_amount_is_ignored_without_volume(predictor, caplog):
    frame = bars().drop(columns="volume").reset_index(drop=True)
    xt, yt = _times(frame)
    with caplog.at_level(logging.WARNING):
        predictor.predict(frame, xt, yt, 3, top_k=1, verbose=False)
    assert "'amount': is ignored because there is no 'volume' column" in caplog.text


def test_batch_error_names_the_failing_series(predictor):
    good = bars().reset_index(drop=True)
    bad = _set(good, "low", 2, -1.0)
    xt, yt = _times(good)
    with pytest.raises(ValueError, match=r"series 1 \(key 'SZ000001'\) of 2: df has invalid bars"):
        predictor.predict_batch([good, bad], [xt, xt], [yt, yt], 3, seed=0, series_keys=["SH600000", "SZ000001"],
                                verbose=False)


def test_history_and_future_in_different_time_zones(predictor):
    frame = bars().reset_index(drop=True)
    xt, _ = _times(frame, tz="Asia/Shanghai")
    _, yt = _times(frame, tz="UTC")
    with pytest.raises(ValueError, match=r"tz_convert\('Asia/Shanghai'\)"):
        predictor.predict(frame, xt, yt, 3, verbose=False)


@pytest.mark.parametrize("temperature", [float("inf"), float("nan"), 0.0])
def test_non_finite_temperature(temperature):
    with pytest.raises(ValueError, match="must be > 0 and finite"):
        SamplingConfig(temperature=temperature)


def test_object_columns_of_numbers_are_accepted():
    frame = bars().astype({"close": object})
    assert check_bar_frame(frame) == []
    frame.loc[frame.index[3], "close"] = "12,5"
    [issue] = check_bar_frame(frame)
    assert issue.rule == "non_numeric" and "'12,5'" in issue.message()
