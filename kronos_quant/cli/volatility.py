"""``kronos-quant volatility``: the volatility-forecasting and calibration study, in three steps.

::

    kronos-quant volatility train    --provider ../shared/data/qlib_cn_csi300 --out outputs/vol_csi300
    kronos-quant volatility forecast --provider ... --out outputs/vol_csi300 --segment valid --every 10
    kronos-quant volatility forecast --provider ... --out outputs/vol_csi300 --segment test --every 5
    kronos-quant volatility evaluate --provider ... --out outputs/vol_csi300

Segments: train 2010-01-04..2021-12-31, valid (calibration) 2022-01-04..2023-06-30, test
2023-07-03..2024-05-30 (the last date with 20 later bars in the data). ``forecast`` writes
``<out>/paths_<segment>_T<T>.npz``; ``evaluate`` fits the spread scale on the valid paths only, scores the
test paths against the baselines and writes tables (CSV), ``metrics.json`` and ``report.html`` under
``<out>/evaluation``. Each step logs its wall time.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path

logger = logging.getLogger(__name__)

SEGMENTS = {"train": ("2010-01-04", "2021-12-31"), "valid": ("2022-01-04", "2023-06-30"),
            "test": ("2023-07-03", "2024-05-30")}
BARS_START = "2017-01-01"  # history for the baselines (GARCH/HAR windows of 1000 bars before 2022)


def register(subparsers) -> None:
    parser = subparsers.add_parser("volatility", help="volatility forecasting and calibration study",
                                   description=__doc__.splitlines()[0])
    steps = parser.add_subparsers(dest="step", required=True)
    for name in ("train", "forecast", "evaluate"):
        step = steps.add_parser(name)
        step.add_argument("--provider", required=True, help="Qlib data dir, e.g. ../shared/data/qlib_cn_csi300")
        step.add_argument("--out", default="outputs/vol_csi300", help="study folder (checkpoints, paths, tables)")
        step.add_argument("--lookback", type=int, default=60)
        step.add_argument("--horizon", type=int, default=20, help="forecast bars (horizons 1/5/10/20 need 20)")
        step.set_defaults(func=globals()[f"run_{name}"])
    steps.choices["train"].add_argument("--max-steps", type=int, default=600, help="optimizer steps per network")
    steps.choices["train"].add_argument("--every", type=int, default=8, help="train on every n-th decision date")
    forecast = steps.choices["forecast"]
    forecast.add_argument("--segment", choices=("valid", "test"), required=True)
    forecast.add_argument("--every", type=int, default=5, help="forecast every n-th trading day")
    forecast.add_argument("--paths", type=int, default=16, help="sample paths per forecast (>= 2)")
    forecast.add_argument("--temperature", type=float, default=1.0)
    forecast.add_argument("--top-p", type=float, default=1.0, help="1.0 keeps the full distribution")
    evaluate = steps.choices["evaluate"]
    evaluate.add_argument("--temperature", type=float, default=1.0, help="which forecasts (paths_*_T<T>.npz) to score")
    evaluate.add_argument("--refit-every", type=int, default=60, help="bars between GARCH/HAR refits")


def _data(args):
    from kronos_quant.qlib_ext.volatility_study import StudyData

    for option in ("every", "max_steps", "refit_every"):
        value = getattr(args, option, None)
        if value is not None and value < 1:
            raise ValueError(f"--{option.replace('_', '-')} must be >= 1, got {value}")
    return StudyData(provider_uri=args.provider, lookback=args.lookback, horizon=args.horizon)


def check_segments(provider: str, names) -> None:
    """A ValueError when a segment this step reads has no trading day in the provider (an empty range)."""
    from kronos_quant.data.qlib_bin import read_calendar

    calendar = read_calendar(provider)
    for name in names:
        first, last = SEGMENTS[name]
        if not ((calendar >= first) & (calendar <= last)).any():
            raise ValueError(f"segment {name} ({first}..{last}) has no trading day in {provider}, which holds "
                             f"{calendar[0]:%Y-%m-%d}..{calendar[-1]:%Y-%m-%d}; the volatility study's segments are "
                             "those of the CSI300 provider, so point --provider at data covering them")


def _command(step: str, args, extra: str = "") -> str:
    """The command line of an earlier step, with this run's shared options."""
    return (f"kronos-quant volatility {step} --provider {args.provider} --out {args.out} --lookback {args.lookback} "
            f"--horizon {args.horizon}{extra}")


def run_train(args) -> int:
    from kronos_quant.qlib_ext.volatility_study import train_study_model

    check_segments(args.provider, ("train", "valid"))
    start = time.time()
    dirs = train_study_model(_data(args), SEGMENTS["train"], SEGMENTS["valid"], args.out, every=args.every,
                             max_steps=args.max_steps)
    print(f"tokenizer {dirs[0]}\npredictor {dirs[1]}\nwall {time.time() - start:.0f} s")
    return 0


def paths_file(out: str, segment: str, temperature: float) -> Path:
    return Path(out) / f"paths_{segment}_T{temperature:g}.npz"


def run_forecast(args) -> int:
    from kronos_quant.qlib_ext.model import KronosModel
    from kronos_quant.qlib_ext.volatility_study import (
        check_trained_model,
        forecast_segment,
        make_dataset,
        save_forecast,
    )

    if args.paths < 2:
        raise ValueError(f"--paths {args.paths}: the spread of the forecast needs at least 2 sample paths")
    tokenizer_dir, predictor_dir = check_trained_model(args.out, _data(args), train_command=_command("train", args))
    check_segments(args.provider, (args.segment,))
    start = time.time()
    model = KronosModel(str(tokenizer_dir), str(predictor_dir), mode="zero_shot",
                        forecast={"lookback": args.lookback, "horizon": args.horizon, "T": args.temperature,
                                  "top_p": args.top_p, "sample_count": args.paths, "signal": "predicted_volatility",
                                  "seed": 0},
                        runtime={"device": "cpu", "memory_budget_gb": 1.0, "progress": True})
    dataset = make_dataset(_data(args), {args.segment: SEGMENTS[args.segment]})
    index, paths, last_close = forecast_segment(model, dataset, args.segment, every=args.every)
    target = paths_file(args.out, args.segment, args.temperature)
    save_forecast(target, index, paths, last_close,
                  settings={"segment": args.segment, "lookback": args.lookback, "horizon": args.horizon,
                            "temperature": args.temperature, "top_p": args.top_p, "paths": args.paths,
                            "every": args.every})
    print(f"{len(index)} forecasts -> {target}\nwall {time.time() - start:.0f} s")
    return 0


def check_forecast_files(files: dict, args) -> None:
    """ValueErrors naming the forecast command when a segment's paths file is missing, and the keys when the
    valid and test files were forecast with different lookbacks, horizons or sample paths."""
    from kronos_quant.qlib_ext.volatility_study import forecast_file_settings

    for segment, path in files.items():
        if not path.is_file():
            raise ValueError(f"{path} is missing: run `{_command('forecast', args)} --segment {segment} "
                             f"--temperature {args.temperature:g}` first")
    settings = {segment: forecast_file_settings(path) for segment, path in files.items()}
    for name in ("lookback", "horizon", "paths", "top_p"):
        values = {segment: found.get(name) for segment, found in settings.items()}
        if None not in values.values() and len(set(values.values())) > 1:
            raise ValueError(f"mismatched {name}: {files['valid'].name} was forecast with {values['valid']}, "
                             f"{files['test'].name} with {values['test']}; forecast both segments with the same "
                             f"--{name.replace('_', '-')}")


def run_evaluate(args) -> int:
    from kronos_quant.qlib_ext.training_data import init_qlib_provider
    from kronos_quant.qlib_ext.volatility_study import evaluate_forecasts, load_bars, load_forecast
    from kronos_quant.research.vol_baselines import BaselineConfig
    from kronos_quant.research.vol_evaluation import VolEvalConfig, headline_metrics
    from kronos_quant.research.vol_report import write_vol_report

    start = time.time()
    files = {segment: paths_file(args.out, segment, args.temperature) for segment in ("valid", "test")}
    _data(args)  # the shared options' checks
    check_forecast_files(files, args)
    init_qlib_provider(args.provider)
    config = VolEvalConfig(baselines=BaselineConfig(refit_every=args.refit_every))
    valid = load_forecast(files["valid"])
    test = load_forecast(files["test"])
    instruments = sorted(set(valid[0].get_level_values("instrument")) | set(test[0].get_level_values("instrument")))
    tables, scales = evaluate_forecasts(valid, test, load_bars(instruments, BARS_START, "2024-06-28"), config)
    folder = Path(args.out) / "evaluation"
    folder.mkdir(parents=True, exist_ok=True)
    for name, table in tables.items():
        if name != "points":
            table.to_csv(folder / f"{name}.csv", index=False)
    scale_rows = {h: s._asdict() for h, s in scales.items()}
    metrics = dict(headline_metrics(tables), **{f"spread_scale_h{h}": s.scale for h, s in scales.items()})
    (folder / "metrics.json").write_text(json.dumps({"metrics": metrics, "spread_scales": scale_rows}, indent=1))
    write_vol_report(tables, folder / "report.html", title="Kronos volatility forecasts (CSI300 test)",
                     spread_scales={h: s.scale for h, s in scales.items()})
    print(f"tables, metrics.json and report.html -> {folder}\nwall {time.time() - start:.0f} s")
    return 0


