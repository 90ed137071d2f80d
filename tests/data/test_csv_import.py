"""CSV import: round trip through qlib and the error paths."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.data import qlib_bin
from kronos_quant.data.csv_import import import_csv_dir, read_instrument_csv


def _bars(n_days=30, seed=0, start="2021-03-01"):
    rng = np.random.default_rng(seed)
    close = 10 * np.cumprod(1 + 0.02 * rng.standard_normal(n_days))
    open_ = close * (1 + 0.005 * rng.standard_normal(n_days))
    return pd.DataFrame({"date": pd.bdate_range(start, periods=n_days).strftime("%Y-%m-%d"),
                         "open": open_, "high": np.maximum(open_, close) * 1.01,
                         "low": np.minimum(open_, close) * 0.99, "close": close,
                         "volume": rng.integers(1_000, 9_000, n_days).astype(float)})


@pytest.fixture()
def csv_dir(tmp_path):
    src = tmp_path / "csv"
    src.mkdir()
    _bars(30, 0).to_csv(src / "SH600000.csv", index=False)
    _bars(20, 1, start="2021-03-15").assign(factor=2.0).to_csv(src / "sz000001.csv", index=False)
    pd.DataFrame({"instrument": ["SH600000", "SZ000001", "SH600000"],
                  "start": ["2021-03-01", "2021-03-15", "2021-04-01"],
                  "end": ["2021-03-20", "2021-04-09", "2021-04-09"]}).to_csv(tmp_path / "spans.csv", index=False)
    return src


def test_round_trip_through_qlib(csv_dir, tmp_path, init_qlib):
    out = import_csv_dir(csv_dir, tmp_path / "provider", universe_file=tmp_path / "spans.csv",
                         universe_name="mine")
    assert (out / "calendars" / "day_future.txt").exists()
    assert (out / "features" / "sz000001" / "factor.day.bin").exists()
    assert qlib_bin.read_instruments(out, "mine")["instrument"].tolist().count("SH600000") == 2
    from qlib.data import D

    init_qlib(out)
    loaded = D.features(["SH600000", "SZ000001"], ["$close", "$factor", "$change"],
                        start_time="2021-03-01", end_time="2021-04-30")
    source = _bars(30, 0)
    first = loaded.loc["SH600000"]
    np.testing.assert_allclose(first["$close"].to_numpy(), source["close"].to_numpy(), rtol=1e-6)
    assert (first["$factor"] == 1).all()
    np.testing.assert_allclose(first["$change"].iloc[1:], source["close"].pct_change().iloc[1:], rtol=1e-4)
    assert (loaded.loc["SZ000001", "$factor"] == 2).all()
    assert sorted(D.list_instruments(D.instruments("mine"), as_list=True)) == ["SH600000", "SZ000001"]


@pytest.mark.parametrize("mutate, match", [
    (lambda f: f.drop(columns="volume"), "missing columns"),
    (lambda f: f.rename(columns={"date": "day"}), "no date column"),
    (lambda f: f.assign(date=["2021-13-45"] + list(f["date"][1:])), "unparsable dates"),
    (lambda f: pd.concat([f, f.iloc[:1]]), "duplicated dates"),
    (lambda f: f.assign(close=["x"] + list(f["close"][1:])), "non-numeric"),
    (lambda f: f.assign(change=f["close"].pct_change() * 100), "percent"),
])
def test_bad_csv_raises(tmp_path, mutate, match):
    path = tmp_path / "SH600000.csv"
    mutate(_bars()).to_csv(path, index=False)
    with pytest.raises(ValueError, match=match):
        read_instrument_csv(path)


def test_bad_directory_and_freq(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        import_csv_dir(tmp_path / "nope", tmp_path / "out")
    with pytest.raises(ValueError, match="no <INSTRUMENT>.csv"):
        import_csv_dir(tmp_path, tmp_path / "out")
    with pytest.raises(ValueError, match="freq='day'"):
        import_csv_dir(tmp_path, tmp_path / "out", freq="1min")


@pytest.mark.parametrize("kwargs, expected", [
    (dict(), ["2024-09-30", "2024-10-08", "2024-10-09"]),  # XSHG: National Day week skipped
    (dict(exchange=None), ["2024-09-30", "2024-10-01", "2024-10-02"]),  # plain business days
    (dict(future_calendar=["2024-10-09", "2024-09-30", "2024-10-10"]), ["2024-09-30", "2024-10-09", "2024-10-10"]),
])
def test_day_future_follows_the_exchange_or_the_given_calendar(tmp_path, kwargs, expected):
    src = tmp_path / "csv"
    src.mkdir()
    _bars(10, 0, start="2024-09-16").to_csv(src / "SH600000.csv", index=False)  # ends Friday 2024-09-27
    out = import_csv_dir(src, tmp_path / "provider", future_days=3, **kwargs)
    days = qlib_bin.read_calendar(out)
    future = (out / "calendars" / "day_future.txt").read_text().split()
    assert future[:len(days)] == list(days.strftime("%Y-%m-%d"))
    assert future[len(days):] == expected
