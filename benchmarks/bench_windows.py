"""Time building every CSI300 Kronos window (lookback 90, horizon 10) over the shared 14-year dataset.

Run: ``python benchmarks/bench_windows.py [PROVIDER_DIR]`` (default ../shared/data/qlib_cn_csi300).
Compares the vectorised builder with a naive per-sample pandas ``iloc`` loop on a subsample.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.data import qlib_bin
from kronos_quant.data.windows import build_windows
from kronos_quant.time_features import time_features

LOOKBACK, HORIZON = 90, 10
FIELDS = ("open", "high", "low", "close", "volume", "amount")


def default_provider() -> Path:
    shared = Path(os.environ.get("KRONOS_SHARED_DIR", Path(__file__).resolve().parents[1].parent / "shared"))
    return shared / "data" / "qlib_cn_csi300"


def load_panel(provider: Path):
    """(D, N, 6) panel of every csi300 member's bars (amount NaN when absent) and the membership mask."""
    calendar = qlib_bin.read_calendar(provider)
    spans = qlib_bin.read_instruments(provider, "csi300")
    instruments = sorted(spans["instrument"].unique())
    values = np.stack([qlib_bin.read_field_panel(provider, f, instruments, calendar).to_numpy(np.float64)
                       for f in FIELDS], axis=-1)
    member = np.zeros(values.shape[:2], dtype=bool)
    column = {name: j for j, name in enumerate(instruments)}
    for row in spans.itertuples():
        member[calendar.slice_indexer(row.start, row.end), column[row.instrument]] = True
    return values, calendar, instruments, member


def naive_windows(values, calendar, instruments, samples):
    """Baseline: a pandas frame per instrument, dropna, then iloc per sample."""
    frames = {code: pd.DataFrame(values[:, j], index=calendar, columns=FIELDS) for j, code in enumerate(instruments)}
    out = []
    for t, code in samples:
        frame = frames[code].dropna(subset=FIELDS[:5])
        position = frame.index.get_loc(t)
        window = frame.iloc[position - LOOKBACK + 1: position + 1]
        out.append((window.to_numpy(np.float32), time_features(window.index)))
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("provider", nargs="?", default=str(default_provider()))
    parser.add_argument("--naive-samples", type=int, default=2000)
    args = parser.parse_args(argv)
    provider = Path(args.provider)
    if not (provider / "calendars" / "day.txt").exists():
        print(f"skipped: {provider} absent")
        return 0
    start = time.perf_counter()
    values, calendar, instruments, member = load_panel(provider)
    load_s = time.perf_counter() - start
    n_windows, build_s = 0, 0.0
    for year in range(calendar[0].year, calendar[-1].year + 1):  # one year at a time bounds memory
        start = time.perf_counter()
        windows = build_windows(values, calendar, instruments, lookback=LOOKBACK, horizon=HORIZON,
                                start=f"{year}-01-01", end=f"{year}-12-31", decision_mask=member)
        build_s += time.perf_counter() - start
        n_windows += len(windows)
    print(f"panel load: {load_s:.2f} s ({values.shape[0]} days x {values.shape[1]} instruments)")
    print(f"vectorised: {n_windows} windows in {build_s:.2f} s = {n_windows / build_s:,.0f} windows/s")
    rng = np.random.default_rng(0)
    subsample = [windows.index[i] for i in rng.choice(len(windows), args.naive_samples, replace=False)]
    start = time.perf_counter()
    naive_windows(values, calendar, instruments, subsample)
    naive_s = time.perf_counter() - start
    naive_rate = len(subsample) / naive_s
    print(f"naive pandas iloc: {len(subsample)} windows in {naive_s:.2f} s = {naive_rate:,.0f} windows/s")
    print(f"speed-up: {n_windows / build_s / naive_rate:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
