"""Data checks: the real CSI300 provider passes with warnings; corrupted copies are caught."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from kronos_quant.cli import main
from kronos_quant.data import qlib_bin
from kronos_quant.data.checks import check_provider


@pytest.fixture()
def corrupted(tiny_market, tmp_path):
    copy = tmp_path / "provider"
    shutil.copytree(tiny_market, copy)
    return copy


def test_tiny_market_is_clean(tiny_market):
    report = check_provider(tiny_market)
    assert report.ok and not report.codes("warning"), report.format()


@pytest.mark.shared
def test_shared_csi300_passes_with_warnings(csi300_provider):
    report = check_provider(csi300_provider)
    assert report.ok, report.format()
    assert {"missing_amount", "no_day_future", "ohlc_inconsistent"} <= report.codes("warning")
    assert "zero_volume_bars" in report.codes("info")  # its suspensions carry prices forward


def _uppercase_folder(path):
    folder = next((path / "features").iterdir())
    folder.rename(folder.with_name(folder.name.upper()))


def _percent_change(path):
    for file in (path / "features").glob("*/change.day.bin"):
        raw = np.fromfile(file, dtype="<f4")
        raw[1:] *= 100
        raw.tofile(file)


def _broken_last_bar(path):
    for file in (path / "features").glob("*/close.day.bin"):
        raw = np.fromfile(file, dtype="<f4")
        raw[-1] = np.nan
        raw.tofile(file)


def _calendar_hole(path):
    calendar = qlib_bin.read_calendar(path)
    qlib_bin.write_calendar(path, calendar.delete(slice(100, 130)))


@pytest.mark.parametrize("corrupt, code, severity, ok", [
    (_uppercase_folder, "uppercase_feature_dirs", "fatal", False),
    (_percent_change, "change_in_percent", "fatal", False),
    (_broken_last_bar, "broken_last_bar", "fatal", False),
    (lambda p: [f.unlink() for f in (p / "features").glob("*/factor.day.bin")], "missing_factor", "warning", True),
    (lambda p: [f.unlink() for f in (p / "features").glob("*/amount.day.bin")], "missing_amount", "warning", True),
    (lambda p: (p / "calendars" / "day_future.txt").unlink(), "no_day_future", "warning", True),
    (_calendar_hole, "calendar_holes", "warning", False),  # the dropped days are also a fatal:
    (_calendar_hole, "data_beyond_calendar", "fatal", False),  # features no longer fit the calendar
])
def test_corruption_is_reported(corrupted, corrupt, code, severity, ok):
    corrupt(corrupted)
    report = check_provider(corrupted)
    assert code in report.codes(severity), report.format()
    assert report.ok == ok


def test_cli_exit_codes(tiny_market, corrupted, tmp_path, capsys):
    assert main(["data", "check", str(tiny_market)]) == 0
    _percent_change(corrupted)
    assert main(["data", "check", str(corrupted)]) == 1
    assert "change_in_percent" in capsys.readouterr().out
    assert main(["data", "check", str(tmp_path / "missing")]) == 1
