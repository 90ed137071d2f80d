"""`kronos-quant forecast` on an A-share 5-minute CSV: column order, session times, OHLC repair, plot."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.cli import main
from kronos_quant.inference.forecast_result import ForecastResult, ohlc_violations
from kronos_quant.normalization import FEATURE_COLUMNS


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    import torch
    from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

    from kronos_quant.model import Kronos, KronosTokenizer

    root = tmp_path_factory.mktemp("forecast_ckpt")
    torch.manual_seed(0)
    return (str(KronosTokenizer(tiny_tokenizer_config()).save_pretrained(root / "tok")),
            str(Kronos(tiny_predictor_config()).save_pretrained(root / "pred")))


@pytest.fixture(scope="module")
def five_minute_csv(tmp_path_factory):
    """Three A-share days of 5-minute bars stamped by bar end, ending at the 11:30 lunch break."""
    offsets = pd.timedelta_range("09:35:00", "11:30:00", freq="5min").append(
        pd.timedelta_range("13:05:00", "15:00:00", freq="5min"))
    times = [pd.Timestamp(day) + offset for day in ("2024-09-25", "2024-09-26", "2024-09-27") for offset in offsets]
    times = times[:-24]
    rng = np.random.default_rng(0)
    close = 10 * np.cumprod(1 + 0.002 * rng.standard_normal(len(times)))
    open_ = np.r_[close[0], close[:-1]]
    frame = pd.DataFrame({"timestamps": times, "amount": close * 1e5, "volume": 1e4 + rng.integers(0, 500, len(times)),
                          "close": close, "low": np.minimum(open_, close) * 0.999, "open": open_,
                          "high": np.maximum(open_, close) * 1.001})  # columns deliberately out of order
    path = tmp_path_factory.mktemp("bars") / "XSHG_5min_test.csv"
    frame.to_csv(path, index=False)
    return path


def test_forecast_writes_official_columns_on_exchange_sessions_with_consistent_ohlc(checkpoints, five_minute_csv,
                                                                                    tmp_path, capsys):
    out, plot = tmp_path / "forecast.csv", tmp_path / "forecast.png"
    code = main(["forecast", "--csv", str(five_minute_csv), "--tokenizer", checkpoints[0], "--predictor",
                 checkpoints[1], "--lookback", "64", "--pred-len", "30", "--sample-count", "4", "--exchange", "XSHG",
                 "--device", "cpu", "--out", str(out), "--plot", str(plot)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "OHLC violations in the raw forecast" in printed
    table = pd.read_csv(out, header=[0, 1], index_col=0, parse_dates=True)
    assert list(dict.fromkeys(table.columns.get_level_values(0))) == list(FEATURE_COLUMNS)
    times = pd.DatetimeIndex(table.index)
    assert times[0] == pd.Timestamp("2024-09-27 13:05") and times[23] == pd.Timestamp("2024-09-27 15:00")
    assert times[24] == pd.Timestamp("2024-09-30 09:35")  # next session; nothing in the lunch break or at night
    mean = table.xs("mean", axis=1, level=1)[list(FEATURE_COLUMNS)].to_numpy()
    assert not ohlc_violations(mean).any()
    assert plot.stat().st_size > 10_000


def test_repair_bounds_each_path_and_is_measured():
    rng = np.random.default_rng(1)
    paths = (10 + rng.standard_normal((2, 5, 7, 6))).astype(np.float32)  # independent fields: mostly inconsistent
    raw = ForecastResult(paths=paths, timestamps=[pd.RangeIndex(7)] * 2, last_close=np.full(2, 10.0))
    rates = raw.ohlc_violation_rate()
    high_low_wrong = (paths[..., 1] < paths[..., [0, 2, 3]].max(-1)) | (paths[..., 2] > paths[..., [0, 1, 3]].min(-1))
    expected = np.mean(high_low_wrong)
    assert rates["paths"] == pytest.approx(expected) and rates["paths"] > 0.5 and rates["mean"] > 0
    repaired = raw.repair_ohlc()
    assert repaired.ohlc_violation_rate() == {"paths": 0.0, "mean": 0.0}
    np.testing.assert_array_equal(repaired.paths[..., [0, 3, 4, 5]], paths[..., [0, 3, 4, 5]])
    np.testing.assert_array_equal(repaired.paths[..., 1], paths[..., :4].max(-1))
    np.testing.assert_array_equal(raw.paths, paths)  # the raw result is left as it was
    q = repaired.quantiles((0.1, 0.9))[0]
    assert (q[("high", 0.1)] >= q[("close", 0.1)]).all() and (q[("low", 0.9)] <= q[("open", 0.9)]).all()


@pytest.mark.parametrize("flag", ["--lookback", "--pred-len", "--sample-count"])
def test_non_positive_sizes_are_rejected(flag, five_minute_csv, capsys):
    assert main(["forecast", "--csv", str(five_minute_csv), "--tokenizer", "x", "--predictor", "y", flag, "0"]) != 0
    assert f"{flag} must be >= 1" in capsys.readouterr().err
