"""Write generated universes as Qlib providers, so qrun workflows and Qlib's backtest run on them unchanged.

One provider per universe::

    <out>/u0000/calendars/day.txt         the history days up to t0, then the H generated days
    <out>/u0000/calendars/day_future.txt  plus FUTURE_PAD business days (a backtest may end on the last day)
    <out>/u0000/instruments/<name>.txt    the members (and all.txt: members + the benchmark)
    <out>/u0000/features/<inst>/*.day.bin open, high, low, close, volume, amount, change, factor (= 1)

Bars up to t0 are the real ones (NaN where a member was suspended); bars after t0 are the universe's
generated ones. The benchmark (``EWINDEX`` by default) is derived from the members in the same way over
both parts: an equal-weight index of their daily $change (kronos_quant.universes.market), so it moves
with the generated members. Written with kronos_quant.data.qlib_bin (no qlib needed).
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from kronos_quant.data.qlib_bin import write_calendar, write_instruments, write_panel_features
from kronos_quant.normalization import FEATURE_COLUMNS
from kronos_quant.universes.generate import Universes
from kronos_quant.universes.market import benchmark_level, change_panel

logger = logging.getLogger(__name__)

BENCHMARK_NAME = "EWINDEX"
FUTURE_PAD = 5  # extra business days in day_future.txt


def universe_bars(universes: Universes, index: int) -> np.ndarray:
    """float64 (D_hist + H, I, 6): real bars up to t0, then universe ``index``'s generated bars."""
    columns = [universes.history.instruments.index(name) for name in universes.instruments]
    real = universes.history.bars[:, columns].astype(np.float64)
    generated = np.transpose(universes.paths[index], (1, 0, 2)).astype(np.float64)  # (H, I, 6)
    return np.concatenate([real, generated], axis=0)


def write_universe_provider(universes: Universes, index: int, out_dir, *, universe_name: str = "csi300",
                            benchmark: str = BENCHMARK_NAME) -> Path:
    """Write universe ``index`` as a Qlib provider in ``out_dir``; returns the directory."""
    if not 0 <= index < universes.n_universes:
        raise ValueError(f"universe index {index} out of range 0..{universes.n_universes - 1}")
    out_dir = Path(out_dir)
    dates = universes.all_dates()
    bars = universe_bars(universes, index)
    close = bars[:, :, 3]
    change = change_panel(close)
    write_calendar(out_dir, dates)
    pad = pd.bdate_range(dates[-1] + pd.Timedelta(days=1), periods=FUTURE_PAD)
    write_calendar(out_dir, dates.append(pad), future=True)
    for column, instrument in enumerate(universes.instruments):
        frame = pd.DataFrame(bars[:, column], index=dates, columns=list(FEATURE_COLUMNS))
        frame["change"] = change[:, column]
        frame["factor"] = np.where(np.isfinite(close[:, column]), 1.0, np.nan)
        write_panel_features(out_dir, instrument, frame, dates)
    level = benchmark_level(close)
    bench = pd.DataFrame({"open": level, "high": level, "low": level, "close": level,
                          "volume": np.nansum(bars[:, :, 4], axis=1), "amount": np.nansum(bars[:, :, 5], axis=1),
                          "change": np.concatenate([[np.nan], level[1:] / level[:-1] - 1]),
                          "factor": 1.0}, index=dates)
    write_panel_features(out_dir, benchmark, bench, dates)
    spans = pd.DataFrame({"instrument": list(universes.instruments), "start": dates[0], "end": dates[-1]})
    write_instruments(out_dir, universe_name, spans)
    everything = pd.concat([spans, pd.DataFrame({"instrument": [benchmark], "start": [dates[0]],
                                                 "end": [dates[-1]]})])
    write_instruments(out_dir, "all", everything)
    meta = {"t0": f"{universes.history.t0:%Y-%m-%d}", "universe_index": index, "benchmark": benchmark,
            "first_generated_day": f"{universes.dates[0]:%Y-%m-%d}", "seed": universes.config.seed,
            "rho": universes.config.rho, "n_universes": universes.n_universes}
    (out_dir / "universe.json").write_text(json.dumps(meta, indent=2))
    return out_dir


def write_universe_providers(universes: Universes, out_dir, *, count: int | None = None, progress: bool = False,
                             **kwargs) -> list[Path]:
    """Write the first ``count`` universes (default: all) as ``out_dir/u0000``, ``u0001``, ..."""
    count = universes.n_universes if count is None else min(int(count), universes.n_universes)
    if count < 1:
        raise ValueError(f"count must be >= 1, got {count}")
    paths = [write_universe_provider(universes, index, Path(out_dir) / f"u{index:04d}", **kwargs)
             for index in tqdm(range(count), desc="providers", disable=not progress)]
    logger.info("wrote %d universe providers to %s", count, out_dir)
    return paths
