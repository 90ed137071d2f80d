"""Qlib binary I/O: our reader/writer agree with each other and with qlib's own reader."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.data import qlib_bin
from kronos_quant.data.synth import BENCHMARK, generate_market


def test_feature_file_layout(tmp_path):
    qlib_bin.write_feature(tmp_path, "SH600000", "close", np.array([1.5, np.nan, 2.0]), start_index=3)
    raw = np.fromfile(tmp_path / "features" / "sh600000" / "close.day.bin", dtype="<f4")
    np.testing.assert_array_equal(raw, np.array([3.0, 1.5, np.nan, 2.0], dtype="<f4"))
    start, values = qlib_bin.read_feature(tmp_path, "sh600000", "close")
    assert start == 3 and values.dtype == np.float32 and len(values) == 3


def test_field_panel_on_part_of_the_calendar(tmp_path):
    days = pd.bdate_range("2020-01-01", periods=8)
    qlib_bin.write_calendar(tmp_path, days)
    qlib_bin.write_feature(tmp_path, "SH600000", "close", np.arange(1.0, 6.0), start_index=2)  # days 2..6
    part = qlib_bin.read_field_panel(tmp_path, "close", ["SH600000"], days[4:7])
    np.testing.assert_array_equal(part["SH600000"].to_numpy(), [3.0, 4.0, 5.0])
    assert part.index.equals(days[4:7])
    whole = qlib_bin.read_field_panel(tmp_path, "close", ["SH600000"])
    np.testing.assert_array_equal(whole["SH600000"].to_numpy()[2:7], np.arange(1.0, 6.0))
    with pytest.raises(ValueError, match="not in .*day.txt"):
        qlib_bin.read_field_panel(tmp_path, "close", ["SH600000"], pd.DatetimeIndex(["2020-01-04"]))


def test_instruments_uppercase_and_calendar_round_trip(tmp_path):
    spans = pd.DataFrame({"instrument": ["sh600000", "SZ000001"], "start": ["2020-01-02", "2020-01-03"],
                          "end": ["2020-02-03", "2020-03-02"]})
    path = qlib_bin.write_instruments(tmp_path, "CSI300", spans)
    assert path.name == "csi300.txt"
    assert path.read_text().splitlines()[0] == "SH600000\t2020-01-02\t2020-02-03"
    days = pd.bdate_range("2020-01-01", periods=5)
    qlib_bin.write_calendar(tmp_path, days)
    assert qlib_bin.read_calendar(tmp_path).equals(pd.DatetimeIndex(days, name="datetime"))
    with pytest.raises(ValueError, match="strictly increasing"):
        qlib_bin.write_calendar(tmp_path, days[::-1])
    with pytest.raises(ValueError, match="freq='day'"):
        qlib_bin.read_calendar(tmp_path, freq="1min")


def test_qlib_reads_what_we_generated(tiny_market, tiny_market_config, init_qlib):
    from qlib.data import D

    init_qlib(tiny_market)
    market = generate_market(tiny_market_config)
    loaded = D.features(D.instruments("csi300"), ["$close", "$factor", "$change", "$industry"],
                        start_time=market.calendar[0], end_time=market.calendar[-1])
    assert len(loaded) > 1000
    for field in ("close", "factor", "change"):
        wide = market.fields[field].astype(np.float32)  # rows outside membership spans are not loaded
        rows = wide.index.get_indexer(loaded.index.get_level_values("datetime"))
        cols = wide.columns.get_indexer(loaded.index.get_level_values("instrument"))
        np.testing.assert_array_equal(loaded[f"${field}"].to_numpy(np.float32), wide.to_numpy()[rows, cols])
    industry = loaded["$industry"].groupby("instrument").nunique()
    assert (industry == 1).all()
    future = D.calendar(future=True)
    assert future[-1] > market.calendar[-1]
    bench = D.features([BENCHMARK], ["$close"], start_time=market.calendar[0], end_time=market.calendar[-1])
    assert len(bench) == len(market.calendar) and bench["$close"].notna().all()
