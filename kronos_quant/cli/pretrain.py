"""``kronos-quant pretrain --config configs/pretrain_<preset>.yaml``: a Kronos foundation model of your own.

Trains the tokenizer, then the predictor, on windows sampled on the fly from every instrument of
a provider (or a regex/list of them), using only bars up to the config's ``cut`` date::

    kronos-quant data synth --out qlib_data/cn_synth
    kronos-quant pretrain --config configs/pretrain_tiny.yaml
    torchrun --nproc_per_node=2 -m kronos_quant.cli pretrain --config configs/pretrain_cpu.yaml

The run lands in ``out_dir/<key>/`` (key: config + data digest); a finished run with the same key
is reused, ``--resume`` continues an interrupted one. Prints the run folder on success; its
``model_card.json`` names the tokenizer and predictor checkpoints (``from_pretrained`` folders).
"""
from __future__ import annotations

import argparse
import logging

logger = logging.getLogger(__name__)


def _run(args: argparse.Namespace) -> int:
    from kronos_quant.training.ddp import distributed_session
    from kronos_quant.training.loop import NonFiniteLossError
    from kronos_quant.training.pretrain import run_pretraining
    from kronos_quant.training.pretrain_config import load_pretrain_config

    config = load_pretrain_config(args.config, out_dir=args.out_dir, resume=True if args.resume else None,
                                  cache=False if args.no_cache else None)
    if args.device is not None:
        config = config.replace(tokenizer=config.tokenizer.replace(device=args.device),
                                predictor=config.predictor.replace(device=args.device))
    try:
        with distributed_session(config.predictor.device) as ctx:
            result = run_pretraining(config, ctx=ctx)
    except NonFiniteLossError as err:
        logger.error("%s", err)
        return 3
    if ctx.is_master:
        card = result.card
        logger.info("pretraining %s%s: tokenizer %d steps, predictor %d steps, %.0f s wall", card["key"],
                    " (cached)" if result.cached else "", card["steps"]["tokenizer"], card["steps"]["predictor"],
                    card["wall_seconds"]["total"])
        print(result.run_dir)  # the CLI's result: the run folder with the model card and checkpoints
    return 0


def register(subparsers) -> None:
    """Add the ``pretrain`` subcommand."""
    parser = subparsers.add_parser("pretrain", help="pretrain the tokenizer and predictor on a whole provider")
    parser.add_argument("--config", required=True, help="pretraining YAML (see configs/pretrain_tiny.yaml)")
    parser.add_argument("--out-dir", default=None, help="override out_dir")
    parser.add_argument("--device", default=None, help="override both stages' device (auto, cpu, cuda)")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run with the same key")
    parser.add_argument("--no-cache", action="store_true", help="train again even if a finished run matches")
    parser.set_defaults(func=_run)
