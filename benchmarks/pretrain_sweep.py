"""Predictor size sweep at fixed compute: validation loss and validation RankIC against size.

    OMP_NUM_THREADS=1 python benchmarks/pretrain_sweep.py --config configs/pretrain_cpu_bounded.yaml \
        --out-dir ../pt_runs/sweep --reference-steps 300

Every size gets the training FLOPs (6 x non-embedding parameters x tokens, plus attention) that
the config's own predictor gets in ``--reference-steps`` steps: smaller models take more steps.
The price panel is read once and shared. Prints one JSON line per size and a Markdown table.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import time

from kronos_quant.model.kronos import KronosConfig
from kronos_quant.training.pretrain import run_pretraining
from kronos_quant.training.pretrain_config import load_pretrain_config
from kronos_quant.training.pretrain_panel import load_price_panel

SIZES = {  # predictor architectures (the tokenizer stays the config's)
    "S": dict(n_layers=2, d_model=64, n_heads=4, ff_dim=192),
    "M": dict(n_layers=4, d_model=128, n_heads=4, ff_dim=384),
    "L": dict(n_layers=6, d_model=192, n_heads=6, ff_dim=576),
}


def flops_per_token(model: dict, tokens: int) -> float:
    from bench_training import formula_flops_per_token

    return formula_flops_per_token(KronosConfig.from_dict(model), tokens)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True)
    parser.add_argument("--out-dir", required=True)
    parser.add_argument("--reference-steps", type=int, default=None, help="default: the config's predictor max_steps")
    parser.add_argument("--sizes", default="S,M,L")
    parser.add_argument("--rank-ic-dates", type=int, default=None, help="override rank_ic.dates")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    base = load_pretrain_config(args.config, out_dir=args.out_dir)
    if args.rank_ic_dates is not None:
        base = base.replace(rank_ic=dataclasses.replace(base.rank_ic, dates=args.rank_ic_dates))
    tokens = base.lookback + base.horizon
    reference = dict(base.predictor.model)
    budget = flops_per_token(reference, tokens) * (args.reference_steps or base.predictor.max_steps)
    panel = load_price_panel(base.provider_uri, base.instruments, cut=base.cut, start=base.start)
    rows = []
    for name in args.sizes.split(","):
        model = {**reference, **SIZES[name]}
        steps = max(1, round(budget / flops_per_token(model, tokens)))
        eval_every = max(1, steps // 3)
        config = base.replace(predictor=base.predictor.replace(model=model, max_steps=steps, eval_every=eval_every,
                                                               patience=None))
        started = time.perf_counter()
        card = run_pretraining(config, panel=panel).card
        curves = card["curves"]["predictor"]
        row = {"size": name, "parameters": card["parameters"]["predictor"], "steps": steps,
               "tokens_seen": card["tokens_seen"]["predictor"],
               "val_loss_final": curves["val/loss"][-1][1], "val_loss_best": min(v for _, v in curves["val/loss"]),
               "val_rank_ic_final": curves["val/rank_ic"][-1][1],
               "val_rank_ic_best": max(v for _, v in curves["val/rank_ic"]),
               "predictor_wall_s": round(card["wall_seconds"]["predictor"], 1),
               "wall_s": round(time.perf_counter() - started, 1), "key": card["key"],
               "loadavg": open("/proc/loadavg").read().split()[:3]}
        rows.append(row)
        print(json.dumps(row), flush=True)
    print("| size | params | steps | tokens | val loss (final / best) | val RankIC (final / best) | wall s |")
    print("|---|---:|---:|---:|---|---|---:|")
    for row in rows:
        print(f"| {row['size']} | {row['parameters']:,} | {row['steps']} | {row['tokens_seen']:,} | "
              f"{row['val_loss_final']:.4f} / {row['val_loss_best']:.4f} | "
              f"{row['val_rank_ic_final']:+.4f} / {row['val_rank_ic_best']:+.4f} | {row['predictor_wall_s']} |")


if __name__ == "__main__":
    main()
