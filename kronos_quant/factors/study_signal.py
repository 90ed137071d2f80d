"""The walk-forward study's ``alpha158_kronos`` signal: LightGBM on Alpha158 + cross-fitted Kronos features.

List this module under the study YAML's ``signal_modules`` and the name under ``signals``::

    signal_modules: [kronos_quant.factors.study_signal]
    signals: [kronos, lightgbm_alpha158, alpha158_kronos, ...]

The Kronos feature settings are the ``kronos`` mapping of the Alpha158Kronos handler in a qrun
workflow (default ``workflows/lightgbm_alpha158_kronos.yaml``; set ``KRONOS_FACTOR_WORKFLOW`` to
another), so the study, the qrun workflow and the comparison share one feature cache. The
handler's rows start at the later of the study's first training day and that workflow's
``start_time`` (the first day a fold model exists for); the LightGBM parameters, segments and
rolling are exactly those of the study's ``lightgbm_alpha158`` task, so the two differ only by the
Kronos columns. No qlib at import (the YAML is rendered when the template is built).
"""
from __future__ import annotations

import copy
import os

import pandas as pd

from kronos_quant.study.registry import SignalSpec, register_signal

DEFAULT_WORKFLOW = "workflows/lightgbm_alpha158_kronos.yaml"


def feature_settings(path: str | None = None) -> tuple[dict, str]:
    """(kronos mapping, rows start) of the Alpha158Kronos handler in a qrun workflow YAML."""
    from kronos_quant.qlib_ext.kronos_factor_study import load_workflow

    workflow = load_workflow(path or os.environ.get("KRONOS_FACTOR_WORKFLOW", DEFAULT_WORKFLOW))
    handler = workflow["task"]["dataset"]["kwargs"]["handler"]
    if handler.get("class") != "Alpha158Kronos":
        raise ValueError(f"{path or DEFAULT_WORKFLOW}: the task's handler is {handler.get('class')}, not "
                         "Alpha158Kronos; point KRONOS_FACTOR_WORKFLOW at a blended workflow")
    return dict(handler["kwargs"]["kronos"]), str(handler["kwargs"]["start_time"])


def alpha158_kronos_task(config) -> dict:
    """The study's LightGBM/Alpha158 task template with the Alpha158Kronos handler."""
    from kronos_quant.study.tasks import lightgbm_alpha158_task

    task = copy.deepcopy(lightgbm_alpha158_task(config))
    kronos, rows_start = feature_settings()
    kronos = {**kronos, "provider_uri": str(config.provider_uri), "instruments": config.market}
    dataset = task["dataset"]["kwargs"]
    start = max(pd.Timestamp(rows_start), pd.Timestamp(config.windows.train[0]))
    if start >= pd.Timestamp(config.windows.train[1]):
        raise ValueError(f"alpha158_kronos: Kronos features start {start:%Y-%m-%d}, after the first training window "
                         f"ends ({config.windows.train[1]}); start the study's windows later")
    handler = dataset["handler"]
    handler.update({"class": "Alpha158Kronos", "module_path": "kronos_quant.qlib_ext.kronos_factor_handler"})
    handler["kwargs"].update(start_time=f"{start:%Y-%m-%d}", fit_start_time=f"{start:%Y-%m-%d}", kronos=kronos)
    dataset["segments"]["train"] = (f"{start:%Y-%m-%d}", dataset["segments"]["train"][1])
    return task


register_signal(SignalSpec(name="alpha158_kronos", kind="rolled", task=alpha158_kronos_task, cache_handler=True,
                           description="LightGBM on Alpha158 + cross-fitted Kronos forecast features"),
                replace=True)
