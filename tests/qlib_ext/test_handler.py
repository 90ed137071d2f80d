"""KronosHandler and KronosDataset on the tiny synthetic market (qlib, CPU, a few seconds)."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

from kronos_quant.data import qlib_bin

SEGMENTS = {"train": ("2020-01-02", "2021-06-30"), "valid": ("2021-07-01", "2021-12-31"),
            "test": ("2022-01-01", "2022-06-30")}
HANDLER = {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
           "kwargs": {"instruments": "csi300", "start_time": "2020-01-02", "end_time": "2022-06-30"}}


def _dataset(lookback=20, horizon=5):
    from kronos_quant.qlib_ext.dataset import KronosDataset

    return KronosDataset(handler=HANDLER, segments=SEGMENTS, lookback=lookback, horizon=horizon)


@pytest.fixture(scope="module")
def dataset(tiny_market, init_qlib):
    init_qlib(tiny_market)
    return _dataset()


def test_handler_columns_and_label(dataset):
    from qlib.data import D

    frame = dataset.handler.fetch(col_set=["feature", "label"], data_key="raw")
    assert list(frame.columns.get_level_values(1)) == ["open", "high", "low", "close", "volume", "amount", "LABEL0"]
    code = frame.index.get_level_values("instrument")[0]
    close = D.features([code], ["$close"], "2020-01-02", "2022-06-30")["$close"].droplevel(0)
    expected = (close.shift(-2) / close.shift(-1) - 1).rename("LABEL0")
    got = frame.xs(code, level="instrument")[("label", "LABEL0")]
    pd.testing.assert_series_equal(got, expected.loc[got.index], check_names=False, rtol=1e-5)


def test_inference_windows_match_direct_lookup(dataset):
    from qlib.data import D

    windows = dataset.prepare("test")
    assert windows.index.get_level_values("datetime").min() >= pd.Timestamp("2022-01-01")
    assert windows.y is None and windows.label.shape == (len(windows),)
    for row in (0, len(windows) // 2):
        t, code = windows.index[row]
        bars = D.features([code], ["$open", "$high", "$low", "$close", "$volume", "$amount"],
                          "2020-01-02", t).droplevel(0).dropna()
        np.testing.assert_allclose(windows.x[row], bars.to_numpy()[-20:], rtol=1e-6)


def test_train_windows_stay_inside_segment(dataset):
    windows = dataset.prepare("train", mode="train")
    assert windows.y.shape == (len(windows), 5, 6)
    from qlib.data import D

    calendar = D.calendar(end_time=SEGMENTS["train"][1])
    latest = windows.index.get_level_values("datetime").max()
    assert latest <= calendar[-1 - 5]  # the 5 target bars must end inside the segment


def test_col_set_behaves_like_dataseth_and_pickles(dataset):
    from qlib.data.dataset.handler import DataHandlerLP

    label = dataset.prepare("test", col_set="label", data_key=DataHandlerLP.DK_R)
    assert list(label.columns) == ["LABEL0"] and len(label) > 100
    restored = pickle.loads(pickle.dumps(dataset))
    assert (restored.lookback, restored.horizon) == (20, 5)


def test_inputs_for_t_ignore_later_bars(tiny_market, tmp_path, init_qlib):
    t = pd.Timestamp("2022-03-01")
    copy = tmp_path / "perturbed"
    shutil.copytree(tiny_market, copy)
    calendar = qlib_bin.read_calendar(copy)
    cut = calendar.searchsorted(t, side="right")
    for file in (copy / "features").glob("*/*.day.bin"):
        raw = np.fromfile(file, dtype="<f4")
        first = cut - int(raw[0]) + 1  # file position of the first bar after t
        if first < len(raw):
            raw[max(first, 1):] *= 1.37
            raw.tofile(file)
    before, after = [], []
    for provider, out in ((tiny_market, before), (copy, after)):
        init_qlib(provider)
        windows = _dataset().prepare("test")
        out.append(windows)
    mask_b = before[0].index.get_level_values("datetime") <= t
    mask_a = after[0].index.get_level_values("datetime") <= t
    assert before[0].index[mask_b].equals(after[0].index[mask_a]) and mask_b.sum() > 100
    for name in ("x", "x_stamp", "y_stamp"):
        np.testing.assert_array_equal(getattr(before[0], name)[mask_b], getattr(after[0], name)[mask_a])
    init_qlib(tiny_market)


def test_amount_is_derived_when_missing(tiny_market, tmp_path, init_qlib):
    copy = tmp_path / "no_amount"
    shutil.copytree(tiny_market, copy)
    for file in (copy / "features").glob("*/amount.day.bin"):
        file.unlink()
    init_qlib(copy)
    windows = _dataset().prepare("valid")
    expected = windows.x[..., 4] * windows.x[..., :4].mean(axis=-1)
    np.testing.assert_allclose(windows.x[..., 5], expected, rtol=1e-4)
    init_qlib(tiny_market)


@pytest.mark.parametrize("kwargs, match", [
    ({"instruments": "csi999"}, "unknown universe"),
    ({"instruments": ["SH999999"]}, "instruments without data"),
    ({"freq": "1min"}, "only freq='day'"),
    ({"start_time": "2030-01-01", "end_time": "2030-06-30"}, "no data"),
    ({"label_horizon": 0}, "label_horizon"),
])
def test_handler_errors(dataset, kwargs, match):
    from kronos_quant.qlib_ext.handler import KronosHandler

    args = dict(HANDLER["kwargs"], **kwargs)
    with pytest.raises(ValueError, match=match):
        KronosHandler(**args)


def test_dataset_errors(dataset):
    with pytest.raises(ValueError, match="unknown segment"):
        dataset.prepare("holdout")
    with pytest.raises(ValueError, match="mode"):
        dataset.prepare("test", mode="predict")
    from kronos_quant.qlib_ext.dataset import KronosDataset

    short = KronosDataset(handler=dataset.handler, segments={"tiny": ("2020-01-02", "2020-01-10")}, lookback=20)
    with pytest.raises(ValueError, match="yields no windows"):
        short.prepare("tiny")


def test_uninitialised_provider_error(tmp_path, init_qlib, tiny_market):
    import qlib

    from kronos_quant.qlib_ext.handler import provider_dir

    qlib.init(provider_uri=str(tmp_path), region="cn", kernels=1)
    with pytest.raises(ValueError, match="has no calendars"):
        provider_dir()
    init_qlib(tiny_market)
