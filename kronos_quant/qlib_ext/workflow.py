"""Run a qrun workflow YAML in-process and read its headline results back.

:func:`run_workflow` does what ``qrun FILE.yaml`` does (``qlib.cli.run.workflow``: Jinja rendering
with environment variables, ``sys`` paths, ``qlib.init(**qlib_init)``, ``task_train``), and also
returns the recorder and can point ``qlib_init.provider_uri`` elsewhere. ``BASE_CONFIG_PATH`` is
not supported here (use plain ``qrun`` for such files).

MLflow: the workflows in ``workflows/`` pass a sqlite tracking store in ``qlib_init.exp_manager``
(``sqlite:///mlflow.db``, artifacts under ``./mlruns``), which MLflow >= 3 accepts without
``MLFLOW_ALLOW_FILE_STORE``. A YAML without an ``exp_manager`` gets Qlib's default file store
under ``./mlruns`` (then export ``MLFLOW_ALLOW_FILE_STORE=true``).
"""
from __future__ import annotations

import logging
import math
from pathlib import Path

logger = logging.getLogger(__name__)

SIGNAL_METRICS = ("IC", "ICIR", "Rank IC", "Rank ICIR")
PORTFOLIO_METRICS = ("annualized_return", "information_ratio", "max_drawdown")
EXCESS_KINDS = ("excess_return_without_cost", "excess_return_with_cost")


def load_workflow_config(path: str | Path, *, provider_dir: str | Path | None = None) -> dict:
    """The rendered, parsed workflow YAML; ``provider_dir`` replaces ``qlib_init.provider_uri``."""
    from qlib.cli.run import render_template
    from ruamel.yaml import YAML

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"workflow file {path} does not exist (relative paths are from the working directory)")
    config = YAML(typ="safe", pure=True).load(render_template(str(path)))
    if not isinstance(config, dict) or "task" not in config or "qlib_init" not in config:
        raise ValueError(f"{path} is not a qrun workflow: it needs top-level 'qlib_init' and 'task' sections")
    if config.get("BASE_CONFIG_PATH"):
        raise ValueError(f"{path} uses BASE_CONFIG_PATH; run it with plain `qrun {path}` instead")
    if provider_dir is not None:
        config["qlib_init"]["provider_uri"] = str(Path(provider_dir).expanduser().resolve())
    return config


def init_qlib_from_config(config: dict, config_path: str | Path, *, uri_folder: str = "mlruns") -> None:
    """``qlib.init`` as qrun does it (sys paths; Qlib's file store under ``uri_folder`` when no exp_manager)."""
    from qlib.cli.run import sys_config

    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    sys_config(config, str(config_path))
    has_store = "exp_manager" in config["qlib_init"]
    init_qlib(config["qlib_init"], tracking_uri=None if has_store else "file:" + str(Path.cwd().resolve() / uri_folder))


def run_workflow(path: str | Path, *, experiment_name: str | None = None, provider_dir: str | Path | None = None):
    """Run the workflow like ``qrun path``; returns the finished recorder.

    The experiment is ``experiment_name``, else the YAML's ``experiment_name``, else "workflow".
    """
    from qlib.model.trainer import task_train

    config = load_workflow_config(path, provider_dir=provider_dir)
    init_qlib_from_config(config, path)
    name = experiment_name or config.get("experiment_name") or "workflow"
    recorder = task_train(config["task"], experiment_name=name)
    recorder.save_objects(config=config)
    return recorder


def _finite(value) -> float:
    value = float(value)
    return value if math.isfinite(value) else float("nan")


def summarize_recorder(recorder, freq: str = "1day") -> dict[str, float]:
    """IC, ICIR, Rank IC, Rank ICIR and, per excess-return kind, annualized return, IR and max drawdown.

    Read from the artifacts (``sig_analysis/*.pkl``, ``portfolio_analysis/port_analysis_<freq>.pkl``),
    so it works for any finished run; missing pieces are NaN.
    """
    from kronos_quant.qlib_ext.records import flush_async_log, try_load

    flush_async_log(recorder)
    summary = {name: float("nan") for name in SIGNAL_METRICS}
    for key, artifact in (("IC", "sig_analysis/ic.pkl"), ("Rank IC", "sig_analysis/ric.pkl")):
        series = try_load(recorder, artifact)
        if series is not None and len(series.dropna()) > 1:
            summary[key] = _finite(series.mean())
            summary[f"{key}IR"] = _finite(series.mean() / series.std())  # ICIR, Rank ICIR
    risk = try_load(recorder, f"portfolio_analysis/port_analysis_{freq}.pkl")
    for kind in EXCESS_KINDS:
        for metric in PORTFOLIO_METRICS:
            value = risk.loc[(kind, metric), "risk"] if risk is not None and (kind, metric) in risk.index else "nan"
            summary[f"{kind}.{metric}"] = _finite(value)
    return summary


def artifact_dir(recorder) -> Path | None:
    """Local folder of the recorder's artifacts (None for a remote store)."""
    uri = recorder.get_artifact_uri()
    if uri.startswith("file:"):
        uri = uri[len("file:"):]
        uri = uri[2:] if uri.startswith("//") else uri
    path = Path(uri)
    return path if path.is_dir() else None


def format_summary(summary: dict[str, float]) -> str:
    """A small fixed-width table of :func:`summarize_recorder`'s numbers."""
    lines = ["signal:"]
    lines += [f"  {name:<10} {summary[name]: .4f}" for name in SIGNAL_METRICS]
    for kind in EXCESS_KINDS:
        lines.append(f"{kind.replace('_', ' ')}:")
        lines += [f"  {metric:<18} {summary[f'{kind}.{metric}']: .4f}" for metric in PORTFOLIO_METRICS]
    return "\n".join(lines)
