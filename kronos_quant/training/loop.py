"""The training loop shared by the tokenizer and the predictor.

``Trainer(model, loss_fn, config, train, valid).fit()`` runs AdamW with warmup + decay, gradient
clipping and accumulation, bf16 autocast on CUDA, optional torch.compile and DDP, evaluates on
the validation windows, keeps ``best/`` (lowest validation loss) and ``last/`` checkpoints plus
``resume.pt``, stops early when validation stops improving, and refuses to continue (or save)
after a non-finite loss.

Step metrics (losses, gradient norm) stay on the device and are copied to the host only every
``log_every`` steps and before each evaluation, where a non-finite step is still reported by its own
number; nothing is saved after it. ``config.select_on`` picks ``best/`` by validation loss or by a
scorer's ``val/rank_ic``; batches come from the training source's own ``epoch_order`` when it has one
(the pretraining sampler), else from a seeded permutation of its rows.

``loss_fn(model, bars (B, L, 6), stamps (B, L, 5))`` returns a NamedTuple whose first field
``total`` is the scalar to minimise; the other fields are logged. It must work on the DDP-wrapped
model in train mode and on the plain module in eval mode.
"""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from kronos_quant.training import checkpointing as ckpt
from kronos_quant.training.config import TrainConfig
from kronos_quant.training.datasets import (
    WindowArrays,
    epoch_order,
    rank_shard,
    step_rows,
    steps_per_epoch,
    validation_rows,
)
from kronos_quant.training.ddp import DistContext, all_reduce_mean, all_reduce_sum, unwrap, wrap_model
from kronos_quant.training.metrics_log import MetricsLogger
from kronos_quant.training.optim import build_optimizer, build_scheduler, lr_factor

logger = logging.getLogger(__name__)

LossFn = Callable[[nn.Module, torch.Tensor, torch.Tensor], NamedTuple]
# scorer(plain model in eval mode) -> extra validation metrics, e.g. {"val/rank_ic": 0.03}; run on rank 0
Scorer = Callable[[nn.Module], dict]
SELECT_METRICS = {"loss": ("val/loss", -1.0), "rank_ic": ("val/rank_ic", 1.0)}  # name, sign (higher is better)


class NonFiniteLossError(RuntimeError):
    """The loss (or gradient norm) became NaN/inf; the last good checkpoint is left untouched."""


@dataclass
class TrainState:
    """Counters that, with the weights, optimizer, scheduler and RNGs, define where a run is."""

    epoch: int = 0  # current epoch (0-based)
    step_in_epoch: int = 0  # optimizer steps done in the current epoch (the data position)
    step: int = 0  # optimizer steps done in total
    best_val_loss: float = float("inf")
    bad_evals: int = 0  # evaluations since the last improvement (early stopping)
    last_eval_step: int = -1
    best_score: float = float("-inf")  # the selection metric (select_on) of best/, signed so higher is better


@dataclass(frozen=True)
class TrainResult:
    best_dir: Path  # checkpoint with the lowest validation loss
    last_dir: Path  # checkpoint after the final step
    best_val_loss: float
    steps: int  # optimizer steps done
    stopped_early: bool


class Trainer:
    """One training run; see the module docstring. ``on_step_end(step)`` is a hook for tests.

    ``scorer`` adds metrics at every evaluation (rank 0 computes, all ranks receive them); with
    ``config.select_on: rank_ic`` it must return ``val/rank_ic``, which then picks ``best/`` and
    drives early stopping instead of the validation loss.
    """

    def __init__(self, model: nn.Module, loss_fn: LossFn, config: TrainConfig, train: WindowArrays,
                 valid: WindowArrays, *, ctx: DistContext | None = None,
                 on_step_end: Callable[[int], None] | None = None, scorer: Scorer | None = None):
        self.config, self.loss_fn, self.train, self.valid = config, loss_fn, train, valid
        self.scorer = scorer
        if config.select_on != "loss" and scorer is None:
            raise ValueError(f"select_on: {config.select_on} needs a scorer that returns val/{config.select_on} "
                             "(pretraining builds one from its validation panel); or select_on: loss")
        self._pending: list[tuple] = []  # (step, lr, losses, grad norm) of steps not yet synced to the host
        self.ctx = ctx or DistContext(device=torch.device("cpu"))
        self.on_step_end = on_step_end
        self.out_dir = Path(config.out_dir)
        self.steps_per_epoch = steps_per_epoch(
            len(train), windows_per_epoch=config.windows_per_epoch, batch_size=config.batch_size,
            grad_accum_steps=config.grad_accum_steps, world_size=self.ctx.world_size)
        if self.steps_per_epoch == 0:
            raise ValueError(f"{len(train)} training windows make no full step of batch_size {config.batch_size} x "
                             f"grad_accum_steps {config.grad_accum_steps} x {self.ctx.world_size} ranks; "
                             "lower batch_size or add data")
        self.total_steps = config.max_steps or config.epochs * self.steps_per_epoch
        self._setup_determinism()
        self.model = self._prepare_model(model)
        self.optimizer = build_optimizer(unwrap(self.model), lr=config.lr, betas=config.betas,
                                         weight_decay=config.weight_decay, device=self.ctx.device)
        self.scheduler = build_scheduler(self.optimizer, warmup_steps=config.warmup_steps,
                                         total_steps=self.total_steps, schedule=config.schedule,
                                         min_lr_ratio=config.min_lr_ratio)
        self.state = TrainState()
        self.metrics = MetricsLogger(self.out_dir, enabled=self.ctx.is_master)
        use_bf16 = config.bf16 and self.ctx.device.type == "cuda"
        self.autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext

    # ---- set-up ----------------------------------------------------------------------
    def _setup_determinism(self) -> None:
        seed = self.config.seed + self.ctx.rank  # distinct dropout masks per rank
        random.seed(seed)
        np.random.seed(seed % 2**32)
        torch.manual_seed(seed)
        if self.config.deterministic:
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
            torch.use_deterministic_algorithms(True, warn_only=True)

    def _prepare_model(self, model: nn.Module) -> nn.Module:
        model = model.to(self.ctx.device).train()
        if self.config.compile:
            model = torch.compile(model)
        return wrap_model(model, self.ctx)

    # ---- the run ---------------------------------------------------------------------
    def fit(self) -> TrainResult:
        if self.ctx.is_master:
            ckpt.recover_checkpoint_dirs(self.out_dir)
        self._barrier()
        resume_path = self.out_dir / ckpt.RESUME_NAME
        if self.config.resume and resume_path.is_file():
            self._restore(ckpt.load_resume_state(resume_path))
        elif self.config.resume and self.ctx.is_master:
            logger.info("resume: no %s yet, starting a new run", resume_path)
        elif resume_path.is_file() and self.ctx.is_master:
            logger.warning("%s holds an earlier run; starting afresh (resume: false) will overwrite it",
                           self.out_dir)
        self.metrics.forget_after(self.state.step)  # steps after the resume point are run (and logged) again
        stopped_early = self._patience_exhausted()
        if stopped_early and self.ctx.is_master:
            logger.info("the resumed run had stopped early at step %d (%d evaluations without improvement); "
                        "raise patience to train on", self.state.step, self.state.bad_evals)
        progress = tqdm(total=self.total_steps, initial=self.state.step, disable=not self.ctx.is_master,
                        desc="train", dynamic_ncols=True)
        with progress:
            while self.state.step < self.total_steps and not stopped_early:
                stopped_early = self._run_epoch(progress)
        if self.state.last_eval_step != self.state.step:
            self._evaluate_and_checkpoint()
        self._barrier()
        return TrainResult(self.out_dir / "best", self.out_dir / "last", self.state.best_val_loss,
                           self.state.step, stopped_early)

    def _run_epoch(self, progress) -> bool:
        """Steps of the current epoch from the saved data position; True when early stopping fired."""
        cfg, state = self.config, self.state
        order = epoch_order(self.train, state.epoch, seed=cfg.seed, windows_per_epoch=cfg.windows_per_epoch)
        shard = rank_shard(order, self.ctx.rank, self.ctx.world_size)
        interval_start, interval_steps = time.perf_counter(), 0
        while state.step_in_epoch < self.steps_per_epoch and state.step < self.total_steps:
            rows = step_rows(shard, state.step_in_epoch, batch_size=cfg.batch_size,
                             grad_accum_steps=cfg.grad_accum_steps)
            self._train_step(rows)
            state.step += 1
            state.step_in_epoch += 1
            interval_steps += 1
            progress.update(1)
            evaluate_now = cfg.eval_every is not None and state.step % cfg.eval_every == 0
            if state.step % cfg.log_every == 0 or state.step == 1 or evaluate_now or state.step == self.total_steps:
                metrics = self._sync_metrics()  # the only host sync of the training steps
                metrics["train/step_seconds"] = (time.perf_counter() - interval_start) / interval_steps
                interval_start, interval_steps = time.perf_counter(), 0
                progress.set_postfix(loss=f"{metrics['train/loss']:.4f}")
                self.metrics.log(state.step, metrics)
            stop = evaluate_now and self._evaluate_and_checkpoint()
            if self.on_step_end is not None:
                self.on_step_end(state.step)
            if stop:
                return True
        if state.step_in_epoch >= self.steps_per_epoch:
            state.epoch += 1
            state.step_in_epoch = 0
            if cfg.eval_every is None:
                return self._evaluate_and_checkpoint()
        return False

    def _train_step(self, micro_batches: list[np.ndarray]) -> None:
        """One optimizer step over ``grad_accum_steps`` micro-batches, without a host sync.

        The rank-averaged losses and the gradient norm stay on the device in ``_pending`` until
        :meth:`_sync_metrics` (every ``log_every`` steps and before each evaluation) checks them.
        """
        model, accum = self.model, len(micro_batches)
        sums = None
        for index, rows in enumerate(micro_batches):
            bars, stamps = self.train.batch(rows, self.ctx.device)
            sync = index == accum - 1 or not self.ctx.distributed
            with (contextlib.nullcontext() if sync else model.no_sync()), self.autocast():
                out = self.loss_fn(model, bars, stamps)
            (out.total / accum).backward()
            parts = torch.stack([value.detach().float() for value in out])
            sums = parts if sums is None else sums + parts
        means = all_reduce_mean(sums / accum, self.ctx)
        params = [p for p in self.model.parameters() if p.grad is not None]
        max_norm = self.config.grad_clip if self.config.grad_clip is not None else float("inf")
        grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)  # a device tensor: no sync
        lr = self.optimizer.param_groups[0]["lr"]  # the lr this step uses (a Python float)
        self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.scheduler.step()
        self._pending.append((self.state.step + 1, lr, means, grad_norm.detach()))
        self._loss_fields = out._fields

    def _sync_metrics(self) -> dict[str, float]:
        """Copy the pending step metrics to the host; raise at the first non-finite one; the last step's metrics.

        A non-finite step is reported by its own number; the weights it produced are never saved,
        because every evaluation (and so every checkpoint) syncs first.
        """
        if not self._pending:
            return {}
        steps, lrs, means, norms = zip(*self._pending)
        losses = torch.stack(means).cpu().numpy()  # (S, fields)
        norms = torch.stack([norm.double() for norm in norms]).cpu().numpy()  # (S,)
        self._pending.clear()
        for step, step_losses, norm in zip(steps, losses, norms):
            if not np.isfinite(step_losses[0]):
                self._raise_non_finite("loss", float(step_losses[0]), step)
            if not np.isfinite(norm):
                self._raise_non_finite("gradient norm", float(norm), step)
        metrics = {f"train/{'loss' if name == 'total' else name}": float(value)
                   for name, value in zip(self._loss_fields, losses[-1])}
        metrics.update({"train/lr": lrs[-1], "train/grad_norm": float(norms[-1])})
        return metrics

    def _raise_non_finite(self, what: str, value: float, step: int | None = None) -> None:
        self.optimizer.zero_grad(set_to_none=True)
        self._pending.clear()
        step = self.state.step + 1 if step is None else step
        raise NonFiniteLossError(
            f"non-finite {what} ({value}) at optimizer step {step} (epoch {self.state.epoch}); stopped "
            "without saving. The last good checkpoint "
            f"({self.out_dir / 'last'}, resume state {self.out_dir / ckpt.RESUME_NAME}) is untouched. "
            "Check the input windows for extreme values, lower lr or raise warmup_steps, or set grad_clip.")

    # ---- evaluation and checkpoints ----------------------------------------------------
    @torch.no_grad()
    def evaluate(self) -> dict[str, float]:
        """Mean validation losses over this run's validation windows (all ranks together)."""
        model = unwrap(self.model)
        model.eval()
        rows = validation_rows(len(self.valid), seed=self.config.seed, limit=self.config.valid_windows,
                               rank=self.ctx.rank, world_size=self.ctx.world_size)
        size = self.config.batch_size
        # a rank without validation rows still runs one zero-weight batch: every rank reduces the same fields
        batches = [rows[start: start + size] for start in range(0, len(rows), size)] or [np.arange(1)]
        sums = None
        for batch in batches:
            bars, stamps = self.valid.batch(batch, self.ctx.device)
            with self.autocast():
                out = self.loss_fn(model, bars, stamps)
            weight = len(batch) if len(rows) else 0
            weighted = torch.stack([value.float() for value in out] + [torch.ones((), device=bars.device)]) * weight
            sums = weighted if sums is None else sums + weighted
        model.train()
        fields = out._fields
        totals = all_reduce_sum(sums, self.ctx).tolist()
        count = max(totals[-1], 1.0)
        return {f"val/{'loss' if name == 'total' else name}": value / count for name, value in zip(fields, totals)}

    def _evaluate_and_checkpoint(self) -> bool:
        """Evaluate, save best/last/resume (rank 0); True when early stopping should stop the run."""
        cfg, state = self.config, self.state
        self._sync_metrics()  # a non-finite step since the last log raises here, before anything is saved
        metrics = {**self.evaluate(), **self._score()}
        val_loss = metrics["val/loss"]
        state.last_eval_step = state.step
        if not np.isfinite(val_loss):
            self._raise_non_finite("validation loss", val_loss)
        name, sign = SELECT_METRICS[cfg.select_on]
        score = sign * metrics[name]
        improved = bool(np.isfinite(score)) and score > state.best_score + cfg.min_delta
        if improved:
            state.best_score, state.best_val_loss = score, val_loss
        state.bad_evals = 0 if improved else state.bad_evals + 1
        self.metrics.log(state.step, {**metrics, "val/best_loss": state.best_val_loss,
                                      f"val/best_{cfg.select_on}": sign * state.best_score})
        rng_states = self._gather_rng_states()
        if self.ctx.is_master:
            logger.info("step %d: %s (best %s %.5f)", state.step,
                        ", ".join(f"{key} {value:.5f}" for key, value in metrics.items()), cfg.select_on,
                        sign * state.best_score)
            plain = unwrap(self.model)
            if improved:
                ckpt.save_model_dir(plain, self.out_dir / "best")
            ckpt.save_model_dir(plain, self.out_dir / "last")
            ckpt.save_resume_state(self.out_dir / ckpt.RESUME_NAME, self._resume_payload(rng_states))
        stop = self._patience_exhausted()
        if stop and self.ctx.is_master:
            logger.info("early stopping at step %d: no improvement in %d evaluations", state.step, cfg.patience)
        return stop

    def _score(self) -> dict[str, float]:
        """The scorer's metrics, computed on rank 0 with the plain model in eval mode, sent to every rank."""
        if self.scorer is None:
            return {}
        scores = [None]
        if self.ctx.is_master:
            model = unwrap(self.model)
            model.eval()
            with torch.no_grad():
                scores = [{key: float(value) for key, value in self.scorer(model).items()}]
            model.train()
        if self.ctx.distributed:
            import torch.distributed as dist

            dist.broadcast_object_list(scores, src=0)
        if self.config.select_on != "loss" and f"val/{self.config.select_on}" not in scores[0]:
            raise ValueError(f"the scorer returned {sorted(scores[0])}, without val/{self.config.select_on}")
        return scores[0]

    def _patience_exhausted(self) -> bool:
        return self.config.patience is not None and self.state.bad_evals >= self.config.patience

    def _resume_payload(self, rng_states: list) -> dict:
        return {"model": {k: v.detach().cpu() for k, v in unwrap(self.model).state_dict().items()},
                "optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict(),
                "rng": rng_states, "state": dataclasses.asdict(self.state),
                "world_size": self.ctx.world_size, "config": dataclasses.asdict(self.config),
                "total_steps": self.total_steps}

    def _gather_rng_states(self) -> list:
        state = ckpt.rng_state()
        if not self.ctx.distributed:
            return [state]
        import torch.distributed as dist

        gathered = [None] * self.ctx.world_size
        dist.all_gather_object(gathered, state)
        return gathered

    def _restore(self, payload: dict) -> None:
        if payload["world_size"] != self.ctx.world_size:
            raise ValueError(f"resume state in {self.out_dir} was written by {payload['world_size']} processes, "
                             f"this run has {self.ctx.world_size}; resume with the same --nproc_per_node")
        changed = _changed_fields(payload["config"], dataclasses.asdict(self.config))
        if changed and self.ctx.is_master:
            logger.warning("resuming with changed settings %s: the result will differ from an uninterrupted run",
                           changed)
        saved_total = payload.get("total_steps", self.total_steps)
        if saved_total != self.total_steps and self.ctx.is_master:
            logger.warning("resuming with a step budget of %d instead of %d: the lr schedule is stretched to the "
                           "new budget from the resumed step on", self.total_steps, saved_total)
        unwrap(self.model).load_state_dict(payload["model"])
        self.optimizer.load_state_dict(payload["optimizer"])
        self.scheduler.load_state_dict(payload["scheduler"])
        ckpt.set_rng_state(payload["rng"][self.ctx.rank])
        self.state = TrainState(**payload["state"])
        self._apply_config_hyperparameters()
        if self.ctx.is_master:
            logger.info("resumed from %s at step %d (epoch %d)", self.out_dir / ckpt.RESUME_NAME,
                        self.state.step, self.state.epoch)

    def _apply_config_hyperparameters(self) -> None:
        """lr, betas, weight decay and the lr schedule from *this* config, at the restored step.

        The saved optimizer and scheduler states carry the interrupted run's values. With unchanged
        settings, this recomputes exactly those values. Changed ones take effect from the next step,
        instead of being silently replaced by the saved state.
        """
        cfg, step = self.config, self.state.step
        factor = lr_factor(step, warmup_steps=cfg.warmup_steps, total_steps=self.total_steps,
                           schedule=cfg.schedule, min_lr_ratio=cfg.min_lr_ratio)
        for group, decay in zip(self.optimizer.param_groups, (cfg.weight_decay, 0.0)):
            group.update(lr=cfg.lr * factor, initial_lr=cfg.lr, betas=tuple(cfg.betas), weight_decay=decay)
        self.scheduler.base_lrs = [cfg.lr] * len(self.optimizer.param_groups)

    def _barrier(self) -> None:
        if self.ctx.distributed:
            import torch.distributed as dist

            dist.barrier()


# settings that may change on resume without changing what the run computes
_RESUME_NEUTRAL = {"resume", "out_dir", "device", "log_every", "compile", "max_steps", "epochs", "patience"}


def _changed_fields(saved: dict, current: dict) -> list[str]:
    return sorted(key for key in current if key not in _RESUME_NEUTRAL and saved.get(key) != current[key])
