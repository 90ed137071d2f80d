"""``kronos-quant data``: synth | import-csv | check | universe."""
from __future__ import annotations

import argparse
import logging
from dataclasses import replace

logger = logging.getLogger(__name__)


def _synth(args: argparse.Namespace) -> int:
    from kronos_quant.data.synth import SynthConfig, write_synthetic_market

    config = SynthConfig(seed=args.seed)
    overrides = {k: v for k, v in (("start", args.start), ("end", args.end)) if v is not None}
    if args.instruments is not None:
        overrides["n_instruments"] = args.instruments
        overrides["universe_size"] = min(config.universe_size, max(1, int(0.75 * args.instruments)))
    config = replace(config, **overrides)
    path = write_synthetic_market(args.out, config)
    print(f"synthetic market written to {path}")  # the CLI's result, not a log line
    return 0


def _import_csv(args: argparse.Namespace) -> int:
    from kronos_quant.data.csv_import import import_csv_dir

    future_calendar = None
    if args.future_calendar is not None:
        import pandas as pd

        future_calendar = pd.read_csv(args.future_calendar, header=None, comment="#").iloc[:, 0]
    path = import_csv_dir(args.src_dir, args.out, universe_file=args.universe_file,
                          universe_name=args.universe_name, freq=args.freq, date_format=args.date_format,
                          exchange=None if args.exchange.lower() == "none" else args.exchange,
                          future_calendar=future_calendar, future_days=args.future_days)
    print(f"Qlib provider written to {path}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from kronos_quant.data.checks import check_provider

    report = check_provider(args.provider_dir)
    print(report.format())
    return 0 if report.ok else 1


def _universe(args: argparse.Namespace) -> int:
    from kronos_quant.data.universe import UniverseSettings, build_universe

    settings = UniverseSettings(top_n=args.top, window=args.window, min_days=args.min_days,
                                exclude=None if args.exclude.lower() == "none" else args.exclude)
    path = build_universe(args.provider_dir, name=args.name, settings=settings, out_dir=args.out,
                          start=args.start, end=args.end, overlay=args.out is not None)
    print(f"universe written to {path}")
    return 0


def register(subparsers) -> None:
    """Add the ``data`` subcommand and its sub-subcommands."""
    from kronos_quant.cli import iso_date

    data = subparsers.add_parser("data", help="synthetic market, CSV import and data checks")
    commands = data.add_subparsers(dest="data_command", required=True)

    synth = commands.add_parser("synth", help="write the synthetic A-share market in Qlib format")
    synth.add_argument("--out", default="qlib_data/cn_synth", help="provider directory to (re)write")
    synth.add_argument("--seed", type=int, default=42)
    synth.add_argument("--instruments", type=int, default=None, help="number of stocks (default 400)")
    synth.add_argument("--start", default=None, type=iso_date, help="first calendar day, YYYY-MM-DD")
    synth.add_argument("--end", default=None, type=iso_date, help="last calendar day, YYYY-MM-DD")
    synth.set_defaults(func=_synth)

    importer = commands.add_parser("import-csv", help="per-instrument CSV files -> Qlib provider")
    importer.add_argument("src_dir", help="directory of <INSTRUMENT>.csv files")
    importer.add_argument("--out", required=True, help="provider directory to write")
    importer.add_argument("--universe-file", default=None, help="CSV of spans: instrument,start,end")
    importer.add_argument("--universe-name", default="csi300")
    importer.add_argument("--freq", default="day", choices=["day"])
    importer.add_argument("--exchange", default="XSHG",
                          help="exchange_calendars name whose sessions fill day_future.txt (XSHG, XSHE, XNYS, ...); "
                               "'none' for plain business days (default XSHG)")
    importer.add_argument("--future-calendar", default=None,
                          help="file of future session dates, one per line; replaces --exchange for day_future.txt")
    importer.add_argument("--future-days", type=int, default=30, help="sessions in day_future.txt after the data")
    importer.add_argument("--date-format", default=None,
                          help="strftime format of non-ISO dates, e.g. '%%d/%%m/%%Y' (default: ISO 8601 only)")
    importer.set_defaults(func=_import_csv)

    check = commands.add_parser("check", help="report problems in a Qlib provider directory")
    check.add_argument("provider_dir")
    check.set_defaults(func=_check)

    universe = commands.add_parser("universe", help="point-in-time liquid universe -> a Qlib instruments file")
    universe.add_argument("provider_dir", help="source Qlib provider (instruments/all.txt, close and volume)")
    universe.add_argument("--name", default="liquid1000", help="universe name: instruments/<name>.txt")
    universe.add_argument("--out", default=None,
                          help="folder made a provider of its own (calendars/, features/ linked to the source, "
                               "instruments copied) for the new file; default: write into provider_dir")
    universe.add_argument("--top", type=int, default=1000, help="members at each monthly rebalance")
    universe.add_argument("--window", type=int, default=60, help="trailing trading days of traded value")
    universe.add_argument("--min-days", type=int, default=40, help="traded days needed in the window")
    universe.add_argument("--exclude", default="csi300", help="universe left out at each rebalance ('none': none)")
    universe.add_argument("--start", default=None, type=iso_date, help="first day, YYYY-MM-DD")
    universe.add_argument("--end", default=None, type=iso_date, help="last day, YYYY-MM-DD")
    universe.set_defaults(func=_universe)

    from kronos_quant.cli.generate import add_generate

    add_generate(commands)  # data generate: Kronos-generated universes as Qlib providers
