"""The package's one ``qlib.init``: providers, MLflow tracking stores and re-use of a live session.

Every entry point (qrun-style workflows, ``kronos-quant train``/``predict``/``report``, the
training-data builder) initialises Qlib through :func:`init_qlib`, so the defaults (region cn, one
kernel, no caches for a bare provider), the MLflow environment (telemetry off; a ``file:`` store
needs ``MLFLOW_ALLOW_FILE_STORE`` under MLflow >= 3) and the "already initialised here" check live
in one place.
"""
from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path

logger = logging.getLogger(__name__)

# what a bare provider gets (the tests' and the training CLI's choice: caches off, one kernel)
PROVIDER_DEFAULTS = {"region": "cn", "kernels": 1, "expression_cache": None, "dataset_cache": None}


def mlflow_exp_manager(uri: str, default_experiment: str = "Experiment", artifact_root=None) -> dict:
    """The ``exp_manager`` config of an MLflow tracking store at ``uri`` (sqlite:///... or file:...).

    :class:`~kronos_quant.qlib_ext.exp_manager.KronosExpManager`: Qlib's manager, except that it never
    writes a lock file relative to the working directory. ``artifact_root``: the folder new experiments
    keep their run artifacts in; a database store (sqlite) otherwise puts them under ``./mlruns`` of
    the *working directory*, wherever the store is.
    """
    kwargs = {"uri": uri, "default_exp_name": default_experiment}
    if artifact_root is not None:
        kwargs["artifact_root"] = str(Path(artifact_root).expanduser().resolve())
    return {"class": "KronosExpManager", "module_path": "kronos_quant.qlib_ext.exp_manager", "kwargs": kwargs}


def sqlite_artifact_root(uri: str) -> Path | None:
    """``<folder of the database>/mlruns`` for a ``sqlite:///`` store, None for other stores.

    MLflow gives a database store's new experiments ``./mlruns`` of the *working directory*; this keeps
    them beside the database instead (the same folder for the demo's ``sqlite:///mlflow.db``).
    """
    prefix = "sqlite:///"
    if not uri.startswith(prefix) or uri[len(prefix):] in ("", ":memory:"):
        return None
    return Path(uri[len(prefix):]).expanduser().parent / "mlruns"


def default_tracking_uri() -> str:
    """Qlib's default store (``file:<working directory when qlib was imported>/mlruns``)."""
    from qlib.config import _default_config  # qlib exposes its defaults only under this name

    return _default_config["exp_manager"]["kwargs"]["uri"]


def check_provider(provider_uri: str | os.PathLike) -> Path:
    """The resolved provider folder, or a ValueError when it is not a Qlib data dir."""
    path = Path(provider_uri).expanduser().resolve()
    if not (path / "calendars" / "day.txt").is_file():
        raise ValueError(f"{path} is not a Qlib data dir (no calendars/day.txt); point provider_uri at one, e.g. "
                         "../shared/data/qlib_cn_csi300 or the output of `kronos-quant data synth`")
    return path


def current_provider() -> Path | None:
    """The day provider qlib is initialised on (None when it is not initialised)."""
    from qlib.config import C

    if not C.registered:
        return None
    uri = C.get("provider_uri")
    uri = uri.get("__DEFAULT_FREQ", uri.get("day")) if isinstance(uri, dict) else uri
    return None if uri is None else Path(str(uri)).expanduser().resolve()


def init_qlib(config: Mapping | None = None, *, provider_uri: str | os.PathLike | None = None,
              tracking_uri: str | None = None, default_experiment: str = "Experiment", reuse: bool = False,
              artifact_root: str | os.PathLike | None = None) -> None:
    """``qlib.init`` with ``config`` (a workflow's ``qlib_init`` mapping) plus overrides.

    Args:
        config: qlib.init keyword arguments; without one, a bare provider gets :data:`PROVIDER_DEFAULTS`.
        provider_uri: replaces ``config["provider_uri"]``; must be a Qlib data dir.
        tracking_uri: an MLflow store for ``exp_manager`` (replaces the config's); runs started without an
            experiment name land in ``default_experiment``.
        artifact_root: with ``tracking_uri``, the folder new experiments keep artifacts in (see
            :func:`mlflow_exp_manager`); a sqlite store's default is ``./mlruns`` of the working directory.
        reuse: keep a live session instead: when qlib is already initialised on the same provider
            (or on any provider when none is asked for), nothing happens. Re-initialising drops an
            active recorder, so callers inside a running experiment pass ``reuse=True``.
    """
    import qlib

    kwargs = dict(config) if config is not None else dict(PROVIDER_DEFAULTS)
    if provider_uri is not None:
        kwargs["provider_uri"] = str(check_provider(provider_uri))
    if tracking_uri is None and "exp_manager" not in kwargs:
        tracking_uri = default_tracking_uri()  # Qlib's own default store, through the fixed manager
    if tracking_uri is not None:
        if artifact_root is None:
            artifact_root = sqlite_artifact_root(tracking_uri)
        kwargs["exp_manager"] = mlflow_exp_manager(tracking_uri, default_experiment, artifact_root)
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    store = (kwargs.get("exp_manager") or {}).get("kwargs", {}).get("uri", "")
    if not str(store).startswith(("sqlite:", "postgresql:", "mysql:", "http:", "https:")):
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")  # qlib's default store is file:./mlruns
    if reuse and _is_live(kwargs.get("provider_uri")):
        return
    qlib.init(**kwargs)


def _is_live(provider_uri) -> bool:
    current = current_provider()
    if current is None:
        return False
    return provider_uri is None or Path(str(provider_uri)).expanduser().resolve() == current
