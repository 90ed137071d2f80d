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

import copy
import logging
import math
from pathlib import Path

logger = logging.getLogger(__name__)

SIGNAL_METRICS = ("IC", "ICIR", "Rank IC", "Rank ICIR")
PORTFOLIO_METRICS = ("annualized_return", "information_ratio", "max_drawdown")
EXCESS_KINDS = ("excess_return_without_cost", "excess_return_with_cost")


def load_workflow_config(path: str | Path, *, provider_dir: str | Path | None = None) -> dict:
    """The rendered, parsed workflow YAML; ``provider_dir`` replaces ``qlib_init.provider_uri``.

    A YAML syntax error is a ValueError naming the file, the line and that line's text.
    """
    from qlib.cli.run import render_template
    from ruamel.yaml import YAML
    from ruamel.yaml.error import MarkedYAMLError

    path = Path(path)
    if not path.is_file():
        raise ValueError(f"workflow file {path} does not exist (relative paths are from the working directory)")
    try:
        config = YAML(typ="safe", pure=True).load(render_template(str(path)))
    except MarkedYAMLError as err:
        raise ValueError(yaml_error_message(path, err)) from None
    if not isinstance(config, dict) or "task" not in config or "qlib_init" not in config:
        raise ValueError(f"{path} is not a qrun workflow: it needs top-level 'qlib_init' and 'task' sections")
    if config.get("BASE_CONFIG_PATH"):
        raise ValueError(f"{path} uses BASE_CONFIG_PATH; run it with plain `qrun {path}` instead")
    if provider_dir is not None:
        config["qlib_init"]["provider_uri"] = str(Path(provider_dir).expanduser().resolve())
    return config


def yaml_error_message(path: Path, err) -> str:
    """``FILE, line N: problem`` plus the text of the line(s) ruamel points at (its marks are 0-based).

    ruamel reports where it *noticed* the problem, which can be a line or two after the typo (an
    unclosed bracket is noticed at the next key), so the line of the enclosing construct is named too.
    """
    lines = path.read_text(errors="replace").splitlines()

    def quoted(mark) -> str:
        text = lines[mark.line].strip() if 0 <= mark.line < len(lines) else ""
        return f"line {mark.line + 1}: {text}" if text else f"line {mark.line + 1}"

    problem_mark, context_mark = err.problem_mark or err.context_mark, err.context_mark
    # an unfinished key or flow collection is the typo itself; a block mapping is only its parent
    at = context_mark if context_mark is not None and any(
        word in (err.context or "") for word in ("scanning", "flow")) else problem_mark
    message = f"{path}, line {at.line + 1}: YAML syntax error: {err.problem or err.context}"
    if context_mark is not None and context_mark.line != problem_mark.line:
        message += f"\n  {err.context or 'started'} at {quoted(context_mark)}"
    message += f"\n  noticed at {quoted(problem_mark)}"
    return message + "\n  (check indentation, a missing ':' or an unclosed bracket/quote there)"


def init_qlib_from_config(config: dict, config_path: str | Path, *, uri_folder: str = "mlruns") -> None:
    """``qlib.init`` as qrun does it (sys paths; Qlib's file store under ``uri_folder`` when no exp_manager)."""
    from qlib.cli.run import sys_config

    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    sys_config(config, str(config_path))
    has_store = "exp_manager" in config["qlib_init"]
    init_qlib(config["qlib_init"], tracking_uri=None if has_store else "file:" + str(Path.cwd().resolve() / uri_folder))


def run_workflow(path: str | Path, *, experiment_name: str | None = None, provider_dir: str | Path | None = None,
                 config: dict | None = None):
    """Run the workflow like ``qrun path``; returns the finished recorder.

    The experiment is ``experiment_name``, else the YAML's ``experiment_name``, else "workflow".
    ``config``: the already loaded (e.g. edited) workflow to run instead of reading ``path`` again;
    ``path`` still anchors its ``sys`` paths and names it in messages.
    Segments, dates and the dataset/model contract are checked (:func:`check_workflow`) before
    anything trains. The recorder's ``config`` artifact is the workflow as data (what the YAML said),
    never the live model and dataset that ``task_train`` puts in place of ``<MODEL>``/``<DATASET>``.
    A KeyboardInterrupt (Ctrl-C) marks the run KILLED, another error FAILED (``task_train`` alone
    leaves such a run for MLflow to close as FINISHED).
    """
    from qlib.model.trainer import task_train

    config = load_workflow_config(path, provider_dir=provider_dir) if config is None else config
    init_qlib_from_config(config, path)
    check_workflow(config, path)
    name = experiment_name or config.get("experiment_name") or "workflow"
    recorded = copy.deepcopy(config)  # task_train fills placeholders in place with live objects
    try:
        recorder = task_train(config["task"], experiment_name=name)
    except BaseException as err:
        end_interrupted_run(err)
        raise
    recorder.save_objects(config=recorded)
    return recorder


def end_interrupted_run(err: BaseException) -> tuple[str, str] | None:
    """End the run an interruption left active: KILLED for Ctrl-C/SystemExit, FAILED otherwise.

    Qlib's ``R.start`` ends a run (FAILED) only for an ``Exception``, so a KeyboardInterrupt leaves it
    active, and MLflow would later close it as FINISHED. Returns ``(run id, status)``, or None when no run
    was active (Qlib had already ended it FAILED).
    """
    from qlib.workflow import R
    from qlib.workflow.recorder import Recorder

    experiment = R.exp_manager.active_experiment
    recorder = None if experiment is None else experiment.active_recorder
    if recorder is None:
        return None
    R.end_exp(Recorder.STATUS_FA)
    status = "KILLED" if isinstance(err, (KeyboardInterrupt, SystemExit)) else "FAILED"
    if status == "KILLED":
        recorder.client.set_terminated(recorder.id, status="KILLED")
    logger.warning("run %s of experiment %s ended %s (%s); it has no complete results", recorder.id,
                   recorder.experiment_id, status, type(err).__name__)
    return recorder.id, status


def check_workflow(config: dict, path: str | Path = "workflow") -> None:
    """ValueErrors, before anything trains, for mistakes that would otherwise surface after training.

    Checks the dataset segments (names a record needs, misspellings, order, within the provider's
    calendar and the handler's range), the PortAnaRecord backtest lying inside the test segment and the
    model's lookback/horizon against the dataset's. Needs ``qlib.init`` (for the calendar).
    """
    from kronos_quant.qlib_ext.workflow_checks import check_task

    check_task(config["task"], where=str(path))


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
