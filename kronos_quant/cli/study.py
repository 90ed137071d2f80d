"""``kronos-quant study``: the walk-forward alpha study (Kronos vs LightGBM/Alpha158 vs naive factors)."""
from __future__ import annotations

import argparse
import logging
import os

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``study`` subcommand."""
    parser = subparsers.add_parser(
        "study", help="walk-forward alpha study on Qlib's rolling machinery (resumable)",
        description="Roll every signal of a study YAML over the test span (Qlib RollingGen + TrainerR), score all "
                    "signals on the same rows and write an HTML + CSV comparison under <output_dir>/report.")
    parser.add_argument("--config", required=True, help="study YAML, e.g. studies/csi300.yaml")
    parser.add_argument("--short", action="store_true", help="apply the YAML's short: section (CI mode)")
    parser.add_argument("--output-dir", default=None, help="override output_dir (a fresh dir starts over; the "
                                                          "same dir resumes from the last finished window)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run the study and print the headline table; returns the exit code."""
    import dataclasses

    from kronos_quant.study.config import load_study_config
    from kronos_quant.study.report import headline_table
    from kronos_quant.study.run import run_study

    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    config = load_study_config(args.config, short=args.short)
    if args.output_dir:
        config = dataclasses.replace(config, output_dir=args.output_dir)
    result = run_study(config)
    print(headline_table(result.summary).to_string())
    print(f"wall time {result.wall_s:.0f} s; report: {config.output_dir}/report/study.html")
    return 0


def main(argv: list[str] | None = None) -> int:
    """``python -m kronos_quant.cli.study --config ...`` (the same as ``kronos-quant study``)."""
    parser = argparse.ArgumentParser(prog="kronos-quant")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["study", *(argv if argv is not None else __import__("sys").argv[1:])])
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
