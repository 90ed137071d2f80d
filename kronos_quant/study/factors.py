"""Untrained study signals and the label, read from the provider (qlib imported lazily).

* expression signals: Qlib expressions per (datetime, instrument) over the test span (each value at t
  uses bars <= t only: every built-in expression refers back with ``Ref(., +k)``, never forward);
* the random signal: uniform noise keyed by (seed, datetime, instrument), so a row's value does not
  depend on which other rows exist;
* the label: ``Ref($close, -2) / Ref($close, -1) - 1``, the same as every handler's;
* suspensions: rows with a zero-volume bar among t .. t+k (:func:`load_suspended`), removed before scoring.
"""
from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from kronos_quant.study.tasks import LABEL_EXPRESSION

logger = logging.getLogger(__name__)


def load_expressions(expressions: dict[str, str], *, market: str, start, end) -> pd.DataFrame:
    """DataFrame (datetime, instrument) x names of Qlib expressions over the universe's member rows."""
    from qlib.data import D

    if not expressions:
        return pd.DataFrame()
    names, fields = list(expressions), list(expressions.values())
    instruments = D.instruments(market)
    frame = D.features(instruments, fields, start_time=start, end_time=end, freq="day")
    if frame.empty:
        raise ValueError(f"no data for universe {market!r} between {start} and {end}; check the provider")
    frame.columns = names
    frame = frame.swaplevel().sort_index()
    frame.index = frame.index.set_names(["datetime", "instrument"])
    return frame.astype(float)


def load_label(*, market: str, start, end) -> pd.Series:
    """The study label over the test span, indexed (datetime, instrument) (NaN where t+2 is unknown)."""
    return load_expressions({"label": LABEL_EXPRESSION}, market=market, start=start, end=end)["label"]


def load_suspended(*, market: str, start, end, label_days: int) -> pd.Series:
    """Bool (datetime, instrument): a zero-volume bar among t .. t+label_days (a suspension carried forward as
    a flat bar; :mod:`kronos_quant.research.suspensions`)."""
    from kronos_quant.research.suspensions import touched, zero_volume_expression

    frame = load_expressions({"min_volume": zero_volume_expression(label_days)}, market=market, start=start, end=end)
    return touched(frame["min_volume"])


def random_signal(index: pd.MultiIndex, seed: int) -> pd.Series:
    """Uniform [0, 1) per (datetime, instrument) row, a function of (seed, row key) only."""
    keys = pd.DataFrame({"datetime": index.get_level_values(0).astype("datetime64[ns]").astype("int64"),
                         "instrument": index.get_level_values(1).astype(str)})
    hashed = pd.util.hash_pandas_object(keys, index=False, hash_key=f"{int(seed) % 10**16:016d}")
    return pd.Series(hashed.to_numpy(dtype=np.uint64) / float(2**64), index=index, name="random")
