"""Validation RankIC of a predictor's signal: what the study measures, scored while pretraining.

On a fixed, seeded sample of validation dates, every instrument that traded on the date with a
full context and ``horizon`` later traded bars inside the validation panel gets a forecast of a
few sample paths (fixed uniforms). Its signal is the mean predicted close return over the horizon;
the label is the realised close return over the same bars. The score is the mean over dates of
the cross-sectional Spearman correlation (RankIC). Dates, instruments and uniforms are fixed at
construction, so scores at different steps differ only through the weights.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from kronos_quant.inference.generation import generate_paths
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms
from kronos_quant.model.tokenizer import KronosTokenizer
from kronos_quant.normalization import NORM_EPS
from kronos_quant.training.pretrain_config import RankICConfig
from kronos_quant.training.pretrain_sampler import WindowSampler

logger = logging.getLogger(__name__)
CLOSE = 3  # column of close in the six features
MIN_INSTRUMENTS = 5  # a date needs at least this many instruments to rank


@dataclass(frozen=True)
class DateSample:
    """The inputs and label of one validation date (n instruments)."""

    date: pd.Timestamp
    x: torch.Tensor  # (n, context, 6) normalised context bars
    x_stamp: torch.Tensor  # (n, context, 5)
    y_stamp: torch.Tensor  # (n, horizon, 5) stamps of the instrument's next traded bars
    close_mean: np.ndarray  # (n,) context statistics of close, to undo the normalisation
    close_std: np.ndarray  # (n,)
    last_close: np.ndarray  # (n,) raw close on the date
    realised: np.ndarray  # (n,) close return over the next horizon traded bars


class ValidationRankIC:
    """``scorer(model) -> {"val/rank_ic": mean RankIC, "val/rank_ic_dates": dates scored}`` (a Trainer scorer)."""

    def __init__(self, tokenizer: KronosTokenizer, valid: WindowSampler, *, horizon: int, config: RankICConfig,
                 device: torch.device | str = "cpu"):
        self.tokenizer, self.horizon, self.config, self.device = tokenizer.eval(), horizon, config, torch.device(device)
        self.generation = GenerationConfig(pred_len=horizon, sample_count=config.paths,
                                           sampling=SamplingConfig(temperature=config.temperature, top_p=config.top_p))
        self.samples = self._sample_dates(valid)
        if not self.samples:
            raise ValueError(f"no validation date has {MIN_INSTRUMENTS} instruments with {valid.context} context and "
                             f"{horizon} future bars; widen [valid_start, cut] or lower lookback/horizon")
        logger.info("validation RankIC on %d dates (%s .. %s), %d paths", len(self.samples),
                    f"{self.samples[0].date:%Y-%m-%d}", f"{self.samples[-1].date:%Y-%m-%d}", config.paths)

    def _sample_dates(self, valid: WindowSampler) -> list[DateSample]:
        ids = np.arange(len(valid))
        _, first_row = valid.locate(ids)
        decision_day = valid.panel.days[first_row + valid.context - 1]  # (windows,)
        days, counts = np.unique(decision_day, return_counts=True)
        candidates = days[counts >= MIN_INSTRUMENTS]
        rng = np.random.default_rng([self.config.seed, 31])
        chosen = np.sort(rng.choice(candidates, min(self.config.dates, len(candidates)), replace=False))
        samples = []
        for day in chosen:
            on_day = ids[decision_day == day]
            if len(on_day) > self.config.max_instruments:
                on_day = np.sort(rng.choice(on_day, self.config.max_instruments, replace=False))
            samples.append(self._date_sample(valid, on_day, valid.panel.calendar[day]))
        return samples

    def _date_sample(self, valid: WindowSampler, ids: np.ndarray, date: pd.Timestamp) -> DateSample:
        raw, stamps = valid.windows(ids)  # (n, context + horizon, 6), (n, context + horizon, 5)
        context = valid.context
        close = raw[:, :context, CLOSE].astype(np.float64)
        last_close = close[:, -1]
        realised = raw[:, context + self.horizon - 1, CLOSE] / last_close - 1
        x = valid.normalized(raw)[:, :context]
        return DateSample(date, torch.from_numpy(np.ascontiguousarray(x)),
                          torch.from_numpy(np.ascontiguousarray(stamps[:, :context])),
                          torch.from_numpy(np.ascontiguousarray(stamps[:, context:])),
                          close.mean(axis=1), close.std(axis=1), last_close, realised)

    def signal(self, model, sample: DateSample, index: int) -> np.ndarray:
        """(n,) mean predicted close return over the horizon of one date's instruments."""
        uniforms = draw_uniforms(len(sample.realised), self.config.paths, self.horizon,
                                 seed=self.config.seed * 1000 + index)
        device = self.device
        paths = generate_paths(self.tokenizer, model, sample.x.to(device), sample.x_stamp.to(device),
                               sample.y_stamp.to(device), self.generation, uniforms.to(device))
        close_z = paths[:, :, -1, CLOSE].double().cpu().numpy()  # (n, P)
        predicted = close_z * (sample.close_std[:, None] + NORM_EPS) + sample.close_mean[:, None]
        return (predicted / sample.last_close[:, None] - 1).mean(axis=1)

    @torch.no_grad()
    def __call__(self, model) -> dict[str, float]:
        return self.score([model])

    @torch.no_grad()
    def score(self, models: list) -> dict[str, float]:
        """RankIC of the members' mean signal (one model: its own signal), averaged over the sampled dates.

        The mean of the members' signals is the seed ensemble's signal (as research.ensemble.ensemble_signal).
        """
        modes = [model.training for model in models]
        for model in models:
            model.eval()
        scores = []
        for index, sample in enumerate(self.samples):
            signal = np.mean([self.signal(model, sample, index) for model in models], axis=0)
            score = pd.Series(signal).corr(pd.Series(sample.realised), method="spearman")
            if np.isfinite(score):
                scores.append(score)
        for model, mode in zip(models, modes):
            model.train(mode)
        return {"val/rank_ic": float(np.mean(scores)) if scores else float("nan"),
                "val/rank_ic_sd": float(np.std(scores, ddof=1)) if len(scores) > 1 else float("nan"),
                "val/rank_ic_dates": float(len(scores))}
