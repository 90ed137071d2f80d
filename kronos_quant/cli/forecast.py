"""``kronos-quant forecast``: forecast one OHLCV CSV with a tokenizer + predictor checkpoint."""
from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)
TIME_COLUMNS = ("timestamps", "timestamp", "datetime", "date", "time")


def register(subparsers) -> None:
    parser = subparsers.add_parser("forecast", help="forecast the next bars of one OHLCV CSV file")
    parser.add_argument("--csv", required=True, help="CSV with a time column and open, high, low, close[, volume, amount]")
    parser.add_argument("--tokenizer", required=True, help="checkpoint folder or hub id (NeoQuasar/Kronos-Tokenizer-base)")
    parser.add_argument("--predictor", required=True, help="checkpoint folder or hub id (NeoQuasar/Kronos-small)")
    parser.add_argument("--lookback", type=int, default=400, help="bars of history (default 400)")
    parser.add_argument("--pred-len", type=int, default=120, help="bars to forecast (default 120)")
    parser.add_argument("--holdout", action="store_true",
                        help="forecast the CSV's last pred-len bars from the bars before them and report the error")
    parser.add_argument("--max-context", type=int, default=512)
    parser.add_argument("--temperature", "-T", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--sample-count", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", default=None, help="write the forecast (mean and quantiles) to this CSV")
    parser.set_defaults(func=run)


def read_bars(path: str) -> tuple[pd.DataFrame, pd.Series]:
    frame = pd.read_csv(path)
    column = next((c for c in TIME_COLUMNS if c in frame.columns), None)
    if column is None:
        raise SystemExit(f"{path}: no time column; name one of {TIME_COLUMNS}")
    times = pd.to_datetime(frame[column])
    return frame.drop(columns=[column]), times


def future_times(times: pd.Series, count: int) -> pd.Series:
    """The next ``count`` bar times: business days for weekday-only daily bars, else the median step."""
    step = times.diff().iloc[-50:].median()
    if step == pd.Timedelta(days=1) and (times.dt.weekday < 5).all():
        return pd.Series(pd.bdate_range(times.iloc[-1] + pd.offsets.BDay(1), periods=count))
    return pd.Series(times.iloc[-1] + step * np.arange(1, count + 1))


def run(args: argparse.Namespace) -> int:
    from kronos_quant import Kronos, KronosPredictor, KronosTokenizer

    bars, times = read_bars(args.csv)
    if args.holdout:
        history, x_times = bars.iloc[:-args.pred_len], times.iloc[:-args.pred_len]
        y_times, actual = times.iloc[-args.pred_len:], bars.iloc[-args.pred_len:]
    else:
        history, x_times, y_times, actual = bars, times, future_times(times, args.pred_len), None
    history, x_times = history.iloc[-args.lookback:], x_times.iloc[-args.lookback:]
    predictor = KronosPredictor(Kronos.from_pretrained(args.predictor), KronosTokenizer.from_pretrained(args.tokenizer),
                                device=args.device, max_context=args.max_context)
    result = predictor.predict_paths([history.reset_index(drop=True)], [x_times], [y_times], args.pred_len,
                                     T=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                     sample_count=args.sample_count, seed=args.seed, verbose=True)
    table = result.quantiles((0.1, 0.5, 0.9))[0]
    mean_close = table[("close", "mean")]
    print(table.xs("mean", axis=1, level=1).round(4).to_string())
    if actual is not None:
        truth = actual["close"].to_numpy()
        mae = float(np.abs(mean_close.to_numpy() - truth).mean())
        direction = np.sign(truth[-1] - history["close"].iloc[-1]) == np.sign(mean_close.iloc[-1] - history["close"].iloc[-1])
        print(f"holdout close MAE {mae:.4f}; direction of the last bar {'right' if direction else 'wrong'}")
    if args.out:
        table.to_csv(args.out)
        print(f"forecast written to {args.out}")
    return 0
