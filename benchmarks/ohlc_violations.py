"""How often do Kronos forecast bars break OHLC consistency (close above high, low above open, ...)?

Trains a small tokenizer + predictor on the first bars of a 5-minute CSV (CPU, a few minutes),
forecasts ``--origins`` windows of the held-out tail with ``--paths`` sample paths each, and
reports the share of raw forecast bars whose high/low do not bound open and close, in single paths
and in the path mean, before and after :meth:`ForecastResult.repair_ohlc`. The realised bars'
own rate is printed as a check (0 for clean data). No official weights are reachable here, so the
numbers describe this small model; rerun with ``--tokenizer/--predictor`` pointing at official
checkpoints to measure those::

    OMP_NUM_THREADS=1 python benchmarks/ohlc_violations.py --csv ../shared/data/kronos_examples/XSHG_5min_600977.csv
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.inference.forecast_result import ohlc_violations
from kronos_quant.normalization import FEATURE_COLUMNS, fit_scale, normalize
from kronos_quant.time_features import time_features

TOKENIZER = dict(d_model=64, n_heads=4, ff_dim=128, n_enc_layers=2, n_dec_layers=2, s1_bits=6, s2_bits=6,
                 group_size=4)
PREDICTOR = dict(d_model=64, n_heads=4, ff_dim=128, n_layers=2, s1_bits=6, s2_bits=6)


def training_windows(bars: np.ndarray, times: pd.DatetimeIndex, lookback: int, horizon: int):
    """WindowArrays of every (lookback + 1 + horizon)-bar window, normalised by its context bars only."""
    from kronos_quant.training.datasets import WindowArrays

    length = lookback + 1 + horizon
    starts = np.arange(len(bars) - length + 1)
    windows = np.stack([bars[s:s + length] for s in starts])  # (N, L, 6)
    scale = fit_scale(windows[:, :lookback + 1])
    stamps = time_features(times)
    return WindowArrays(normalize(windows, scale), np.stack([stamps[s:s + length] for s in starts]))


def train(bars, times, args, out: Path) -> tuple[str, str]:
    from kronos_quant.training import fit_predictor, fit_tokenizer
    from kronos_quant.training.config import config_from_dict

    split = int(len(bars) * 0.85)
    train_arrays = training_windows(bars[:split], times[:split], args.lookback, args.horizon)
    valid_arrays = training_windows(bars[split:], times[split:], args.lookback, args.horizon)
    common = dict(lr=2e-3, warmup_steps=10, batch_size=32, max_steps=args.steps, eval_every=max(args.steps // 4, 1),
                  valid_windows=128, seed=7, device="cpu", log_every=50)
    tok = config_from_dict(dict(common, model=TOKENIZER, out_dir=str(out / "tok")))
    tokenizer_dir = str(fit_tokenizer(tok, train_arrays, valid_arrays).best_dir)
    pred = config_from_dict(dict(common, model=PREDICTOR, tokenizer=tokenizer_dir, out_dir=str(out / "pred")))
    return tokenizer_dir, str(fit_predictor(pred, train_arrays, valid_arrays).best_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True)
    parser.add_argument("--tokenizer", default=None, help="checkpoint to measure (default: train a small one)")
    parser.add_argument("--predictor", default=None)
    parser.add_argument("--holdout", type=int, default=500, help="tail bars never trained on")
    parser.add_argument("--lookback", type=int, default=90)
    parser.add_argument("--horizon", type=int, default=24)
    parser.add_argument("--origins", type=int, default=16)
    parser.add_argument("--paths", type=int, default=8)
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--T", type=float, default=1.0)
    args = parser.parse_args()
    from kronos_quant import Kronos, KronosPredictor, KronosTokenizer

    frame = pd.read_csv(args.csv)
    times = pd.DatetimeIndex(pd.to_datetime(frame["timestamps"]))
    bars = frame[list(FEATURE_COLUMNS)].to_numpy(np.float64)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as scratch:
        tokenizer_dir, predictor_dir = args.tokenizer, args.predictor
        if tokenizer_dir is None:
            tokenizer_dir, predictor_dir = train(bars[:-args.holdout], times[:-args.holdout], args, Path(scratch))
        trained = time.perf_counter() - started
        predictor = KronosPredictor(Kronos.from_pretrained(predictor_dir),
                                    KronosTokenizer.from_pretrained(tokenizer_dir),
                                    device="cpu")
        first = len(bars) - args.holdout + args.lookback
        origins = np.linspace(first, len(bars) - args.horizon, args.origins).astype(int)
        history = [frame.iloc[o - args.lookback:o][list(FEATURE_COLUMNS)].reset_index(drop=True) for o in origins]
        result = predictor.predict_paths(history, [times[o - args.lookback:o] for o in origins],
                                         [times[o:o + args.horizon] for o in origins], args.horizon, T=args.T,
                                         top_p=0.9, sample_count=args.paths, seed=0)
    raw, repaired = result.ohlc_violation_rate(), result.repair_ohlc().ohlc_violation_rate()
    close_above_high = float((result.paths[..., 3] > result.paths[..., 1]).mean())
    report = {"raw_paths": raw["paths"], "raw_mean": raw["mean"], "repaired_paths": repaired["paths"],
              "repaired_mean": repaired["mean"], "raw_close_above_high": close_above_high,
              "realised_bars": float(ohlc_violations(bars[-args.holdout:]).mean()),
              "bars_measured": int(result.paths[..., 0].size), "train_seconds": round(trained, 1),
              "model": "trained here" if args.tokenizer is None else predictor_dir}
    print(json.dumps(report, indent=1))


if __name__ == "__main__":
    main()
