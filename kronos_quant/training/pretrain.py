"""Foundation pretraining: the tokenizer, then the predictor, on windows sampled from a whole provider.

``run_pretraining(config)`` reads every instrument's traded bars up to ``config.cut``
(:func:`~kronos_quant.training.pretrain_panel.load_price_panel`), trains on windows made of bars
before ``valid_start``, validates on windows whose future bars all lie in [valid_start, cut], and trains both
networks with the shared
:class:`~kronos_quant.training.loop.Trainer` on windows drawn on the fly
(:class:`~kronos_quant.training.pretrain_sampler.WindowSampler`). The predictor is also scored by
validation RankIC (:class:`~kronos_quant.training.pretrain_rank_ic.ValidationRankIC`) at every
evaluation; ``predictor.select_on`` picks its best checkpoint by loss or by RankIC.

The run lands in ``out_dir/<key>/`` where the key digests the config and the data, so a finished
run is reused (``cache: true``) and an interrupted one continued (``resume: true``)::

    <key>/tokenizer/best/  <key>/predictor/best/   from_pretrained folders
    <key>/model_card.json  <key>/model_card.md     what was trained on, and how it went

Under torchrun every rank draws the same windows and trains on its interleaved share, so DDP
equals one process with the same global batch, with one exception: the tokenizer's BSQ codebook
entropy (``gamma``) is a statistic of each rank's own batch, not of the global one.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from kronos_quant.model import Kronos, KronosTokenizer
from kronos_quant.training.ddp import DistContext, resolve_device
from kronos_quant.training.fit import fit_predictor, fit_tokenizer
from kronos_quant.training.loop import TrainResult
from kronos_quant.training.model_card import CARD_JSON, build_model_card, log_to_mlflow, write_model_card
from kronos_quant.training.pretrain_config import PretrainConfig
from kronos_quant.training.pretrain_panel import PricePanel, load_price_panel
from kronos_quant.training.pretrain_rank_ic import ValidationRankIC
from kronos_quant.training.pretrain_sampler import WindowSampler

logger = logging.getLogger(__name__)
KEY_LENGTH = 16  # hex characters of the run key in the folder name
FORMAT_VERSION = 2  # bump when the same config and data would train differently (joins the cache key)


@dataclass(frozen=True)
class PretrainResult:
    run_dir: Path  # out_dir/<key>
    tokenizer_dir: Path  # the tokenizer checkpoint the predictor was trained on
    predictor_dir: Path  # the predictor's selected checkpoint (select_on)
    card: dict  # the model card
    cached: bool  # True when a finished run was reused


@dataclass(frozen=True)
class PretrainData:
    """The two panels and their samplers."""

    train: WindowSampler
    valid: WindowSampler
    data_digest: str


def prepare_data(config: PretrainConfig, panel: PricePanel | None = None) -> PretrainData:
    """Samplers over the training bars (< valid_start) and the validation bars ([valid_start, cut])."""
    panel = panel if panel is not None else load_price_panel(config.provider_uri, config.instruments,
                                                             cut=config.cut, start=config.start)
    before_valid = _day_before(panel, config.valid_start)
    kwargs = dict(length=config.window_length, context=config.lookback + 1, clip=config.clip)
    train = WindowSampler(panel.between(end=before_valid), weights=config.sampling, **kwargs)
    # validation: every target bar on or after valid_start (the context may reach back); uniform, not tilted
    valid = WindowSampler(panel, targets_from=int(panel.calendar.searchsorted(config.valid_start)), **kwargs)
    return PretrainData(train, valid, panel.digest())


def _day_before(panel: PricePanel, date) -> str | None:
    position = int(panel.calendar.searchsorted(date))
    return None if position == 0 else f"{panel.calendar[position - 1]:%Y-%m-%d}"


def run_key(config: PretrainConfig, data_digest: str) -> str:
    """sha256 of the config digest, the data digest and FORMAT_VERSION (first KEY_LENGTH hex characters)."""
    text = f"{FORMAT_VERSION}:{config.digest()}:{data_digest}"
    return hashlib.sha256(text.encode()).hexdigest()[:KEY_LENGTH]


def run_pretraining(config: PretrainConfig, *, ctx: DistContext | None = None, panel: PricePanel | None = None,
                    on_step_end: Callable[[str, int], None] | None = None) -> PretrainResult:
    """Pretrain (or reuse a finished run); see the module doc. ``on_step_end(stage, step)`` is a test hook."""
    ctx = ctx if ctx is not None else DistContext(device=resolve_device(config.predictor.device))
    started_wall, started_cpu = time.perf_counter(), time.process_time()
    data = prepare_data(config, panel)
    key = run_key(config, data.data_digest)
    run_dir = Path(config.out_dir) / key
    card_path = run_dir / CARD_JSON
    if config.cache and card_path.is_file():
        card = json.loads(card_path.read_text())
        logger.info("pretraining %s is cached in %s (config + data digest match); reusing it", key, run_dir)
        return PretrainResult(run_dir, run_dir / card["tokenizer_dir"], run_dir / card["predictor_dir"], card, True)
    if ctx.is_master:
        logger.info("pretraining %s: %d training windows of %d instruments, %d validation windows -> %s", key,
                    len(data.train), data.train.n_instruments, len(data.valid), run_dir)
    timings = {}
    tok_config = _stage_config(config.tokenizer, run_dir / "tokenizer", config)
    tok_result = _timed(timings, "tokenizer", lambda: fit_tokenizer(
        tok_config, data.train, data.valid, ctx=ctx, on_step_end=_hook(on_step_end, "tokenizer")))
    tokenizer = KronosTokenizer.from_pretrained(tok_result.best_dir, device=ctx.device)
    scorer = None
    if config.rank_ic.dates > 0:
        scorer = ValidationRankIC(tokenizer, data.valid, horizon=config.horizon, config=config.rank_ic,
                                  device=ctx.device)
    members = _train_predictors(config, data, run_dir, tokenizer, tok_result.best_dir, scorer=scorer, ctx=ctx,
                                timings=timings, on_step_end=on_step_end)
    (pred_config, pred_result) = members[0]
    ensemble = _ensemble_summary(members, run_dir, scorer, ctx) if len(members) > 1 else None
    timings["total"] = {"wall_seconds": time.perf_counter() - started_wall,
                        "cpu_seconds": time.process_time() - started_cpu}
    card = build_model_card(config, data, key=key, results={"tokenizer": tok_result, "predictor": pred_result},
                            configs={"tokenizer": tok_config, "predictor": pred_config}, timings=timings,
                            world_size=ctx.world_size, ensemble=ensemble)
    if ctx.is_master:
        write_model_card(card, run_dir)
        if config.mlflow:
            log_to_mlflow(card, run_dir, Path(config.out_dir))
    return PretrainResult(run_dir, tok_result.best_dir, pred_result.best_dir, card, False)


def member_name(index: int) -> str:
    """Folder of ensemble member ``index``: ``predictor`` for the first (the single model), then predictor_seed<k>."""
    return "predictor" if index == 0 else f"predictor_seed{index}"


def _train_predictors(config: PretrainConfig, data: PretrainData, run_dir: Path, tokenizer, tokenizer_dir: Path, *,
                      scorer, ctx: DistContext, timings: dict, on_step_end) -> list[tuple]:
    """(config, TrainResult) of each ensemble member: predictor.seed + k on the one frozen tokenizer."""
    members = []
    for index in range(config.ensemble):
        name = member_name(index)
        member_config = _stage_config(config.predictor, run_dir / name, config).replace(
            tokenizer=str(tokenizer_dir), seed=config.predictor.seed + index)
        result = _timed(timings, name, lambda: fit_predictor(
            member_config, data.train, data.valid, tokenizer=tokenizer, ctx=ctx, scorer=scorer,
            on_step_end=_hook(on_step_end, name)))
        members.append((member_config, result))
    return members


def _ensemble_summary(members: list[tuple], run_dir: Path, scorer, ctx: DistContext) -> dict:
    """Member folders, and the validation RankIC of each member's selected checkpoint and of their mean signal."""
    summary = {"members": [str(Path(result.best_dir).relative_to(run_dir)) for _, result in members]}
    if scorer is not None and ctx.is_master:
        models = [Kronos.from_pretrained(result.best_dir, device=ctx.device) for _, result in members]
        summary["val_rank_ic_members"] = [scorer.score([model])["val/rank_ic"] for model in models]
        summary["val_rank_ic_ensemble"] = scorer.score(models)["val/rank_ic"]
    return summary


def _stage_config(stage, out_dir: Path, config: PretrainConfig):
    return stage.replace(out_dir=str(out_dir), resume=config.resume or stage.resume)


def _hook(on_step_end, stage: str):
    return None if on_step_end is None else (lambda step: on_step_end(stage, step))


def _timed(timings: dict, name: str, run: Callable[[], TrainResult]) -> TrainResult:
    wall, cpu = time.perf_counter(), time.process_time()
    result = run()
    timings[name] = {"wall_seconds": time.perf_counter() - wall, "cpu_seconds": time.process_time() - cpu}
    return result


def load_pretrained(run_dir: str | Path, *, device: str = "cpu") -> tuple[KronosTokenizer, Kronos]:
    """(tokenizer, predictor) of a pretraining run folder (``out_dir/<key>``), via its model card."""
    card_path = Path(run_dir) / CARD_JSON
    if not card_path.is_file():
        raise FileNotFoundError(f"{card_path} does not exist: {run_dir} is not a finished pretraining run "
                                "(run kronos-quant pretrain, or pass out_dir/<key>)")
    card = json.loads(card_path.read_text())  # checkpoint paths are relative to the run folder
    return (KronosTokenizer.from_pretrained(Path(run_dir) / card["tokenizer_dir"], device=device),
            Kronos.from_pretrained(Path(run_dir) / card["predictor_dir"], device=device))


