"""Corrupt provider files: each loader names the file and the fix; `data check` reports them as fatal."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from kronos_quant.data import qlib_bin
from kronos_quant.data.checks import check_provider


@pytest.fixture()
def provider(tiny_market, tmp_path):
    copy = tmp_path / "provider"
    shutil.copytree(tiny_market, copy)
    return copy


def _first_close(path):
    return sorted((path / "features").glob("*/close.day.bin"))[0]


def _truncate(path):
    file = _first_close(path)
    file.write_bytes(file.read_bytes()[:-2])
    return file, "not a multiple of 4"


def _empty(path):
    file = _first_close(path)
    file.write_bytes(b"")
    return file, "is empty"


@pytest.mark.parametrize("start", [np.nan, np.inf, -3.0, 2.5])
def test_start_index_not_a_calendar_position(provider, start):
    file = _first_close(provider)
    raw = np.fromfile(file, dtype="<f4")
    raw[0] = start
    raw.tofile(file)
    with pytest.raises(ValueError, match=rf"{file.name}: start index .* is not a calendar position"):
        qlib_bin.read_feature(provider, file.parent.name, "close")
    assert "corrupt_feature_file" in check_provider(provider).codes("fatal")


@pytest.mark.parametrize("corrupt", [_truncate, _empty])
def test_bad_byte_count(provider, corrupt):
    file, match = corrupt(provider)
    with pytest.raises(ValueError, match=match) as err:
        qlib_bin.read_feature(provider, file.parent.name, "close")
    assert str(file) in str(err.value) and "re-import" in str(err.value)
    report = check_provider(provider)
    assert "corrupt_feature_file" in report.codes("fatal") and not report.ok


def test_start_index_outside_calendar(provider):
    file = _first_close(provider)
    raw = np.fromfile(file, dtype="<f4")
    raw[0] = 10_000
    raw.tofile(file)
    with pytest.raises(ValueError, match="lies outside calendars/day.txt"):
        qlib_bin.read_field_panel(provider, "close", [file.parent.name])
    assert "data_beyond_calendar" in check_provider(provider).codes("fatal")


def test_calendar_line_that_is_not_a_date(provider):
    path = provider / "calendars" / "day.txt"
    lines = path.read_text().splitlines()
    lines[4] = "2020-02-30"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"day.txt line 5: '2020-02-30' is not a date"):
        qlib_bin.read_calendar(provider)
    assert check_provider(provider).codes("fatal") == {"calendar_not_dates"}


def test_instrument_file_with_invalid_dates(provider):
    path = provider / "instruments" / "csi300.txt"
    lines = path.read_text().splitlines()
    lines[1] = lines[1].split("\t")[0] + "\tsoon\t2021-01-01"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ValueError, match=r"csi300.txt line 2: start date 'soon' is not a date"):
        qlib_bin.read_instruments(provider, "csi300")
    report = check_provider(provider)
    assert "invalid_instruments_file" in report.codes("fatal"), report.format()


def test_instrument_code_that_escapes_the_provider(provider):
    with pytest.raises(ValueError, match="not a valid instrument code"):
        qlib_bin.feature_path(provider, "../../etc", "close")
    path = provider / "instruments" / "all.txt"
    path.write_text(path.read_text() + "../x\t2020-01-02\t2020-02-03\n")
    assert "invalid_instruments_file" in check_provider(provider).codes("fatal")


def test_zero_price_and_high_below_low_are_fatal_in_data_check(provider):
    for field, value in (("close", 0.0), ("high", 0.01)):
        file = provider / "features" / _first_close(provider).parent.name / f"{field}.day.bin"
        raw = np.fromfile(file, dtype="<f4")
        raw[5] = value
        raw.tofile(file)
    report = check_provider(provider)
    assert {"non_positive_price", "high_below_low"} <= report.codes("fatal"), report.format()
    assert _first_close(provider).parent.name in report.format()
