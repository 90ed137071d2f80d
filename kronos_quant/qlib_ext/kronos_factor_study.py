"""Plain Alpha158 vs Alpha158 + Kronos features, LightGBM rolled over test periods.

::

    python -m kronos_quant.qlib_ext.kronos_factor_study --phase features   # fill the feature cache
    python -m kronos_quant.qlib_ext.kronos_factor_study --phase compare    # roll both LightGBMs, report

Both phases read the handler settings (rows, ``kronos`` feature config) of
``workflows/lightgbm_alpha158_kronos.yaml``, so the study, the qrun workflow and a re-run share
one feature cache. For each test period both LightGBMs train on the rows before the 6 months that precede a test period,
early-stop on those 6 months and predict the period: the same rows, the same label
(``Ref($close, -2) / Ref($close, -1) - 1``), the same LightGBM parameters (Qlib's benchmark ones).
The comparison itself is :mod:`kronos_quant.qlib_ext.kronos_factor_compare`.
"""
from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import yaml

from kronos_quant.factors.config import KronosFactorConfig

logger = logging.getLogger(__name__)

DEFAULT_WORKFLOW = "workflows/lightgbm_alpha158_kronos.yaml"


def load_workflow(path: str | Path) -> dict:
    """The workflow YAML rendered as qrun renders it (Jinja placeholders from the environment)."""
    from qlib.cli.run import render_template

    if not Path(path).is_file():
        raise ValueError(f"workflow {path} does not exist")
    return yaml.safe_load(render_template(str(path)))


def handler_settings(workflow: dict) -> dict:
    """The Alpha158Kronos handler kwargs of the workflow (with the provider filled in)."""
    kwargs = dict(workflow["task"]["dataset"]["kwargs"]["handler"]["kwargs"])
    kronos = dict(kwargs["kronos"])
    kronos.setdefault("provider_uri", str(workflow["qlib_init"]["provider_uri"]))
    kronos.setdefault("instruments", kwargs["instruments"])
    kwargs["kronos"] = kronos
    return kwargs


def fill_features(workflow: dict) -> dict:
    """Compute (or read from the cache) every Kronos feature row of the workflow's handler range."""
    from kronos_quant.qlib_ext.kronos_factors import FOLD_COLUMN, kronos_features
    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    settings = handler_settings(workflow)
    config = KronosFactorConfig.from_mapping(settings["kronos"])
    init_qlib(provider_uri=config.provider_uri, reuse=True)
    began = time.perf_counter()
    features = kronos_features(config, settings["start_time"], settings["end_time"])
    seconds = time.perf_counter() - began
    folds = features[FOLD_COLUMN].value_counts().sort_index().to_dict()
    logger.info("Kronos features: %d rows, %d days, folds %s, %.1f s", len(features),
                features.index.get_level_values("datetime").nunique(), folds, seconds)
    return {"rows": int(len(features)), "seconds": round(seconds, 1), "rows_per_fold": folds}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflow", default=DEFAULT_WORKFLOW)
    parser.add_argument("--phase", choices=("features", "compare", "all"), default="all")
    parser.add_argument("--out", default="outputs/kronos_factor_study", help="tables and timings land here")
    parser.add_argument("--test-periods", default="2023-07-01:2023-12-31,2024-01-01:2024-06-12",
                        help="comma-separated start:end test periods, each after >= 9 months of rows")
    parser.add_argument("--seeds", default="", help="comma-separated extra LightGBM seeds (RankIC spread table)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    workflow = load_workflow(args.workflow)
    if args.phase in ("features", "all"):
        timing = fill_features(workflow)
        (out / "features_timing.json").write_text(json.dumps(timing, indent=1))
    if args.phase in ("compare", "all"):
        from kronos_quant.qlib_ext.kronos_factor_compare import run_comparison

        periods = [tuple(item.split(":")) for item in args.test_periods.split(",") if item.strip()]
        seeds = [int(seed) for seed in args.seeds.split(",") if seed.strip()]
        run_comparison(workflow, handler_settings(workflow), periods=periods, out=out, seeds=seeds)


if __name__ == "__main__":
    main()
