"""The Qlib adapters compare dates as dates, say when a segment lies after the data, and run the bar rules."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from kronos_quant.data import qlib_bin


def test_segment_start_after_end_is_an_error():
    from kronos_quant.qlib_ext.dataset import check_segments

    with pytest.raises(ValueError, match=r"segments.test: start 2024-06-13 is after end 2023-07-01; swap them"):
        check_segments({"test": ("2024-06-13", "2023-07-01")})
    with pytest.raises(ValueError, match=r"segments: train \[2020-01-01, 2021-06-30\] must end before test"):
        check_segments({"train": ("2020-01-01", "2021-06-30"), "test": ("2021-6-1", "2021-12-31")})
    check_segments({"train": ("2020-01-01", "2020-12-31"), "valid": ("2021-1-4", "2021-06-30"),
                    "test": ("2021-07-01", "2021-12-31")})


def test_training_config_compares_dates_not_strings():
    from kronos_quant.training.config import DataConfig

    DataConfig(provider_uri="x", train=("2020-01-01", "2020-9-30"), valid=("2020-10-01", "2020-12-31"))
    with pytest.raises(ValueError, match=r"data: train \[2020-01-01, 2020-10-15\] must end before valid"):
        DataConfig(provider_uri="x", train=("2020-01-01", "2020-10-15"), valid=("2020-10-1", "2020-12-31"))
    with pytest.raises(ValueError, match=r"data.valid end: '2020-12-32' is not a date"):
        DataConfig(provider_uri="x", train=("2020-01-01", "2020-09-30"), valid=("2020-10-01", "2020-12-32"))


def test_test_segment_after_the_data_says_so(tiny_market, init_qlib):
    from kronos_quant.qlib_ext.dataset import KronosDataset

    init_qlib(tiny_market)
    with pytest.raises(ValueError, match=r"segment 'test' starts on 2023-01-02, after the end of the data "
                                         r"\(2022-06-30\)"):  # at construction: before any model trains on it
        KronosDataset(handler={"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
                               "kwargs": {"instruments": "csi300", "start_time": "2022-01-04",
                                          "end_time": "2022-06-30"}},
                      segments={"test": ("2023-01-02", "2023-03-31")}, lookback=10, horizon=2)


def test_handler_refuses_bars_that_break_the_rules(tiny_market, tmp_path, init_qlib):
    from kronos_quant.qlib_ext.handler import KronosHandler

    provider = tmp_path / "provider"
    shutil.copytree(tiny_market, provider)
    code = qlib_bin.read_instruments(provider, "csi300")["instrument"].iloc[0]
    file = qlib_bin.feature_path(provider, code, "low")
    raw = np.fromfile(file, dtype="<f4")
    raw[-3] = -1.0
    raw.tofile(file)
    init_qlib(provider)
    with pytest.raises(ValueError, match=r"column 'low': zero or negative prices, first at row .*" + code):
        KronosHandler(instruments="csi300", start_time="2022-01-04", end_time="2022-06-30")
    with pytest.raises(ValueError, match=r"KronosHandler start_time/end_time: start 2022-06-30 is after end"):
        KronosHandler(instruments="csi300", start_time="2022-06-30", end_time="2022-01-04")
