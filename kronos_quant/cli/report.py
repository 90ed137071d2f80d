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
    parser.add_argument("--experiment", required=True, help="Qlib/MLflow experiment name")
    parser.add_argument("--run", action="append", default=None, metavar="ID", help="run id (repeatable); default: all runs")
    parser.add_argument("--uri", default=None, help="MLflow tracking URI or mlruns path (default: sqlite:///mlflow.db if present, else ./mlruns)")
    parser.add_argument("--out", default="report", help="output directory (default ./report)")
    parser.add_argument("--title", default=None, help="report title (default: the experiment name)")
    parser.add_argument("--quantiles", type=int, default=5, help="quantile groups (default 5)")
    parser.add_argument("--rolling-window", type=int, default=20, help="rolling IC window in days (default 20)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Load the runs and write the report; returns the process exit code."""
    from kronos_quant.qlib_ext.mlflow_runs import load_runs
    from kronos_quant.research.report_html import write_report

    try:
        results = load_runs(args.experiment, args.run, uri=args.uri)
    except ValueError as err:
        logger.error("%s", err)
        return 2
    path = write_report(
        results, args.out, title=args.title or f"Kronos report: {args.experiment}",
        n_quantiles=args.quantiles, rolling_window=args.rolling_window,
    )
    logger.info("wrote %s", path)
    return 0
