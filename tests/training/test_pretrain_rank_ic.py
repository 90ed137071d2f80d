"""The validation RankIC scorer: fixed dates, labels from the panel's own future bars, Spearman per date."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from kronos_quant.model import Kronos, KronosConfig, KronosTokenizer, TokenizerConfig
from kronos_quant.training.pretrain_config import RankICConfig
from kronos_quant.training.pretrain_panel import panel_from_arrays
from kronos_quant.training.pretrain_rank_ic import ValidationRankIC
from kronos_quant.training.pretrain_sampler import WindowSampler


@pytest.fixture(scope="module")
def scorer_parts(tokenizer_arch, predictor_arch):
    rng = np.random.default_rng(0)
    days, instruments = 60, 12
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (days, instruments)), axis=0))
    values = np.stack([close, close * 1.01, close * 0.99, close, rng.uniform(1e5, 2e5, (days, instruments)),
                       close * 1e5], axis=-1)
    panel = panel_from_arrays(values, pd.bdate_range("2021-01-04", periods=days), [f"S{j}" for j in range(12)])
    valid = WindowSampler(panel, length=16, context=11)
    torch.manual_seed(0)
    return valid, close, KronosTokenizer(TokenizerConfig(**tokenizer_arch)), Kronos(KronosConfig(**predictor_arch))


def test_labels_are_the_close_returns_over_the_horizon(scorer_parts):
    valid, close, tokenizer, _ = scorer_parts
    scorer = ValidationRankIC(tokenizer, valid, horizon=5, config=RankICConfig(dates=3, paths=2, seed=1))
    assert len(scorer.samples) == 3
    for sample in scorer.samples:
        day = valid.panel.calendar.get_loc(sample.date)
        np.testing.assert_allclose(sample.realised, close[day + 5] / close[day] - 1, atol=1e-6)  # float32 bars
        assert sample.x.shape == (12, 11, 6) and sample.y_stamp.shape == (12, 5, 5)
    again = ValidationRankIC(tokenizer, valid, horizon=5, config=RankICConfig(dates=3, paths=2, seed=1))
    assert [s.date for s in again.samples] == [s.date for s in scorer.samples]  # a fixed sample


def test_score_is_the_mean_spearman_over_dates(scorer_parts, monkeypatch):
    valid, _, tokenizer, model = scorer_parts
    scorer = ValidationRankIC(tokenizer, valid, horizon=5, config=RankICConfig(dates=3, paths=2, seed=1))
    monkeypatch.setattr(scorer, "signal", lambda model, sample, index: sample.realised ** 3)  # same ranks
    assert scorer(model)["val/rank_ic"] == pytest.approx(1.0)
    monkeypatch.setattr(scorer, "signal", lambda model, sample, index: -sample.realised)
    assert scorer(model) == {"val/rank_ic": pytest.approx(-1.0), "val/rank_ic_sd": pytest.approx(0.0, abs=1e-12),
                             "val/rank_ic_dates": 3.0}


def test_a_real_model_scores_deterministically(scorer_parts):
    valid, _, tokenizer, model = scorer_parts
    scorer = ValidationRankIC(tokenizer, valid, horizon=5, config=RankICConfig(dates=2, paths=2, seed=1))
    first, second = scorer(model.eval()), scorer(model)
    assert first == second and -1 <= first["val/rank_ic"] <= 1


def test_the_ensemble_is_scored_on_the_mean_of_its_members_signals(scorer_parts, monkeypatch):
    valid, _, tokenizer, model = scorer_parts
    scorer = ValidationRankIC(tokenizer, valid, horizon=5, config=RankICConfig(dates=3, paths=2, seed=1))
    noise = {index: np.random.default_rng(index).normal(0, 0.05, 12) for index in range(3)}
    other = Kronos(model.config)
    # member a = label + noise, member b = label - noise: each ranks imperfectly, their mean is the label
    signals = {id(model): lambda sample, index: sample.realised + noise[index],
               id(other): lambda sample, index: sample.realised - noise[index]}
    monkeypatch.setattr(scorer, "signal", lambda m, sample, index: signals[id(m)](sample, index))
    single = scorer.score([model])["val/rank_ic"]
    assert single < 0.9
    assert scorer.score([model, other])["val/rank_ic"] == pytest.approx(1.0)
