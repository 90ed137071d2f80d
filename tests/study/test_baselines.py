"""Every baseline runs end to end on the synthetic market and reports its trees / rounds per window (issue 21)."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from study_test_helpers import study_dict

from kronos_quant.study.config import study_config_from_dict

BASELINES = ("lightgbm_alpha158", "lightgbm_rankic_alpha158", "linear_alpha158", "doubleensemble_alpha158")


def test_daily_rank_ic_matches_pandas_spearman():
    from kronos_quant.study.baselines import daily_rank_ic

    rng = np.random.default_rng(0)
    days = np.repeat(np.arange(5), 30)
    pred, label = rng.normal(size=150), rng.normal(size=150)
    label[:30] = pred[:30] ** 3  # day 0: a monotone transform, Spearman 1
    frame = pd.DataFrame({"p": pred, "l": label, "d": days})
    by_hand = frame.groupby("d").apply(lambda d: d["p"].corr(d["l"], method="spearman"), include_groups=False)
    assert daily_rank_ic(pred, label, days) == pytest.approx(by_hand.mean())
    assert by_hand.iloc[0] == pytest.approx(1.0)


def test_baseline_tasks_keep_the_benchmark_row():
    from kronos_quant.study.baseline_tasks import doubleensemble_alpha158_task, lightgbm_rankic_task
    from kronos_quant.study.tasks import lightgbm_alpha158_task

    raw = study_dict("/nonexistent", "/tmp/unused", signals=BASELINES)
    raw["lightgbm"] = {"num_threads": 1, "num_leaves": 16}
    config = study_config_from_dict(raw)
    benchmark = lightgbm_alpha158_task(config)["model"]["kwargs"]
    fit = lightgbm_rankic_task(config)["model"]["kwargs"]
    assert benchmark["learning_rate"] == 0.2 and "early_stopping_rounds" not in benchmark  # Qlib's benchmark row
    assert fit["learning_rate"] == 0.05 and fit["early_stopping_rounds"] == 100 and fit["num_boost_round"] == 1000
    assert fit["min_rounds"] == 100
    assert fit["num_leaves"] == benchmark["num_leaves"] == 16  # the study's tree overrides reach both
    de = doubleensemble_alpha158_task(config)["model"]["kwargs"]
    assert de["epochs"] == 28 and de["num_models"] == 6 and de["num_threads"] == 1 and de["num_leaves"] == 16


@pytest.mark.slow
def test_every_baseline_runs_end_to_end(tiny_market, tmp_path, monkeypatch):
    from kronos_quant.study import baseline_tasks
    from kronos_quant.study.run import run_study

    monkeypatch.setitem(baseline_tasks.DOUBLE_ENSEMBLE, "epochs", 6)  # 6 x 28 rounds take minutes on 2 busy cores

    config = study_config_from_dict(study_dict(tiny_market, tmp_path / "out", signals=(*BASELINES, "random"),
                                               test_end="2022-03-31"))  # one quarterly window
    result = run_study(config)
    assert list(result.summary.index) == [*BASELINES, "random"]
    for name in BASELINES:
        distinct = result.frame[name].groupby(level="datetime").nunique().median()
        # Qlib's benchmark parameters give few distinct values a day (a shallow tree); the others do not
        assert distinct > (1 if name == "lightgbm_alpha158" else 10), name
        assert result.summary.loc[name, "days"] > 50
        assert len(result.model_sizes[name]) == 1, name  # one window, its size recorded
    rankic = result.model_sizes["lightgbm_rankic_alpha158"]
    assert (rankic["trees_used"] >= 5).all() and (rankic["trees"] >= rankic["trees_used"]).all()  # min_rounds 5 here
    assert (result.model_sizes["doubleensemble_alpha158"]["sub_models"] == 6).all()
    per_sub = json.loads(result.model_sizes["doubleensemble_alpha158"]["trees_per_sub_model"].iloc[0])
    assert per_sub == [6] * 6
    assert (result.model_sizes["linear_alpha158"]["coefficients"] == 158).all()
    page = (tmp_path / "out" / "report" / "study.html").read_text()
    assert "Model size per window: lightgbm_rankic_alpha158" in page
    # the tiny market plants a short-term reversal that Alpha158 features carry: the fitted models find it
    assert result.summary.loc["linear_alpha158", "RankIC"] > 0.02


def test_min_rounds_must_fit_in_the_patience():
    from kronos_quant.study.baselines import RankICLGBModel

    assert RankICLGBModel(min_rounds=5, early_stopping_rounds=10).min_rounds == 5
    with pytest.raises(ValueError, match="min_rounds"):
        RankICLGBModel(min_rounds=50, early_stopping_rounds=10)
