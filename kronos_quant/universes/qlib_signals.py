"""Any Qlib expression as the stress signal, computed by Qlib itself on each universe written as a provider.

Cost (stated): one provider write, one ``qlib.init`` and one ``D.features`` call per universe, about 1-3 s
each on a CPU core, against milliseconds for the numpy naive factors (kronos_quant.universes.market).
qlib is imported inside the functions, so this module loads without it.
"""
from __future__ import annotations

import logging
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kronos_quant.universes.generate import Universes
from kronos_quant.universes.provider import write_universe_provider

logger = logging.getLogger(__name__)
PREFIX = "qlib:"  # StrategySpec.signal = "qlib:<expression>", e.g. "qlib:Mean($close, 5)/$close"


def is_expression(signal: str) -> bool:
    return str(signal).startswith(PREFIX)


def expression_of(signal: str) -> str:
    expression = str(signal)[len(PREFIX):].strip()
    if not expression:
        raise ValueError(f"signal {signal!r} has an empty Qlib expression; write e.g. 'qlib:$close/Ref($close, 5)'")
    return expression


def provider_scores(provider, expression: str, instruments, dates: pd.DatetimeIndex) -> np.ndarray:
    """float64 (D, I) values of ``expression`` on ``provider`` for ``instruments`` over ``dates``."""
    from qlib.data import D

    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    init_qlib(provider_uri=provider)  # a fresh session on this provider (region cn, one kernel, no caches)
    frame = D.features(list(instruments), [expression], start_time=dates[0], end_time=dates[-1], freq="day")
    panel = frame.iloc[:, 0].unstack("instrument")
    panel.index = pd.DatetimeIndex(panel.index)
    return panel.reindex(index=dates, columns=list(instruments)).to_numpy(np.float64)


def universe_scores(universes: Universes, expression: str, *, progress: bool = False) -> np.ndarray:
    """float64 (U, D_hist + H, I) values of ``expression`` in every universe (each written to a temp provider)."""
    dates = universes.all_dates()
    out = np.empty((universes.n_universes, len(dates), len(universes.instruments)))
    work = Path(tempfile.mkdtemp(prefix="kronos_universe_"))
    try:
        for index in tqdm(range(universes.n_universes), desc="qlib signal", disable=not progress):
            provider = write_universe_provider(universes, index, work / f"u{index:04d}")
            out[index] = provider_scores(provider, expression, universes.instruments, dates)
            shutil.rmtree(provider)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out
