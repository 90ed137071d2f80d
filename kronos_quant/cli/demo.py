"""``kronos-quant demo``: synthetic market -> tiny Kronos trained from scratch -> Qlib backtest -> report.

::

    kronos-quant demo                                   # workflows/demo.yaml on qlib_data/cn_synth
    kronos-quant demo --workflow workflows/demo.yaml --provider-dir qlib_data/cn_synth --experiment kronos_demo

Generates the synthetic market when it is missing, runs the workflow in-process (what ``qrun``
does), then prints IC, ICIR, RankIC, RankICIR, the annualized excess return with and without cost
(+ information ratio and max drawdown) and where the artifacts are.
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

logger = logging.getLogger(__name__)

DEFAULT_WORKFLOW = "workflows/demo.yaml"
EXIT_INTERRUPTED = 130  # what a shell reports for Ctrl-C (128 + SIGINT)


def register(subparsers) -> None:
    """Add the ``demo`` subcommand."""
    parser = subparsers.add_parser("demo", help="end-to-end demo: synthetic market, tiny Kronos, backtest, report",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--workflow", default=DEFAULT_WORKFLOW, help=f"qrun YAML (default {DEFAULT_WORKFLOW})")
    parser.add_argument("--provider-dir", default=None,
                        help="Qlib data dir (default: the YAML's qlib_init.provider_uri); the synthetic market "
                             "is generated there when missing")
    parser.add_argument("--experiment", default=None, help="experiment name (default: the YAML's experiment_name)")
    parser.add_argument("--fast", action="store_true",
                        help="a smaller training budget, 2 sample paths and a one-quarter test (about a minute; "
                             "what CI runs); its figures are not the README's")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kronos_quant.data.synth import ensure_synthetic_market
    from kronos_quant.qlib_ext.workflow import (
        artifact_dir,
        format_summary,
        load_workflow_config,
        run_workflow,
        summarize_recorder,
    )

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    started = time.perf_counter()
    config = load_workflow_config(args.workflow)
    if args.fast:
        from kronos_quant.qlib_ext.quickstart import fast_demo_config

        config = fast_demo_config(config)
    provider = Path(args.provider_dir or config["qlib_init"]["provider_uri"]).expanduser()
    if not (provider / "calendars" / "day.txt").is_file():
        logger.info("no market at %s: generating the synthetic market", provider)
        ensure_synthetic_market(provider)
    config["qlib_init"]["provider_uri"] = str(provider.resolve())  # the saved config names it absolutely
    try:
        recorder = run_workflow(args.workflow, experiment_name=args.experiment, config=config)
    except KeyboardInterrupt:  # run_workflow marked the run KILLED; a rerun starts a new run from scratch
        sys.stderr.write("kronos-quant demo: interrupted; the run is marked KILLED (report skips it). Rerun "
                         "`kronos-quant demo` to start a fresh run.\n")
        return EXIT_INTERRUPTED
    summary = summarize_recorder(recorder)
    artifacts = artifact_dir(recorder)
    print(format_summary(summary))
    experiment = args.experiment or config.get("experiment_name") or "workflow"
    print(f"experiment: {experiment} (id {recorder.experiment_id})  run: {recorder.id}  tracking: {recorder.uri}")
    if artifacts is not None:
        print(f"artifacts:  {artifacts}")
        print(f"report:     {artifacts / 'report' / 'report.html'}")
        print(f"compare runs: kronos-quant report --experiment {experiment} --out reports/{experiment}")
    print(f"wall time:  {time.perf_counter() - started:.0f} s")
    return 0
