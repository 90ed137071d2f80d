"""The model card of a pretraining run (JSON + a short Markdown) and its MLflow record.

The card answers: trained on what (provider, instruments, date span, cut date, data digest), how
much (windows and tokens seen by the final weights, steps), at what cost (wall and CPU time of
rank 0 in the invocation that finished the run: a resumed run counts its last part only), how it went
(loss and RankIC curves, best values) and with which settings (the config and its digest).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import math
from pathlib import Path

import torch

from kronos_quant.io_utils import atomic_write
from kronos_quant.training.metrics_log import read_metrics_csv

logger = logging.getLogger(__name__)
CARD_JSON = "model_card.json"
CARD_MD = "model_card.md"
CARD_FIELDS = ("key", "provider", "instruments", "n_instruments", "date_span", "cut", "valid_start",
               "data_digest", "config_digest", "config", "windows_seen", "tokens_seen", "steps", "wall_seconds",
               "cpu_seconds", "world_size", "torch_threads", "curves", "best", "tokenizer_dir", "predictor_dir",
               "parameters", "ensemble")
STAGES = ("tokenizer", "predictor")


def build_model_card(config, data, *, key: str, results: dict, configs: dict, timings: dict, world_size: int,
                     ensemble: dict | None = None) -> dict:
    """The card as a JSON-ready dict with every field of :data:`CARD_FIELDS` (``ensemble`` None: one seed)."""
    run_dir = Path(config.out_dir) / key
    train, valid = data.train, data.valid
    steps, windows, tokens, curves, best, parameters = {}, {}, {}, {}, {}, {}
    for stage in STAGES:
        stage_config, result = configs[stage], results[stage]
        global_batch = stage_config.batch_size * stage_config.grad_accum_steps * world_size
        steps[stage] = result.steps
        windows[stage] = result.steps * global_batch
        # the predictor sees length - 1 input tokens per window (next-token shift)
        tokens[stage] = windows[stage] * (train.length - (1 if stage == "predictor" else 0))
        metrics_csv = Path(stage_config.out_dir) / "metrics.csv"
        curves[stage] = ({name: [[step, _finite(value)] for step, value in rows]
                          for name, rows in read_metrics_csv(metrics_csv).items()} if metrics_csv.is_file() else {})
        best[stage] = {"select_on": stage_config.select_on, "val_loss": _finite(result.best_val_loss),
                       "stopped_early": result.stopped_early}
        parameters[stage] = _parameter_count(result.best_dir)
    rank_ic = curves["predictor"].get("val/best_rank_ic")
    if rank_ic:
        best["predictor"]["val_rank_ic"] = rank_ic[-1][1]
    spans = [train.panel.date_span()[0], valid.panel.date_span()[1]]
    return {"key": key, "provider": str(config.provider_uri),
            "instruments": config.instruments if isinstance(config.instruments, str) else list(config.instruments),
            "n_instruments": {"train": train.n_instruments, "valid": valid.n_instruments},
            "date_span": spans, "cut": config.cut, "valid_start": config.valid_start,
            "data_digest": data.data_digest, "config_digest": config.digest(),
            "config": json.loads(json.dumps(dataclasses.asdict(config), default=str)),
            "windows_seen": windows, "tokens_seen": tokens, "steps": steps,
            "wall_seconds": {name: value["wall_seconds"] for name, value in timings.items()},
            "cpu_seconds": {name: value["cpu_seconds"] for name, value in timings.items()},
            "world_size": world_size, "torch_threads": torch.get_num_threads(), "curves": curves, "best": best,
            "tokenizer_dir": str(Path(results["tokenizer"].best_dir).relative_to(run_dir)),
            "predictor_dir": str(Path(results["predictor"].best_dir).relative_to(run_dir)),
            "parameters": parameters, "ensemble": ensemble}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


def _parameter_count(folder: Path) -> int:
    from safetensors.torch import load_file

    return int(sum(tensor.numel() for tensor in load_file(Path(folder) / "model.safetensors").values()))


def write_model_card(card: dict, run_dir: Path) -> tuple[Path, Path]:
    """``model_card.json`` and ``model_card.md`` in ``run_dir`` (each written atomically)."""
    run_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = run_dir / CARD_JSON, run_dir / CARD_MD
    atomic_write(md_path, lambda temporary: Path(temporary).write_text(card_markdown(card), encoding="utf-8"))
    # the JSON last: its presence marks a finished run (the cache looks for it)
    atomic_write(json_path, lambda temporary: Path(temporary).write_text(json.dumps(card, indent=1),
                                                                         encoding="utf-8"))
    logger.info("model card: %s", json_path)
    return json_path, md_path


def card_markdown(card: dict) -> str:
    """A short human summary of the card."""
    lines = [f"# Kronos pretraining {card['key']}", "",
             f"- provider: `{card['provider']}`, instruments: `{card['instruments']}` "
             f"({card['n_instruments']['train']} train / {card['n_instruments']['valid']} validation)",
             f"- bars: {card['date_span'][0]} .. {card['date_span'][1]}; validation from {card['valid_start']}; "
             f"cut {card['cut']}", f"- data digest `{card['data_digest'][:16]}`, config digest "
             f"`{card['config_digest'][:16]}`", "",
             "| stage | params | steps | windows seen | tokens seen | wall s | CPU s | best |",
             "|---|---:|---:|---:|---:|---:|---:|---|"]
    for stage in STAGES:
        best = card["best"][stage]
        score = ", ".join(f"{name} {value:.4f}" for name, value in best.items()
                          if name.startswith("val_") and value is not None)
        lines.append(f"| {stage} | {card['parameters'][stage]:,} | {card['steps'][stage]} | "
                     f"{card['windows_seen'][stage]:,} | {card['tokens_seen'][stage]:,} | "
                     f"{card['wall_seconds'][stage]:.1f} | {card['cpu_seconds'][stage]:.1f} | "
                     f"{score} (select on {best['select_on']}) |")
    if card.get("ensemble"):
        ensemble = card["ensemble"]
        members = ", ".join(f"{value:.4f}" for value in ensemble.get("val_rank_ic_members", []))
        lines += ["", f"Seed ensemble of {len(ensemble['members'])} predictors: val RankIC of the members {members}; "
                  f"of their mean signal {ensemble.get('val_rank_ic_ensemble', float('nan')):.4f}."]
    lines += ["", f"Total wall {card['wall_seconds']['total']:.1f} s, CPU {card['cpu_seconds']['total']:.1f} s "
              f"(rank 0 of {card['world_size']}, {card['torch_threads']} torch threads). Curves are in "
              "model_card.json (`curves`).", ""]
    return "\n".join(lines)


def log_to_mlflow(card: dict, run_dir: Path, store_dir: Path) -> str:
    """Log the card's settings, curves and files to MLflow at ``store_dir/mlflow.db``; returns the run id.

    The store always lives in the configured output folder, never in ./mlruns of the working directory.
    """
    from mlflow.tracking import MlflowClient

    store_dir = Path(store_dir).resolve()
    store_dir.mkdir(parents=True, exist_ok=True)
    client = MlflowClient(tracking_uri=f"sqlite:///{store_dir / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("pretrain")
    experiment_id = (experiment.experiment_id if experiment is not None else
                     client.create_experiment("pretrain", artifact_location=(store_dir / "mlartifacts").as_uri()))
    run = client.create_run(experiment_id, run_name=card["key"], tags={"data_digest": card["data_digest"],
                                                                         "config_digest": card["config_digest"]})
    run_id = run.info.run_id
    client.log_batch(run_id, params=_params(card))
    from mlflow.entities import Metric

    for stage, curves in card["curves"].items():
        metrics = [Metric(f"{stage}.{name.replace('/', '.')}", value, 0, step) for name, rows in curves.items()
                   for step, value in rows if value is not None]
        for start in range(0, len(metrics), 900):  # MLflow caps a batch at 1000 entries
            client.log_batch(run_id, metrics=metrics[start: start + 900])
    for name in (CARD_JSON, CARD_MD):
        client.log_artifact(run_id, str(run_dir / name))
    client.set_terminated(run_id)
    logger.info("MLflow run %s in %s", run_id, store_dir / "mlflow.db")
    return run_id


def _params(card: dict):
    from mlflow.entities import Param

    flat = {"provider": card["provider"], "instruments": str(card["instruments"]), "cut": card["cut"],
            "valid_start": card["valid_start"], "key": card["key"]}
    for stage in STAGES:
        flat[f"{stage}.steps"] = card["steps"][stage]
        flat[f"{stage}.parameters"] = card["parameters"][stage]
        for name, value in card["config"][stage].items():
            flat[f"{stage}.{name}"] = value
    return [Param(name, str(value)[:500]) for name, value in flat.items()]
