"""Train a tiny Kronos (tokenizer + predictor) on a market's history before t0, for stress runs and tests.

Only windows whose target bars end on or before the training cut-off are used; the last ``valid_days`` of
that history are held out for validation (split by time), so the model never sees the period it generates.
"""
from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path

from kronos_quant.model import Kronos, KronosTokenizer
from kronos_quant.training import TrainConfig, fit_predictor, fit_tokenizer
from kronos_quant.training.datasets import WindowArrays
from kronos_quant.universes.history import MarketHistory
from kronos_quant.universes.training_windows import windows_from_panel

logger = logging.getLogger(__name__)

TINY_TOKENIZER = dict(d_in=6, d_model=32, n_heads=2, ff_dim=64, n_enc_layers=2, n_dec_layers=2, s1_bits=6,
                      s2_bits=6, group_size=3)
TINY_PREDICTOR = dict(s1_bits=6, s2_bits=6, n_layers=2, d_model=48, n_heads=4, ff_dim=96)


@dataclass(frozen=True)
class TinyTraining:
    """A tiny Kronos trained from scratch on windows of one market's history."""

    lookback: int = 40  # context bars per training window (plus 1 for the next-token shift)
    horizon: int = 10  # target bars per window
    valid_days: int = 60  # the last days before the cut-off, held out for validation
    stride: int = 3  # keep every stride-th training window
    steps: int = 300  # optimizer steps per model
    batch_size: int = 64
    lr: float = 3e-3
    seed: int = 0
    tokenizer: dict = field(default_factory=lambda: dict(TINY_TOKENIZER))
    predictor: dict = field(default_factory=lambda: dict(TINY_PREDICTOR))


def split_windows(history: MarketHistory, config: TinyTraining) -> tuple[WindowArrays, WindowArrays]:
    """(train, valid) windows of the history: train targets end before the validation period, which ends at t0."""
    dates = history.dates
    if len(dates) <= config.valid_days + config.lookback + config.horizon + 1:
        raise ValueError(f"history of {len(dates)} days is too short for lookback {config.lookback}, horizon "
                         f"{config.horizon} and {config.valid_days} validation days")
    cut = dates[-config.valid_days - 1]
    train = windows_from_panel(history.bars, dates, lookback=config.lookback, horizon=config.horizon,
                               target_end=cut, stride=config.stride)
    valid = windows_from_panel(history.bars, dates, lookback=config.lookback, horizon=config.horizon,
                               start=dates[-config.valid_days], target_end=dates[-1], stride=config.stride)
    return train, valid


def train_tiny_kronos(train: WindowArrays, valid: WindowArrays, out_dir, config: TinyTraining = TinyTraining()
                      ) -> tuple[KronosTokenizer, Kronos, dict]:
    """Train tokenizer then predictor; returns the best-validation models and a summary
    (checkpoint dirs, best validation losses)."""
    if len(train) < config.batch_size:
        raise ValueError(f"only {len(train)} training windows for batch size {config.batch_size}")
    out_dir = Path(out_dir)
    common = dict(lr=config.lr, warmup_steps=max(1, config.steps // 20), batch_size=config.batch_size,
                  epochs=math.ceil(config.steps * config.batch_size / len(train)), max_steps=config.steps,
                  valid_windows=min(len(valid), 2048), eval_every=max(1, config.steps // 5), seed=config.seed,
                  device="cpu", log_every=max(1, config.steps // 10))
    tok = fit_tokenizer(TrainConfig(model=dict(config.tokenizer), out_dir=str(out_dir / "tokenizer"), **common),
                        train, valid)
    pred = fit_predictor(TrainConfig(model=dict(config.predictor), tokenizer=str(tok.best_dir),
                                     out_dir=str(out_dir / "predictor"), **common), train, valid)
    tokenizer = KronosTokenizer.from_pretrained(tok.best_dir).eval()
    model = Kronos.from_pretrained(pred.best_dir).eval()
    summary = {"tokenizer_dir": str(tok.best_dir), "predictor_dir": str(pred.best_dir),
               "tokenizer_valid_loss": tok.best_val_loss, "predictor_valid_loss": pred.best_val_loss,
               "train_windows": len(train), "valid_windows": len(valid)}
    return tokenizer, model, summary
