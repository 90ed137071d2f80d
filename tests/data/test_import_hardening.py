"""import-csv at the boundary: strict dates, the shared bar rules, instrument codes from file names."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.cli import main
from kronos_quant.data import qlib_bin
from kronos_quant.data.csv_import import import_csv_dir, read_instrument_csv
from kronos_quant.data.dates import check_ordered_ranges, parse_date, parse_dates, parse_range
from kronos_quant.data.instrument_codes import check_instrument_code, codes_from_paths


def _bars(n_days=10, seed=0, date_format="%Y-%m-%d"):
    rng = np.random.default_rng(seed)
    close = 10 * np.cumprod(1 + 0.02 * rng.standard_normal(n_days))
    return pd.DataFrame({"date": pd.bdate_range("2021-03-01", periods=n_days).strftime(date_format),
                         "open": close, "high": close * 1.01, "low": close * 0.99, "close": close,
                         "volume": rng.integers(1_000, 9_000, n_days).astype(float)})


def test_day_first_dates_need_a_format(tmp_path):
    path = tmp_path / "SH600000.csv"
    _bars(date_format="%d/%m/%Y").to_csv(path, index=False)
    with pytest.raises(ValueError, match=r"SH600000.csv: unparsable dates in column 'date'.*'01/03/2021' at row 0.*"
                                         r"%d/%m/%Y"):
        read_instrument_csv(path)
    frame = read_instrument_csv(path, date_format="%d/%m/%Y")
    assert frame.index[0] == pd.Timestamp("2021-03-01") and frame.index[-1] == pd.Timestamp("2021-03-12")


def test_integer_trade_dates_are_read_as_dates(tmp_path):
    path = tmp_path / "SH600000.csv"
    _bars(date_format="%Y%m%d").rename(columns={"date": "trade_date"}).astype({"trade_date": int}).to_csv(
        path, index=False)
    assert read_instrument_csv(path).index[0] == pd.Timestamp("2021-03-01")


def test_cli_import_with_date_format(tmp_path):
    src = tmp_path / "csv"
    src.mkdir()
    _bars(date_format="%m/%d/%Y").to_csv(src / "SH600000.csv", index=False)
    assert main(["data", "import-csv", str(src), "--out", str(tmp_path / "p"), "--date-format", "%m/%d/%Y"]) == 0
    assert qlib_bin.read_calendar(tmp_path / "p")[0] == pd.Timestamp("2021-03-01")


@pytest.mark.parametrize("column, value, match", [
    ("close", 0.0, r"SH600000.csv has invalid bars:\n  column 'close': zero or negative prices, first at row 3 "
                   r"\(2021-03-04"),
    ("high", 1.0, r"column 'high': high below low, first at row 3 \(2021-03-04"),
    ("volume", -1.0, r"column 'volume': negative volume, first at row 3"),
])
def test_csv_bars_go_through_the_shared_rules(tmp_path, column, value, match):
    frame = _bars()
    frame.loc[3, column] = value
    frame.to_csv(tmp_path / "SH600000.csv", index=False)
    with pytest.raises(ValueError, match=match):
        read_instrument_csv(tmp_path / "SH600000.csv")


def test_suspended_rows_stay_allowed(tmp_path):
    frame = _bars()
    frame.loc[3, ["open", "high", "low", "close", "volume"]] = np.nan
    frame.to_csv(tmp_path / "SH600000.csv", index=False)
    assert read_instrument_csv(tmp_path / "SH600000.csv")["close"].isna().sum() == 1


def test_codes_differing_only_in_case_name_both_files(tmp_path):
    src = tmp_path / "csv"
    src.mkdir()
    _bars().to_csv(src / "SH600000.csv", index=False)
    _bars(seed=1).to_csv(src / "sh600000.csv", index=False)
    with pytest.raises(ValueError, match=r"SH600000.csv and sh600000.csv name the same instrument 'SH600000'"):
        import_csv_dir(src, tmp_path / "p")


@pytest.mark.parametrize("code", ["", " ", "..", "../etc", "a/b", "a\\b", ".hidden", "SH 600000"])
def test_unsafe_instrument_codes_are_refused(code):
    with pytest.raises(ValueError, match="instrument code"):
        check_instrument_code(code, source="x")


def test_valid_codes_pass(tmp_path):
    for code in ("SH600000", "000001.SZ", "BRK.B", "sh_600000"):
        assert check_instrument_code(code, source="x") == code
    assert list(codes_from_paths([tmp_path / "sz000001.csv"])) == ["SZ000001"]


def test_dates_are_compared_as_timestamps():
    assert parse_range(["2024-1-5", "2024-01-10"], name="test") == (pd.Timestamp("2024-01-05"),
                                                                   pd.Timestamp("2024-01-10"))
    with pytest.raises(ValueError, match=r"test: start 2024-02-01 is after end 2024-01-10; swap them"):
        parse_range(["2024-02-01", "2024-01-10"], name="test")
    with pytest.raises(ValueError, match=r"--start: '2024-13-01' is not a date"):
        parse_date("2024-13-01", name="--start")
    with pytest.raises(ValueError, match=r"data: train \[2020-01-01, 2021-06-30\] must end before valid"):
        check_ordered_ranges({"train": ("2020-01-01", "2021-06-30"), "valid": ("2021-6-1", "2021-12-31")},
                             owner="data")
    with pytest.raises(ValueError, match="row 1"):
        parse_dates(["2024-01-02", "yesterday"], source="calendar")
