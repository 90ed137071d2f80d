"""``kronos-quant forecast``: forecast one OHLCV CSV with a tokenizer + predictor checkpoint.

::

    kronos-quant forecast --csv XSHG_5min_600977.csv --tokenizer DIR --predictor DIR --exchange XSHG \\
        --lookback 400 --pred-len 120 --sample-count 8 --out forecast.csv --plot forecast.png

Columns come out in the official order (open, high, low, close, volume, amount). Future bar times
come from :func:`kronos_quant.data.market_calendar.next_bar_times`: the exchange's sessions
(``--exchange XSHG``: holidays and the 11:30-13:00 lunch break), else business days with the
history's times of day. Each sample path is OHLC-repaired before averaging (high/low bound open
and close); ``--raw-ohlc`` keeps the raw values, as the official ``predict`` does. The share of raw
bars that break OHLC consistency is printed either way.

Paths: ``--sample-count`` defaults to :data:`DEFAULT_SAMPLE_COUNT` (20), enough for the 10/50/90%
quantiles it prints to be distinct order statistics (two paths beyond each of the 10% and 90% cuts);
the official ``predict`` default of one path makes all three quantiles the same path.

Columns: ``open, high, low, close`` are required; ``volume`` and ``amount`` are optional here,
as in the official Kronos predictor: without volume both are set to 0 (the forecast's volume and
amount then carry no information), without amount it is derived as volume x mean(OHLC).
``kronos-quant data import-csv`` requires volume instead, because a Qlib provider's volume marks
suspended days (no volume = no trade) for every study, and Alpha158 and the backtest read it.

Bar frequency: checkpoints trained by this toolkit record the spacing of their training bars
(``trained_on.json``, e.g. ``{"bar_freq": "1D"}``); a CSV whose bars are spaced differently gets a
warning (a daily model knows nothing of 5-minute bars). Official checkpoints carry no such record.
"""
from __future__ import annotations

import argparse
import logging

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)
TIME_COLUMNS = ("timestamps", "timestamp", "datetime", "date", "time")
QUANTILES = (0.1, 0.5, 0.9)
DEFAULT_SAMPLE_COUNT = 20  # sample paths: >= 2 beyond each of the 10% and 90% quantiles
MIN_BAND_PATHS = 10  # fewer paths than 1 / 0.1 put no whole path beyond the 10% quantile


def register(subparsers) -> None:
    parser = subparsers.add_parser("forecast", help="forecast the next bars of one OHLCV CSV file",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--csv", required=True,
                        help="CSV with a time column and open, high, low, close[, volume, amount] (without volume, "
                             "volume and amount are forecast as 0, as the official predictor does)")
    parser.add_argument("--tokenizer", required=True,
                        help="checkpoint folder or hub id (NeoQuasar/Kronos-Tokenizer-base)")
    parser.add_argument("--predictor", required=True, help="checkpoint folder or hub id (NeoQuasar/Kronos-small)")
    parser.add_argument("--lookback", type=int, default=400, help="bars of history (default 400)")
    parser.add_argument("--pred-len", type=int, default=120, help="bars to forecast (default 120)")
    parser.add_argument("--holdout", action="store_true",
                        help="forecast the CSV's last pred-len bars from the bars before them and report the error")
    parser.add_argument("--exchange", default="none",
                        help="exchange_calendars name for future bar times (XSHG, XSHE, XNYS, ...); 'none' "
                             "(default): business days and the history's times of day")
    parser.add_argument("--raw-ohlc", action="store_true",
                        help="keep raw paths (high may fall below close); default: repair each path before averaging")
    parser.add_argument("--max-context", type=int, default=512)
    parser.add_argument("--temperature", "-T", type=float, default=1.0)
    parser.add_argument("--top-p", type=float, default=0.9)
    parser.add_argument("--top-k", type=int, default=0)
    parser.add_argument("--sample-count", type=int, default=DEFAULT_SAMPLE_COUNT,
                        help=f"sample paths averaged into the mean and quantiles (default {DEFAULT_SAMPLE_COUNT})")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--device", default=None)
    parser.add_argument("--out", default=None, help="write the forecast (mean and quantiles) to this CSV")
    parser.add_argument("--plot", default=None, help="write a PNG of history, mean forecast and 10-90%% band")
    parser.set_defaults(func=run)


def read_bars(path: str) -> tuple[pd.DataFrame, pd.Series]:
    """(bars in the official column order, their times) of a CSV with one of TIME_COLUMNS."""
    from kronos_quant.normalization import FEATURE_COLUMNS, PRICE_COLUMNS

    frame = pd.read_csv(path)
    frame.columns = [str(column).strip().lower() for column in frame.columns]
    column = next((c for c in TIME_COLUMNS if c in frame.columns), None)
    if column is None:
        raise ValueError(f"{path}: no time column; name one of {TIME_COLUMNS} (columns found: {list(frame.columns)})")
    missing = [c for c in PRICE_COLUMNS if c not in frame.columns]
    if missing:
        raise ValueError(f"{path}: missing price columns {missing}; forecast needs open, high, low, close "
                         f"(volume and amount are optional) (columns found: {list(frame.columns)})")
    if "volume" not in frame.columns:
        logger.warning("%s has no volume column: volume and amount are set to 0 (as the official Kronos predictor "
                       "does), so the forecast's volume and amount carry no information", path)
    times = pd.to_datetime(frame[column])
    return frame[[c for c in FEATURE_COLUMNS if c in frame.columns]], times


def warn_on_bar_freq_mismatch(times: pd.Series, checkpoints: dict[str, str]) -> list[str]:
    """Warn for each local checkpoint folder whose recorded training bar frequency differs from the CSV's.

    Args:
        times: the CSV's bar times; checkpoints: {"tokenizer": folder or hub id, "predictor": ...}.
    Returns:
        the warnings logged (empty when the frequencies agree or a checkpoint records none).
    """
    from pathlib import Path

    from kronos_quant.bar_frequency import infer_bar_freq, same_bar_freq
    from kronos_quant.model.checkpoint import read_bar_freq

    csv_freq = infer_bar_freq(times)
    messages = []
    for network, location in checkpoints.items():
        trained = read_bar_freq(location) if Path(location).is_dir() else None
        if csv_freq is None or trained is None or same_bar_freq(csv_freq, trained):
            continue
        messages.append(f"the {network} {location} was trained on {trained} bars but the CSV's bars are {csv_freq} "
                        "apart: expect inconsistent OHLC and wild paths; use a checkpoint trained on "
                        f"{csv_freq} bars (or an official one, trained on many frequencies)")
        logger.warning(messages[-1])
    return messages


def _check_args(args: argparse.Namespace) -> None:
    for name in ("lookback", "pred_len", "sample_count", "max_context"):
        if getattr(args, name) < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {getattr(args, name)}")
    if args.sample_count < MIN_BAND_PATHS:
        logger.warning("--sample-count %d: the 10%%/90%% quantiles rest on fewer than one path beyond each "
                       "(%s); use >= %d paths (default %d) for a meaningful band", args.sample_count,
                       "all quantiles are the one path" if args.sample_count == 1 else "they interpolate the extremes",
                       MIN_BAND_PATHS, DEFAULT_SAMPLE_COUNT)


def run(args: argparse.Namespace) -> int:
    from kronos_quant import Kronos, KronosPredictor, KronosTokenizer
    from kronos_quant.data.market_calendar import next_bar_times

    _check_args(args)
    bars, times = read_bars(args.csv)
    warn_on_bar_freq_mismatch(times, {"tokenizer": args.tokenizer, "predictor": args.predictor})
    if args.holdout:
        history, x_times = bars.iloc[:-args.pred_len], times.iloc[:-args.pred_len]
        y_times, actual = times.iloc[-args.pred_len:], bars.iloc[-args.pred_len:]
    else:
        exchange = None if args.exchange.lower() == "none" else args.exchange
        history, x_times, actual = bars, times, None
        y_times = pd.Series(next_bar_times(times, args.pred_len, exchange=exchange))
    history, x_times = history.iloc[-args.lookback:], x_times.iloc[-args.lookback:]
    predictor = KronosPredictor(Kronos.from_pretrained(args.predictor), KronosTokenizer.from_pretrained(args.tokenizer),
                                device=args.device, max_context=args.max_context)
    result = predictor.predict_paths([history.reset_index(drop=True)], [x_times], [y_times], args.pred_len,
                                     T=args.temperature, top_k=args.top_k, top_p=args.top_p,
                                     sample_count=args.sample_count, seed=args.seed, verbose=True)
    rates = result.ohlc_violation_rate()
    print(f"OHLC violations in the raw forecast: {rates['paths']:.1%} of path bars, {rates['mean']:.1%} of mean "
          f"bars ({'kept: --raw-ohlc' if args.raw_ohlc else 'repaired in each path before averaging'})")
    if not args.raw_ohlc:
        result = result.repair_ohlc()
    table = result.quantiles(QUANTILES)[0]
    print(table.xs("mean", axis=1, level=1).round(4).to_string())
    if actual is not None:
        _print_holdout(history, actual, table[("close", "mean")])
    if args.out:
        table.to_csv(args.out)
        print(f"forecast written to {args.out}")
    if args.plot:
        from kronos_quant.research.forecast_plot import plot_forecast

        plot_forecast(history.set_index(pd.DatetimeIndex(x_times)), table, path=args.plot, title=args.csv,
                      actual=None if actual is None else actual.set_index(pd.DatetimeIndex(y_times)))
        print(f"plot written to {args.plot}")
    return 0


def holdout_errors(history: pd.DataFrame, actual: pd.DataFrame, mean_close: pd.Series) -> dict[str, float]:
    """Close MAE of the mean forecast and of the naive forecast (the last history close held flat), in price units."""
    truth = actual["close"].to_numpy(dtype=np.float64)
    last = float(history["close"].iloc[-1])
    return {"mae": float(np.abs(mean_close.to_numpy() - truth).mean()),
            "naive_mae": float(np.abs(last - truth).mean()),
            "direction_right": bool(np.sign(truth[-1] - last) == np.sign(mean_close.iloc[-1] - last))}


def _print_holdout(history: pd.DataFrame, actual: pd.DataFrame, mean_close: pd.Series) -> None:
    errors = holdout_errors(history, actual, mean_close)
    ratio = errors["mae"] / errors["naive_mae"] if errors["naive_mae"] > 0 else float("nan")
    print(f"holdout close MAE {errors['mae']:.4f} vs naive last-close baseline {errors['naive_mae']:.4f} "
          f"(ratio {ratio:.2f}; < 1 beats it); direction of the last bar "
          f"{'right' if errors['direction_right'] else 'wrong'}")
