"""Read finished Qlib workflow runs (MLflow recorders) back as report inputs.

A run must hold ``pred.pkl`` and ``label.pkl`` (``SignalRecord``); ``portfolio_analysis/
report_normal_1day.pkl`` and ``port_analysis_1day.pkl`` (``PortAnaRecord``) are used when
present, and ``pred_raw.pkl`` (``NeutralizeSignalRecord``) adds a ``<name>_raw`` signal. The label
is read from the dataset ``task_train`` saved; IC decay needs the provider (``--provider-uri`` or
the ``qlib_init`` of the config qrun saved).
"""
from __future__ import annotations

import logging
from pathlib import Path

from kronos_quant.qlib_ext.records import signal_results, try_load, with_decay_labels
from kronos_quant.research.report_data import SignalResult
from kronos_quant.safe_pickle import ObjectUnpickler

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


def recorded_provider(recorder) -> str | None:
    """``qlib_init.provider_uri`` of the workflow config saved in the recorder (None if absent).

    ``run_workflow`` saves the config as data. Plain ``qrun`` saves it after ``task_train`` filled
    ``<MODEL>``/``<DATASET>`` with the live objects, which the data-only unpickler refuses; such a
    config is rebuilt with :class:`ObjectUnpickler` (objects recreated, never called) to read the one
    string, and when even that fails the provider is unknown (pass ``--provider-uri``).
    """
    try:
        config = try_load(recorder, "config")
    except ValueError:
        try:
            config = try_load(recorder, "config", ObjectUnpickler)
        except Exception as err:  # a config we cannot read must not stop a report; say why
            logger.warning("could not read the workflow config saved in run %s (%s); its provider is unknown",
                           recorder.id, err)
            return None
    provider = (config or {}).get("qlib_init", {}).get("provider_uri") if isinstance(config, dict) else None
    return provider if isinstance(provider, str) else None


def has_predictions(recorder) -> bool:
    """Whether the run holds ``pred.pkl`` (a run interrupted or failed before SignalRecord does not)."""
    try:
        return "pred.pkl" in recorder.list_artifacts()
    except Exception as err:  # an unreadable artifact store: treat the run as incomplete, say why
        logger.warning("could not list the artifacts of run %s (%s)", recorder.id, err)
        return False


def complete_runs(recorders: dict, wanted: list, experiment: str, *, explicit: bool) -> list:
    """``wanted`` without runs that lack ``pred.pkl`` (each named in a warning); an explicitly asked-for
    run without predictions, or no complete run at all, is a ValueError."""
    complete, skipped = [], []
    for run_id in wanted:
        (complete if has_predictions(recorders[run_id]) else skipped).append(run_id)
    for run_id in skipped:
        status = getattr(recorders[run_id], "status", "?")
        if explicit:
            raise ValueError(f"run {run_id} of experiment {experiment!r} (status {status}) has no pred.pkl: it was "
                             "interrupted or failed before SignalRecord; rerun the workflow or pick another --run")
        logger.warning("skipping run %s of experiment %s (status %s): no pred.pkl (interrupted or failed)", run_id,
                       experiment, status)
    if not complete:
        raise ValueError(f"experiment {experiment!r} has no run with predictions (pred.pkl) yet: every run was "
                         "interrupted or failed; rerun the workflow (e.g. kronos-quant demo)")
    return complete


def add_ic_decay(results: list[SignalResult], max_horizon: int, *, uri: str, provider_uri=None,
                 recorded: list | tuple = ()) -> list[SignalResult]:
    """``results`` with IC-decay labels (1..``max_horizon`` days) from ``provider_uri``.

    Without ``provider_uri`` the provider the runs' workflow used (``recorded``) is tried; when none
    is usable the decay is skipped with a warning (an explicit ``provider_uri`` that is not a Qlib data
    dir is a ValueError).
    """
    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    candidates = [provider_uri] if provider_uri is not None else [p for p in recorded if p]
    for candidate in candidates:
        try:
            init_qlib(provider_uri=candidate, tracking_uri=uri, reuse=True)
        except ValueError:
            if provider_uri is not None:
                raise
            continue
        try:
            return with_decay_labels(results, max_horizon)
        except ValueError as err:
            logger.warning("IC decay skipped: %s", err)
            return results
    logger.warning("IC decay skipped: no Qlib provider known for these runs; pass --provider-uri")
    return results


def load_runs(experiment: str, run_ids=None, *, uri: str | None = None, latest: bool = False,
              taken: set | None = None, decay_horizons: int = 0, provider_uri=None) -> list[SignalResult]:
    """One :class:`SignalResult` per run (all runs of ``experiment`` when ``run_ids`` is empty).

    ``latest`` keeps only the experiment's most recent run with predictions; runs without ``pred.pkl``
    (interrupted or failed) are skipped with a warning, or a ValueError when asked for by id. Signals are
    named after the recorder (qrun's default recorder name becomes the experiment name), made unique with
    the run id against ``taken`` (share one set across calls to combine experiments in one report). A run with
    ``pred_raw.pkl`` adds ``<name>_raw``. ``decay_horizons`` > 0 adds IC decay (see :func:`add_ic_decay`).
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
        unknown = [run for run in wanted if run not in recorders]
        if unknown:
            raise ValueError(f"runs {unknown} not in experiment {experiment!r}; available: {sorted(recorders)}")
        wanted = complete_runs(recorders, wanted, experiment, explicit=bool(run_ids))
        if latest and not run_ids:
            wanted = [max(wanted, key=lambda run: str(getattr(recorders[run], "start_time", "")))]
        results, providers, taken = [], [], set() if taken is None else taken
        for run_id in wanted:
            recorder = recorders[run_id]
            name = _run_name(recorder, taken, experiment)
            taken.add(name)
            results += signal_results(recorder, name)
            providers.append(recorded_provider(recorder))
        logger.info("loaded %d signal(s) from experiment %s", len(results), experiment)
    if decay_horizons:
        results = add_ic_decay(results, decay_horizons, uri=uri, provider_uri=provider_uri, recorded=providers)
    return results
