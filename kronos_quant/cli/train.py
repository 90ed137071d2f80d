"""``kronos-quant train tokenizer|predictor --config FILE.yaml``: train on a Qlib market (or saved arrays).

Single process::

    kronos-quant train tokenizer --config configs/train_csi300_tokenizer.yaml
    kronos-quant train predictor --config configs/train_csi300_predictor.yaml --max-steps 1000

DDP (one data shard per rank; rank 0 alone logs and saves)::

    torchrun --nproc_per_node=4 -m kronos_quant.cli train predictor --config FILE.yaml

The YAML holds :class:`kronos_quant.training.TrainConfig` fields and a ``data`` section
(``provider_uri``, ``instruments``, ``train``/``valid`` segments, ``lookback``, ``horizon``, or an
``arrays_file``); see configs/train_tiny.yaml. Prints the best checkpoint dir on success.
"""
from __future__ import annotations

import argparse
import dataclasses
import logging

logger = logging.getLogger(__name__)


def _run(args: argparse.Namespace) -> int:
    from kronos_quant.training.config import load_train_config
    from kronos_quant.training.ddp import distributed_session
    from kronos_quant.training.fit import fit_task
    from kronos_quant.training.loop import NonFiniteLossError

    overrides = {"max_steps": args.max_steps, "device": args.device, "out_dir": args.out_dir,
                 "epochs": args.epochs, "resume": True if args.resume else None}
    config = load_train_config(args.config, **overrides)
    if args.epochs is not None and args.max_steps is None and config.max_steps is not None:
        logger.info("--epochs %d replaces the config's max_steps %d as the step budget", args.epochs, config.max_steps)
        config = dataclasses.replace(config, max_steps=None)
    if config.data is None:
        raise ValueError(f"{args.config} has no data section; add data.provider_uri (+ segments) or data.arrays_file")
    try:
        with distributed_session(config.device) as ctx:
            train, valid = _load_data(config.data)
            result = fit_task(args.task, config, train, valid, ctx=ctx)
    except NonFiniteLossError as err:
        logger.error("%s", err)
        return 3
    if ctx.is_master:
        logger.info("%s: %d steps, best val loss %.5f%s", args.task, result.steps, result.best_val_loss,
                    " (stopped early)" if result.stopped_early else "")
        print(result.best_dir)  # the CLI's result: where the best checkpoint is
    return 0


def _load_data(data):
    train, valid = _load_real_data(data)
    if data.generated_ratio > 0:  # generated universes mixed into training only
        from kronos_quant.training.datasets import load_window_arrays, mix_windows

        train = mix_windows(train, load_window_arrays(data.generated_file)[0], ratio=data.generated_ratio)
    return train, valid


def _load_real_data(data):
    if data.arrays_file is not None:
        from kronos_quant.training.datasets import load_window_arrays

        return load_window_arrays(data.arrays_file)
    from kronos_quant.qlib_ext.training_data import build_window_arrays

    return build_window_arrays(data)


def register(subparsers) -> None:
    """Add the ``train`` subcommand."""
    parser = subparsers.add_parser("train", help="train the Kronos tokenizer or predictor from a YAML config")
    parser.add_argument("task", choices=["tokenizer", "predictor"], help="which network to train")
    parser.add_argument("--config", required=True, help="training YAML (see configs/train_tiny.yaml)")
    parser.add_argument("--max-steps", type=int, default=None, help="override max_steps")
    parser.add_argument("--epochs", type=int, default=None, help="override epochs")
    parser.add_argument("--device", default=None, help="override device (auto, cpu, cuda)")
    parser.add_argument("--out-dir", default=None, help="override out_dir")
    parser.add_argument("--resume", action="store_true", help="continue from out_dir/resume.pt")
    parser.set_defaults(func=_run)
