"""Trained Kronos checkpoints as MLflow artifacts of the Qlib recorder that trained them.

``KronosModel.fit`` (finetune/scratch) logs each trained checkpoint folder under
``kronos_checkpoints/<network>`` of the active recorder and remembers where (a public, picklable
:class:`CheckpointArtifacts`). A ``params.pkl`` read back on another machine, by ``kronos-quant
predict`` or by Qlib's online ``PredUpdater``, then finds its weights through the recorder when the
local folders recorded at training time are gone (qlib must point at the same tracking store).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

logger = logging.getLogger(__name__)

ARTIFACT_DIR = "kronos_checkpoints"


@dataclass(frozen=True)
class CheckpointArtifacts:
    """Where a recorder holds trained checkpoints: ``paths`` maps network -> artifact path."""

    experiment_id: str
    recorder_id: str
    paths: dict = field(default_factory=dict)


def log_checkpoints(checkpoints: dict[str, str]) -> CheckpointArtifacts | None:
    """Log ``{network: local checkpoint dir}`` to the active Qlib recorder; None when none is active."""
    from kronos_quant.training.metrics_log import active_qlib_recorder

    recorder = active_qlib_recorder()
    if recorder is None:
        logger.info("no active Qlib recorder: trained checkpoints stay local only (%s)", checkpoints)
        return None
    paths = {}
    for network, local in checkpoints.items():
        paths[network] = f"{ARTIFACT_DIR}/{network}"
        recorder.save_objects(local_path=str(local), artifact_path=paths[network])
    logger.info("trained checkpoints logged to recorder %s under %s/", recorder.id, ARTIFACT_DIR)
    return CheckpointArtifacts(experiment_id=str(recorder.experiment_id), recorder_id=str(recorder.id), paths=paths)


def checkpoint_path(local: str, network: str, artifacts: CheckpointArtifacts | None) -> str:
    """``local`` when that folder exists, else the recorder's copy (downloaded by MLflow when remote)."""
    if Path(local).is_dir():
        return local
    if artifacts is None or network not in artifacts.paths:
        raise ValueError(f"the {network} checkpoint {local} does not exist here and the model holds no recorder "
                         "artifact for it; copy the folder, or retrain (fit logs checkpoints to the active recorder)")
    from qlib.workflow import R

    try:
        recorder = R.get_recorder(recorder_id=artifacts.recorder_id, experiment_id=artifacts.experiment_id)
        path = recorder.download_artifact(artifacts.paths[network])
    except Exception as err:  # noqa: BLE001 - MLflow raises many types; say what to check
        raise ValueError(f"the {network} checkpoint {local} is missing and recorder {artifacts.recorder_id} "
                         f"(experiment {artifacts.experiment_id}) could not provide {artifacts.paths[network]}: {err}; "
                         "initialise qlib with the tracking store of the training run") from err
    logger.info("%s checkpoint %s not found locally: using recorder %s's %s", network, local,
                artifacts.recorder_id, path)
    return str(path)
