"""``kronos-quant predict``: scores of a workflow's KronosModel, optionally sharded over torchrun ranks.

::

    kronos-quant predict --workflow-config workflows/csi300_zero_shot.yaml --out scores.pkl
    torchrun --nproc_per_node=2 -m kronos_quant.cli predict --workflow-config FILE.yaml --out scores.pkl
    # a trained (finetune/scratch) model: its qrun run (the YAML's experiment) or that run's params.pkl
    kronos-quant predict --workflow-config FILE.yaml --recorder <run id> --out s.pkl
    kronos-quant predict --workflow-config FILE.yaml --model-pickle mlruns/1/<run>/artifacts/params.pkl --out s.pkl

The YAML's ``qlib_init`` (with its tracking store), ``task.model`` and ``task.dataset`` are used; no
MLflow run is created. A trained model whose checkpoint folders are gone loads them from the run's
artifacts (``kronos_checkpoints/``). Rank 0 writes a pickled ``pd.Series`` named ``score`` indexed
(datetime, instrument).
"""
from __future__ import annotations

import argparse
import logging
from pathlib import Path

logger = logging.getLogger(__name__)


def register(subparsers) -> None:
    """Add the ``predict`` subcommand."""
    parser = subparsers.add_parser("predict", help="KronosModel scores of a workflow's dataset (torchrun-aware)",
                                   description=__doc__.splitlines()[0])
    parser.add_argument("--workflow-config", required=True, help="qrun YAML with a KronosModel and KronosDataset")
    parser.add_argument("--out", required=True, help="output pickle of the scores (pd.Series)")
    parser.add_argument("--segment", default="test", help="dataset segment (default test)")
    parser.add_argument("--model-pickle", default=None, help="a fitted model's params.pkl (finetune/scratch runs)")
    parser.add_argument("--recorder", default=None,
                        help="run id of the qrun run that trained the model (its params.pkl and checkpoints)")
    parser.add_argument("--experiment", default=None, help="experiment of --recorder (default: the YAML's)")
    parser.add_argument("--provider-dir", default=None, help="override qlib_init.provider_uri")
    parser.add_argument("--device", default=None, help="override the model's device (auto, cpu, cuda)")
    parser.set_defaults(func=run)


def _load_model(task: dict, model_pickle: str | None, recorder=None):
    from qlib.utils import init_instance_by_config

    from kronos_quant.qlib_ext.model import KronosModel
    from kronos_quant.safe_pickle import load_pickle, unpickler_allowing

    if model_pickle is not None and recorder is not None:
        raise ValueError("pass --model-pickle or --recorder, not both")
    if recorder is not None:
        model = recorder.load_object("params.pkl", unpickler=unpickler_allowing(KronosModel))
    elif model_pickle is not None:
        model = load_pickle(model_pickle, allow=(KronosModel,))  # data and settings only, never code
    else:
        model = init_instance_by_config(task["model"])
    if not isinstance(model, KronosModel):
        raise ValueError(f"the workflow's model is a {type(model).__name__}; kronos-quant predict needs a KronosModel")
    if not model.fitted:
        raise ValueError(f"the model (mode {model.source.mode}) is not trained: pass --recorder <run id> of its "
                         "finished qrun run, or --model-pickle with that run's params.pkl artifact")
    return model


def _recorder(args: argparse.Namespace, config: dict):
    """The run named by --recorder (None without it)."""
    if args.recorder is None:
        return None
    from qlib.workflow import R

    experiment = args.experiment or config.get("experiment_name") or "workflow"
    try:
        return R.get_recorder(recorder_id=args.recorder, experiment_name=experiment)
    except (ValueError, KeyError) as err:
        raise ValueError(f"no run {args.recorder!r} in experiment {experiment!r} of the YAML's tracking store; "
                         "check --recorder/--experiment") from err


def run(args: argparse.Namespace) -> int:
    import dataclasses

    from qlib.utils import init_instance_by_config

    from kronos_quant.qlib_ext.distributed import distributed_predict
    from kronos_quant.qlib_ext.qlib_setup import init_qlib
    from kronos_quant.qlib_ext.workflow import load_workflow_config
    from kronos_quant.training.ddp import init_distributed, shutdown_distributed

    config = load_workflow_config(args.workflow_config, provider_dir=args.provider_dir)
    init_qlib(config["qlib_init"])  # with its tracking store: a params.pkl may name its recorder's checkpoints
    model = _load_model(config["task"], args.model_pickle, _recorder(args, config))
    if args.device is not None:
        model.runtime = dataclasses.replace(model.runtime, device=args.device)
    ctx = init_distributed(model.runtime.device or "auto")
    if not ctx.is_master:
        logging.getLogger().setLevel(logging.WARNING)
    try:
        dataset = init_instance_by_config(config["task"]["dataset"])
        scores = distributed_predict(model, dataset, args.segment, ctx=ctx)
    finally:
        shutdown_distributed()
    if ctx.is_master:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        scores.to_pickle(args.out)
        logger.info("%d scores (%d ranks) -> %s", len(scores), ctx.world_size, args.out)
    return 0
