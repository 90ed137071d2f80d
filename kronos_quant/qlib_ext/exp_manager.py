"""Qlib's MLflow experiment manager, fixed so that a run's files stay beside its tracking store.

Two things Qlib 0.9.7's ``MLflowExpManager`` writes outside the store, fixed by :class:`KronosExpManager`:

- For a ``file:`` store it takes a lock at ``os.path.join(netloc, path.lstrip("/"))``: a path
  *relative to the working directory* (``file:/tmp/x/mlruns`` locks ``./tmp/x/mlruns/filelock``). Here
  the lock is the store's own ``<store>/filelock``.
- MLflow's database stores (``sqlite:///out/mlflow.db``) put the artifacts of a new experiment under
  ``./mlruns`` of the working directory. With ``artifact_root`` each new experiment is created with
  the artifact location ``<artifact_root>/<experiment name>``.

Build its config with :func:`kronos_quant.qlib_ext.qlib_setup.mlflow_exp_manager`.
"""
from __future__ import annotations

from pathlib import Path
from urllib.parse import urlparse

from filelock import FileLock
from mlflow.exceptions import MlflowException
from mlflow.protos.databricks_pb2 import RESOURCE_ALREADY_EXISTS, ErrorCode
from qlib.utils.exceptions import ExpAlreadyExistError
from qlib.workflow.exp import MLflowExperiment
from qlib.workflow.expm import MLflowExpManager


def experiment_folder(artifact_root: str | Path, experiment_name: str) -> Path:
    """``artifact_root/<name>`` with characters other than letters, digits, ``-_.`` replaced by ``_``."""
    safe = "".join(char if char.isalnum() or char in "-_." else "_" for char in experiment_name)
    return Path(artifact_root) / safe


def file_store_path(uri: str) -> Path | None:
    """The folder of a ``file:`` tracking URI (absolute as written), None for other schemes."""
    parsed = urlparse(uri)
    return Path(parsed.netloc + parsed.path) if parsed.scheme == "file" else None


class KronosExpManager(MLflowExpManager):
    """``MLflowExpManager`` that locks inside a ``file:`` store and can place new experiments' artifacts.

    Args:
        uri, default_exp_name: as for Qlib's ``MLflowExpManager``.
        artifact_root: folder for the artifacts of experiments created here (None: MLflow's default).
    """

    def __init__(self, uri: str, default_exp_name: str | None, artifact_root: str | None = None):
        super().__init__(uri, default_exp_name)
        self.artifact_root = None if artifact_root is None else str(artifact_root)  # public: survives pickling

    def create_exp(self, experiment_name: str | None = None):
        if self.artifact_root is None:
            return super().create_exp(experiment_name)
        assert experiment_name is not None
        location = experiment_folder(self.artifact_root, experiment_name).resolve().as_uri()
        try:
            experiment_id = self.client.create_experiment(experiment_name, artifact_location=location)
        except MlflowException as err:
            if err.error_code == ErrorCode.Name(RESOURCE_ALREADY_EXISTS):
                raise ExpAlreadyExistError() from err
            raise
        return MLflowExperiment(experiment_id, experiment_name, self.uri)

    def _get_or_create_exp(self, experiment_id=None, experiment_name=None):
        try:
            return self._get_exp(experiment_id=experiment_id, experiment_name=experiment_name), False
        except ValueError:
            experiment_name = self._default_exp_name if experiment_name is None else experiment_name
        store = file_store_path(self.uri)
        if store is not None:  # MLflow's file store does not lock experiment creation; Qlib adds this lock
            store.mkdir(parents=True, exist_ok=True)
            with FileLock(store / "filelock"):
                return self._create_or_get(experiment_id, experiment_name)
        return self._create_or_get(experiment_id, experiment_name)

    def _create_or_get(self, experiment_id, experiment_name):
        try:
            return self.create_exp(experiment_name), True
        except ExpAlreadyExistError:  # another process created it meanwhile
            return self._get_exp(experiment_id=experiment_id, experiment_name=experiment_name), False
