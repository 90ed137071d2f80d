"""Turn a user's DataFrame and timestamps into one model-ready series, or say what is wrong."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from kronos_quant.normalization import FEATURE_COLUMNS, PRICE_COLUMNS, fill_volume_amount
from kronos_quant.time_features import time_features
from kronos_quant.validation import MIN_LOOKBACK, BarValidationError, check_bar_frame, raise_for_issues


@dataclass(frozen=True)
class PreparedSeries:
    bars: np.ndarray  # float64 (T, 6) raw lookback bars (price units; volume, amount filled)
    x_stamp: np.ndarray  # int64 (T, 5) time features of the lookback
    y_stamp: np.ndarray  # int64 (H, 5) time features of the forecast bars
    y_index: pd.DatetimeIndex  # forecast bar times


def _timestamps(values, name: str) -> pd.DatetimeIndex:
    """A DatetimeIndex of the user's timestamps, time zone kept (features use the local wall clock)."""
    if isinstance(values, pd.DataFrame):
        raise TypeError(f"{name} must be a 1-D sequence of timestamps (e.g. df['timestamps']), not a DataFrame")
    raw = values if isinstance(values, (pd.Series, pd.Index)) else pd.Series(np.asarray(values))
    if pd.api.types.is_numeric_dtype(raw.dtype) or pd.api.types.is_bool_dtype(raw.dtype):
        raise TypeError(f"{name} holds numbers ({raw.dtype}), not timestamps; pass datetimes, e.g. "
                        "pd.to_datetime(df['timestamps']) (epoch numbers: pd.to_datetime(values, unit='s'))")
    try:
        index = pd.DatetimeIndex(pd.to_datetime(raw))
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} could not be parsed as timestamps: {err}") from None
    if index.hasnans:
        raise ValueError(f"{name} contains missing timestamps (NaT); drop or fill those rows first")
    if index.has_duplicates:
        duplicated = index[index.duplicated()].unique()[:3].tolist()
        raise ValueError(f"{name} has duplicated timestamps, e.g. {duplicated}; drop duplicate bars first")
    if not index.is_monotonic_increasing:
        raise ValueError(f"{name} is not sorted in increasing time; sort the frame by time first")
    return index


def _bars(df: pd.DataFrame) -> np.ndarray:
    """(T, 6) float64 bars after the shared finance checks (kronos_quant.validation) and Kronos' fallbacks."""
    if not isinstance(df, pd.DataFrame):
        raise TypeError(f"df must be a pandas DataFrame with columns {list(FEATURE_COLUMNS)}, "
                        f"got {type(df).__name__}")
    if len(df) == 0:
        raise ValueError("df is empty: pass at least one bar of history")
    missing = [column for column in PRICE_COLUMNS if column not in df.columns]
    if missing:
        raise ValueError(f"df lacks price columns {missing}; it needs open, high, low, close "
                         "(volume and amount are optional)")
    raise_for_issues(check_bar_frame(df, allow_missing=False, min_bars=MIN_LOOKBACK), source="df")
    has_volume, has_amount = "volume" in df.columns, "amount" in df.columns
    raw = np.zeros((len(df), len(FEATURE_COLUMNS)))
    for j, column in enumerate(FEATURE_COLUMNS):
        if column in df.columns:
            raw[:, j] = df[column].to_numpy(dtype=np.float64)
    return fill_volume_amount(raw, has_volume=has_volume, has_amount=has_amount)


def prepare_series(df: pd.DataFrame, x_timestamp, y_timestamp, pred_len: int) -> PreparedSeries:
    """Validate one series; its bars stay raw (:func:`~kronos_quant.inference.forecast.forecast_windows`
    normalises each window over its whole lookback, as the official predictor does).
    """
    bars = _bars(df)
    x_index = _timestamps(x_timestamp, "x_timestamp")
    y_index = _timestamps(y_timestamp, "y_timestamp")
    if len(x_index) != len(bars):
        raise ValueError(f"x_timestamp has {len(x_index)} entries but df has {len(bars)} rows; "
                         "pass one timestamp per bar")
    if len(y_index) != pred_len:
        raise ValueError(f"y_timestamp has {len(y_index)} entries but pred_len={pred_len}; "
                         "pass one timestamp per forecast bar")
    if (x_index.tz is None) != (y_index.tz is None):
        raise ValueError(f"x_timestamp is {_zone(x_index)} but y_timestamp is {_zone(y_index)}; "
                         "give both a time zone or neither")
    if x_index.tz is not None and str(x_index.tz) != str(y_index.tz):
        raise ValueError(f"x_timestamp is {_zone(x_index)} but y_timestamp is {_zone(y_index)}; time features "
                         f"use the local clock, so convert one: y_timestamp.dt.tz_convert('{x_index.tz}')")
    if y_index[0] <= x_index[-1]:
        raise ValueError(f"y_timestamp starts at {y_index[0]}, not after the last bar {x_index[-1]}")
    return PreparedSeries(bars, time_features(x_index), time_features(y_index), y_index)


def _zone(index: pd.DatetimeIndex) -> str:
    return f"in time zone {index.tz}" if index.tz is not None else "time-zone naive"


def prepare_many(df_list, x_timestamp_list, y_timestamp_list, pred_len: int, *,
                 series_keys=None) -> list[PreparedSeries]:
    """:func:`prepare_series` for each series; an error names the failing series (position and key)."""
    prepared = []
    for position, (df, x_timestamp, y_timestamp) in enumerate(zip(df_list, x_timestamp_list, y_timestamp_list)):
        try:
            prepared.append(prepare_series(df, x_timestamp, y_timestamp, pred_len))
        except (TypeError, ValueError) as err:
            key = f" (key {series_keys[position]!r})" if series_keys is not None and position < len(series_keys) else ""
            name = f"series {position}{key} of {len(df_list)}" if len(df_list) > 1 else "the series"
            if isinstance(err, BarValidationError):
                raise BarValidationError(f"{name}: {err}", err.issues) from None
            raise (TypeError if isinstance(err, TypeError) else ValueError)(f"{name}: {err}") from None
    return prepared
