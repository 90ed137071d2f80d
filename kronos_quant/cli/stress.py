"""``kronos-quant stress --config configs/stress_*.yaml``: a strategy across Kronos-generated universes.

Register in kronos_quant/cli/__init__.py: add "stress" to SUBCOMMAND_MODULES.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``stress`` subcommand."""
    parser = subparsers.add_parser("stress", help="Monte-Carlo stress test over Kronos-generated universes")
    parser.add_argument("--config", required=True, help="stress YAML (see configs/stress_csi300.yaml)")
    parser.add_argument("--n-universes", type=int, default=None, help="override n_universes")
    parser.add_argument("--out-dir", default=None, help="override out_dir")
    parser.add_argument("--t0", action="append", default=None, help="override t0 (repeatable), YYYY-MM-DD")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from kronos_quant.universes.pipeline import StressConfig, run_stress

    config = StressConfig.from_yaml(args.config)
    overrides = {"n_universes": args.n_universes, "out_dir": args.out_dir,
                 "t0": tuple(args.t0) if args.t0 else None}
    config = dataclasses.replace(config, **{k: v for k, v in overrides.items() if v is not None})
    results = run_stress(config)
    for t0, strategies in results.items():
        for result in strategies:
            summary = result.summary()
            realised = summary.get("excess_return_realised_percentile", float("nan"))
            print(f"{t0} {result.strategy.name}: P(excess<0) {summary['p_excess_loss']:.2f}, median excess "
                  f"{summary['excess_return_q50']:+.4f}, realised excess percentile {realised:.0f}")
    for t0 in results:
        print(f"report: {report_path(config.out_dir, t0)}")
    return 0


def report_path(out_dir, t0: str):
    """Where :func:`kronos_quant.universes.pipeline.run_stress` writes the report of ``t0`` (YYYY-MM-DD)."""
    from pathlib import Path

    return Path(out_dir) / t0 / "stress_report.html"
