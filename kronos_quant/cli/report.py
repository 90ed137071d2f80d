"""``kronos-quant report``: HTML/PNG/JSON report of one or several Qlib workflow runs."""
from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="offline HTML report (IC, quantiles, backtest) of Qlib MLflow runs",
        description="Read pred.pkl, label.pkl and portfolio_analysis/* of Qlib runs and write report.html, "
        "figures/*.png, metrics.json and CSVs.",
    )
    parser.add_argument("--experiment", required=True, action="append",
                        help="Qlib/MLflow experiment name; repeat it to put several experiments side by side "
                             "(e.g. Kronos and the LightGBM baseline)")
    parser.add_argument("--run", action="append", default=None, metavar="ID",
                        help="run id (repeatable; only with a single --experiment); default: all runs")
    parser.add_argument("--latest", action="store_true", help="only the most recent run of each experiment")
    parser.add_argument("--uri", default=None,
                        help="MLflow tracking URI or mlruns path "
                             "(default: sqlite:///mlflow.db if present, else ./mlruns)")
    parser.add_argument("--out", default="report", help="output directory (default ./report)")
    parser.add_argument("--title", default=None, help="report title (default: the experiment name)")
    parser.add_argument("--quantiles", type=int, default=5, help="quantile groups (default 5)")
    parser.add_argument("--rolling-window", type=int, default=20, help="rolling IC window in days (default 20)")
    parser.add_argument("--decay-horizons", type=int, default=20, metavar="DAYS",
                        help="IC decay over label horizons 1..DAYS (default 20; 0 turns it off); reads closes "
                             "from the provider")
    parser.add_argument("--provider-uri", default=None,
                        help="Qlib data dir for the IC decay closes (default: the provider in the run's saved "
                             "workflow config)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the runs and write the report; returns the process exit code."""
    from kronos_quant.qlib_ext.mlflow_runs import load_runs
    from kronos_quant.research.report_html import write_report

    if args.run and len(args.experiment) > 1:
        logger.error("--run selects runs of one experiment; drop it or pass a single --experiment")
        return 2
    if args.run and args.latest:
        logger.error("--run and --latest both pick runs; pass one of them")
        return 2
    if args.quantiles < 2 or args.rolling_window < 2:
        logger.error("--quantiles and --rolling-window must be >= 2 (got %d and %d)", args.quantiles,
                     args.rolling_window)
        return 2
    if args.decay_horizons < 0:
        logger.error("--decay-horizons must be >= 0 days (0 turns IC decay off); got %d", args.decay_horizons)
        return 2
    results, taken = [], set()
    try:
        for experiment in args.experiment:
            results += load_runs(experiment, args.run, uri=args.uri, latest=args.latest, taken=taken,
                                 decay_horizons=args.decay_horizons, provider_uri=args.provider_uri)
    except ValueError as err:
        logger.error("%s", err)
        return 2
    path = write_report(
        results, args.out, title=args.title or f"Kronos report: {', '.join(args.experiment)}",
        n_quantiles=args.quantiles, rolling_window=args.rolling_window,
    )
    logger.info("wrote %s", path)
    return 0
