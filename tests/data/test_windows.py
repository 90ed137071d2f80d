"""Windows: contents by direct lookup, the suspended-bar policy, no look-ahead, bad input."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from kronos_quant.data.windows import build_windows, normalize_windows, panel_from_frame
from kronos_quant.time_features import time_features

LOOKBACK, HORIZON = 8, 3


@pytest.fixture(scope="module")
def panel():
    rng = np.random.default_rng(0)
    calendar = pd.bdate_range("2021-01-04", periods=60, name="datetime")
    instruments = ["SH600000", "SH600001", "SZ000001"]
    close = 10 * np.cumprod(1 + 0.01 * rng.standard_normal((60, 3)), axis=0)
    values = np.stack([close * 0.99, close * 1.02, close * 0.97, close, rng.uniform(1e3, 1e4, (60, 3)),
                       np.full((60, 3), np.nan)], axis=-1)  # amount missing: derived
    values[20:25, 1] = np.nan  # SH600001 suspended for 5 days
    values[:30, 2] = np.nan  # SZ000001 lists on day 30
    return values, calendar, instruments


def test_shapes_dtypes_and_sorted_index(panel):
    values, calendar, instruments = panel
    windows = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON)
    n = len(windows)
    assert windows.x.shape == (n, LOOKBACK, 6) and windows.x.dtype == np.float32
    assert windows.x_stamp.shape == (n, LOOKBACK, 5) and windows.x_stamp.dtype == np.int64
    assert windows.y_stamp.shape == (n, HORIZON, 5) and windows.y is None
    assert windows.index.is_monotonic_increasing and windows.index.names == ["datetime", "instrument"]
    # per instrument: traded days from its lookback-th traded bar to the last day with 3 future days
    expected = (60 - HORIZON - LOOKBACK + 1) + (60 - 5 - HORIZON - LOOKBACK + 1) + (30 - HORIZON - LOOKBACK + 1)
    assert n == expected


def test_window_is_last_traded_bars(panel):
    values, calendar, instruments = panel
    windows = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON)
    t = calendar[27]  # SH600001 was suspended on days 20-24: its lookback skips them
    row = windows.index.get_loc((t, "SH600001"))
    days = [14, 15, 16, 17, 18, 19, 25, 26, 27][-LOOKBACK:]
    expected = values[days, 1].copy()
    expected[:, 5] = expected[:, 4] * expected[:, :4].mean(axis=1)
    np.testing.assert_allclose(windows.x[row], expected.astype(np.float32))
    np.testing.assert_array_equal(windows.x_stamp[row], time_features(calendar[days]))
    np.testing.assert_array_equal(windows.y_stamp[row], time_features(calendar[28:31]))
    assert (t, "SH600001") in windows.index and (calendar[22], "SH600001") not in windows.index


def test_zero_volume_bars_count_as_suspended(panel):
    """Qlib's CN data marks suspensions as volume-0 bars with the last prices carried forward."""
    values, calendar, instruments = panel
    carried = values.copy()
    carried[20:25, 1, :4] = carried[19, 1, :4]
    carried[20:25, 1, 4] = 0.0
    carried[20:25, 1, 5] = 0.0
    as_nan = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON)
    as_zero = build_windows(carried, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON)
    assert as_zero.index.equals(as_nan.index)  # no window decided on a suspended day
    np.testing.assert_array_equal(as_zero.x, as_nan.x)  # and none of them in any lookback


def test_amount_is_derived_per_bar(panel):
    values, calendar, instruments = panel
    mixed = values.copy()
    mixed[..., 0, 5] = mixed[..., 0, 4] * mixed[..., 0, :4].mean(axis=-1) * 1.5  # SH600000 has real amounts
    mixed[40, 0, 5] = np.nan  # ...with one gap
    windows = build_windows(mixed, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON)
    everyone = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON)
    assert windows.index.equals(everyone.index)  # the instruments without amounts keep their windows
    row = windows.index.get_loc((calendar[40], "SH600000"))
    bar = mixed[40, 0]
    assert windows.x[row, -1, 5] == pytest.approx(bar[4] * bar[:4].mean(), rel=1e-6)  # the gap is derived


def test_training_windows_take_next_traded_bars(panel):
    values, calendar, instruments = panel
    windows = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON,
                            with_targets=True, target_end=calendar[49])
    row = windows.index.get_loc((calendar[18], "SH600001"))
    np.testing.assert_allclose(windows.y[row, :, :4], values[[19, 25, 26], 1, :4].astype(np.float32))
    np.testing.assert_array_equal(windows.y_stamp[row], time_features(calendar[[19, 25, 26]]))
    assert windows.index.get_level_values("datetime").max() == calendar[49 - HORIZON]


def test_inputs_do_not_depend_on_the_future(panel):
    values, calendar, instruments = panel
    t = calendar[40]
    before = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON, end=t)
    perturbed = values.copy()
    perturbed[41:] *= np.random.default_rng(1).uniform(0.5, 2.0, perturbed[41:].shape)
    perturbed[45, 0] = np.nan
    after = build_windows(perturbed, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON, end=t)
    assert before.index.equals(after.index)
    for name in ("x", "x_stamp", "y_stamp"):
        np.testing.assert_array_equal(getattr(before, name), getattr(after, name))


def test_future_calendar_extends_stamps(panel):
    values, calendar, instruments = panel
    future = calendar.append(pd.bdate_range(calendar[-1] + pd.Timedelta(days=1), periods=5))
    windows = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON,
                            start=calendar[-1], future_calendar=future)
    assert len(windows) == 3
    np.testing.assert_array_equal(windows.y_stamp[0], time_features(future[60:63]))


def test_normalize_uses_lookback_only(panel):
    values, calendar, instruments = panel
    windows = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON, with_targets=True)
    x_norm, y_norm, scale = normalize_windows(windows)
    assert x_norm.shape == windows.x.shape and y_norm.shape == windows.y.shape
    assert scale.mean.shape == (len(windows), 1, 6)
    np.testing.assert_allclose(x_norm.mean(axis=1)[:, :4], 0, atol=1e-4)


def test_panel_from_frame_round_trip(panel):
    values, calendar, instruments = panel
    index = pd.MultiIndex.from_product([calendar, instruments], names=["datetime", "instrument"])
    frame = pd.DataFrame(values.reshape(-1, 6), index=index,
                         columns=["open", "high", "low", "close", "volume", "amount"])
    back, dates, names = panel_from_frame(frame.sample(frac=1.0, random_state=0))
    np.testing.assert_array_equal(back, values)
    assert dates.equals(calendar) and list(names) == instruments


@pytest.mark.parametrize("kwargs, match", [
    (dict(values=np.zeros((60, 3, 5))), r"\(dates, instruments, 6\)"),
    (dict(instruments=["B", "A", "C"]), "sorted"),
    (dict(lookback=0), "lookback"),
    (dict(instruments=["A"]), "does not match"),
])
def test_bad_input(panel, kwargs, match):
    values, calendar, instruments = panel
    args = dict(values=values, calendar=calendar, instruments=instruments, lookback=LOOKBACK, horizon=HORIZON)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        build_windows(args.pop("values"), args.pop("calendar"), args.pop("instruments"), **args)
    with pytest.raises(ValueError, match="MultiIndex"):
        panel_from_frame(pd.DataFrame({"open": [1.0]}))
