"""`kronos-quant forecast` on a newcomer's inputs: the file is named, volume's role is stated, the band has paths,
the bar frequency of the checkpoint is checked, the holdout MAE has a naive baseline beside it."""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from kronos_quant.cli import build_parser, main


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """(tokenizer_dir, predictor_dir): tiny random-weight checkpoints, no bar-frequency record (like older runs)."""
    import torch
    from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

    from kronos_quant.model import Kronos, KronosTokenizer

    root = tmp_path_factory.mktemp("forecast_inputs_ckpt")
    torch.manual_seed(0)
    return (KronosTokenizer(tiny_tokenizer_config()).save_pretrained(root / "tok"),
            Kronos(tiny_predictor_config()).save_pretrained(root / "pred"))


def _bars(times) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    close = 10 * np.cumprod(1 + 0.01 * rng.standard_normal(len(times)))
    open_ = np.r_[close[0], close[:-1]]
    return pd.DataFrame({"timestamps": times, "open": open_, "high": np.maximum(open_, close) * 1.002,
                         "low": np.minimum(open_, close) * 0.998, "close": close,
                         "volume": 1e4 + rng.integers(0, 500, len(times)), "amount": close * 1e5})


@pytest.fixture(scope="module")
def daily_csv(tmp_path_factory):
    path = tmp_path_factory.mktemp("daily") / "daily_bars.csv"
    _bars(pd.bdate_range("2023-01-02", periods=90)).to_csv(path, index=False)
    return path


def _five_minute_times(days: int) -> list[pd.Timestamp]:
    offsets = pd.timedelta_range("09:35:00", "11:30:00", freq="5min").append(
        pd.timedelta_range("13:05:00", "15:00:00", freq="5min"))
    return [day + offset for day in pd.bdate_range("2024-09-23", periods=days) for offset in offsets]


def _forecast(csv, checkpoints, *extra) -> list[str]:
    return ["forecast", "--csv", str(csv), "--tokenizer", str(checkpoints[0]), "--predictor", str(checkpoints[1]),
            "--lookback", "48", "--pred-len", "6", "--device", "cpu", *extra]


def test_missing_close_names_the_file(daily_csv, tmp_path, capsys):
    path = tmp_path / "no_close.csv"
    pd.read_csv(daily_csv).drop(columns="close").to_csv(path, index=False)
    assert main(["forecast", "--csv", str(path), "--tokenizer", "x", "--predictor", "y"]) == 1
    err = capsys.readouterr().err
    assert str(path) in err and "missing price columns ['close']" in err


def test_missing_volume_is_filled_with_zero_and_said(daily_csv, checkpoints, tmp_path, capsys, caplog):
    path = tmp_path / "no_volume.csv"
    pd.read_csv(daily_csv).drop(columns=["volume", "amount"]).to_csv(path, index=False)
    out = tmp_path / "forecast.csv"
    with caplog.at_level(logging.WARNING, logger="kronos_quant.cli.forecast"):
        assert main(_forecast(path, checkpoints, "--sample-count", "2", "--out", str(out))) == 0
    assert any("no volume column" in r.message and "set to 0" in r.message for r in caplog.records)
    table = pd.read_csv(out, header=[0, 1], index_col=0)
    assert np.isfinite(table[("close", "mean")]).all() and len(table) == 6


def test_import_csv_says_why_it_requires_volume(tmp_path):
    from kronos_quant.data.csv_import import read_instrument_csv

    path = tmp_path / "SH600000.csv"
    pd.DataFrame({"date": ["2024-01-02"], "open": [1.0], "high": [1.1], "low": [0.9], "close": [1.0]}).to_csv(
        path, index=False)
    with pytest.raises(ValueError, match="missing columns \\['volume'\\].*volume marks suspended days.*forecast"):
        read_instrument_csv(path)


def test_default_sample_count_gives_a_band(daily_csv, checkpoints, tmp_path, caplog):
    from kronos_quant.cli.forecast import DEFAULT_SAMPLE_COUNT, MIN_BAND_PATHS

    args = build_parser().parse_args(["forecast", "--csv", "x", "--tokenizer", "t", "--predictor", "p"])
    assert args.sample_count == DEFAULT_SAMPLE_COUNT >= 2 * MIN_BAND_PATHS
    out = tmp_path / "forecast.csv"
    with caplog.at_level(logging.WARNING, logger="kronos_quant.cli.forecast"):
        assert main(_forecast(daily_csv, checkpoints, "--out", str(out))) == 0
    assert not any("--sample-count" in r.message for r in caplog.records)
    table = pd.read_csv(out, header=[0, 1], index_col=0)
    low, high = table[("close", "0.1")].to_numpy(), table[("close", "0.9")].to_numpy()
    assert (high > low).all()  # one path (the old default) gives high == low on every bar


def test_one_path_warns_that_the_band_is_empty(daily_csv, checkpoints, caplog):
    with caplog.at_level(logging.WARNING, logger="kronos_quant.cli.forecast"):
        assert main(_forecast(daily_csv, checkpoints, "--sample-count", "1")) == 0
    assert any("all quantiles are the one path" in r.message for r in caplog.records)


def test_bar_frequency_mismatch_warns(checkpoints, tmp_path, caplog):
    import shutil

    from kronos_quant.cli.forecast import warn_on_bar_freq_mismatch
    from kronos_quant.model import Kronos
    from kronos_quant.model.checkpoint import TRAINED_ON_NAME, read_bar_freq, write_bar_freq

    daily = shutil.copytree(checkpoints[1], tmp_path / "daily_pred")
    write_bar_freq(daily, "1D")
    assert read_bar_freq(daily) == "1D" and read_bar_freq(checkpoints[1]) is None  # old folders: no record
    Kronos.from_pretrained(daily)  # the sidecar does not disturb loading
    minutes = pd.Series(_five_minute_times(3))
    days = pd.Series(pd.bdate_range("2024-01-01", periods=40))
    with caplog.at_level(logging.WARNING, logger="kronos_quant.cli.forecast"):
        warned = warn_on_bar_freq_mismatch(minutes, {"predictor": str(daily)})
    assert len(warned) == 1 and "trained on 1D bars but the CSV's bars are 5min apart" in warned[0]
    assert warned[0] in caplog.text
    assert warn_on_bar_freq_mismatch(days, {"predictor": str(daily)}) == []
    assert warn_on_bar_freq_mismatch(minutes, {"predictor": str(checkpoints[1])}) == []  # nothing recorded
    assert warn_on_bar_freq_mismatch(minutes, {"predictor": "NeoQuasar/Kronos-small"}) == []  # hub id: no record
    (daily / TRAINED_ON_NAME).write_text("{not json")
    assert read_bar_freq(daily) is None  # a damaged sidecar is ignored with a warning, the folder still loads


def test_holdout_prints_a_naive_baseline(daily_csv, checkpoints, capsys):
    from kronos_quant.cli.forecast import holdout_errors

    history = pd.DataFrame({"close": [10.0, 11.0]})
    actual = pd.DataFrame({"close": [12.0, 9.0, 13.0]})
    errors = holdout_errors(history, actual, pd.Series([11.5, 11.5, 12.0]))
    assert errors["mae"] == pytest.approx((0.5 + 2.5 + 1.0) / 3)
    assert errors["naive_mae"] == pytest.approx((1.0 + 2.0 + 2.0) / 3) and errors["direction_right"]
    assert main(_forecast(daily_csv, checkpoints, "--holdout", "--sample-count", "2")) == 0
    printed = capsys.readouterr().out
    bars = pd.read_csv(daily_csv)
    naive = float(np.abs(bars["close"].iloc[-7] - bars["close"].iloc[-6:]).mean())
    assert f"naive last-close baseline {naive:.4f}" in printed


def test_readme_offline_forecast_command_runs(daily_csv, checkpoints, tmp_path, monkeypatch, capsys):
    """The README's command for the demo's checkpoints, verbatim, on folders laid out as the demo leaves them."""
    import re
    import shlex
    import shutil
    from pathlib import Path

    from kronos_quant.model.checkpoint import write_bar_freq

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    block = re.search(r"```bash\n(kronos-quant forecast --csv bars\.csv --tokenizer outputs/demo_model.*?)```",
                      readme, flags=re.S).group(1)
    command = shlex.split(block.replace("\\\n", " "))
    for network, source in zip(("tokenizer", "predictor"), checkpoints):
        write_bar_freq(shutil.copytree(source, tmp_path / "outputs" / "demo_model" / network / "best"), "1D")
    shutil.copy(daily_csv, tmp_path / "bars.csv")
    monkeypatch.chdir(tmp_path)
    assert main(command[1:]) == 0
    assert "naive last-close baseline" in capsys.readouterr().out
