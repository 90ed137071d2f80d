"""Read finished Qlib workflow runs (MLflow recorders) back as report inputs.

A run must hold ``pred.pkl`` and ``label.pkl`` (``SignalRecord``); ``portfolio_analysis/
report_normal_1day.pkl`` and ``port_analysis_1day.pkl`` (``PortAnaRecord``) are used when
present, and ``pred_raw.pkl`` (``NeutralizeSignalRecord``) adds a ``<name>_raw`` signal.
"""
from __future__ import annotations

import logging
from pathlib import Path

from kronos_quant.qlib_ext.records import RAW_PRED, try_load, load_signal_result
from kronos_quant.research.report_data import SignalResult

logger = logging.getLogger(__name__)


def normalize_uri(uri: str | None) -> str:
    """``None`` -> the workflows' ``sqlite:///mlflow.db`` if it exists here, else ``file:<cwd>/mlruns``;
    a bare path -> ``file:<absolute path>``; URIs unchanged."""
    if uri is None:
        if (Path.cwd() / "mlflow.db").is_file():
            return "sqlite:///mlflow.db"
        return f"file:{Path.cwd() / 'mlruns'}"
    if "://" in uri or uri.startswith("file:"):
        return uri
    return f"file:{Path(uri).expanduser().resolve()}"


def ensure_qlib(uri: str) -> None:
    """``qlib.init`` with an MLflow experiment manager at ``uri`` unless qlib is already initialised."""
    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    init_qlib(tracking_uri=uri, reuse=True)


def check_store_exists(uri: str) -> None:
    """A ValueError when a local tracking store (``file:`` folder or sqlite file) does not exist yet."""
    if uri.startswith("file:"):
        path = Path(uri[len("file:"):].removeprefix("//"))
    elif uri.startswith("sqlite:///"):
        path = Path(uri[len("sqlite:///"):])
    else:
        return  # a server: it answers for itself
    if not path.exists():
        raise ValueError(f"no MLflow tracking store at {path.absolute()} (nothing was recorded there); pass the "
                         "workflow's store with --uri, e.g. --uri sqlite:///mlflow.db or --uri mlruns")


QRUN_DEFAULT_RECORDER_NAME = "mlflow_recorder"


def _run_name(recorder, taken: set, experiment: str) -> str:
    """The recorder's name; qrun's default name becomes the experiment's; the run id keeps names unique."""
    name = recorder.name or recorder.id
    if name == QRUN_DEFAULT_RECORDER_NAME:
        name = experiment
    return f"{name}_{recorder.id[:8]}" if name in taken else name


def load_runs(experiment: str, run_ids=None, *, uri: str | None = None, latest: bool = False,
              taken: set | None = None) -> list[SignalResult]:
    """One :class:`SignalResult` per run (all runs of ``experiment`` when ``run_ids`` is empty).

    ``latest`` keeps only the experiment's most recent run. Signals are named after the recorder
    (qrun's default recorder name becomes the experiment name), made unique with the run id against
    ``taken`` (share one set across calls to combine experiments in one report).
    """
    from qlib.workflow import R

    uri = normalize_uri(uri)
    check_store_exists(uri)  # before qlib.init, which would create an empty store
    ensure_qlib(uri)
    with R.uri_context(uri):
        try:
            exp = R.get_exp(experiment_name=experiment, create=False)
        except ValueError as err:
            raise ValueError(f"experiment {experiment!r} not found under {uri}; check --experiment/--uri") from err
        recorders = exp.list_recorders()
        wanted = list(run_ids) if run_ids else sorted(recorders)
        if latest and not run_ids and wanted:
            wanted = [max(wanted, key=lambda run: str(getattr(recorders[run], "start_time", "")))]
        unknown = [run for run in wanted if run not in recorders]
        if unknown:
            raise ValueError(f"runs {unknown} not in experiment {experiment!r}; available: {sorted(recorders)}")
        results, taken = [], set() if taken is None else taken
        for run_id in wanted:
            recorder = recorders[run_id]
            name = _run_name(recorder, taken, experiment)
            taken.add(name)
            result = load_signal_result(recorder, name)
            results.append(result)
            raw = try_load(recorder, RAW_PRED)
            if raw is not None:
                results.append(SignalResult(name=f"{name}_raw", pred=raw, label=result.label))
        logger.info("loaded %d signal(s) from experiment %s", len(results), experiment)
        return results
