"""Calendar features that Kronos embeds: (minute, hour, weekday, day, month) per bar."""
from __future__ import annotations

import numpy as np
import pandas as pd

TIME_FEATURE_NAMES = ("minute", "hour", "weekday", "day", "month")


def time_features(timestamps) -> np.ndarray:
    """Integer time features of each timestamp.

    Args:
        timestamps: anything ``pd.DatetimeIndex`` accepts (Series, list, array), length T.

    Returns:
        int64 array (T, 5): minute 0-59, hour 0-23, weekday 0=Monday, day of month 1-31, month 1-12.
    """
    index = pd.DatetimeIndex(pd.to_datetime(np.asarray(timestamps)))
    return np.stack(
        [index.minute, index.hour, index.weekday, index.day, index.month], axis=-1
    ).astype(np.int64)
