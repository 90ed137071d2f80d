"""Qlib-side pieces of the baselines (:mod:`kronos_quant.study.baseline_tasks` holds the tasks and the reasons):
:class:`RankICLGBModel`, :class:`ModelSizeRecord` and :func:`model_sizes`.
"""
from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
from qlib.contrib.model.gbdt import LGBModel
from qlib.data.dataset.handler import DataHandlerLP
from qlib.workflow.record_temp import RecordTemp

logger = logging.getLogger(__name__)

SIZE_TAG = "model_size"


class DailyRankIC:
    """Mean over days of the Spearman correlation of a prediction with a fixed ``label``.

    The label's centred daily ranks are computed once here; each call (LightGBM runs the metric every
    boosting round) ranks only the prediction. ``label`` and ``days`` (day codes) are 1-D arrays.
    """

    def __init__(self, label: np.ndarray, days: np.ndarray):
        self.days = days
        self.label = self._centred_ranks(label)
        self.label_ss = (self.label**2).groupby(days).sum()

    def _centred_ranks(self, values: np.ndarray) -> pd.Series:
        ranks = pd.Series(values).groupby(self.days).rank()
        return ranks - ranks.groupby(self.days).transform("mean")

    def __call__(self, pred: np.ndarray) -> float:
        centred = self._centred_ranks(pred)
        num = (centred * self.label).groupby(self.days).sum()
        den = np.sqrt((centred**2).groupby(self.days).sum() * self.label_ss)
        return float((num / den.where(den > 0)).mean())


def daily_rank_ic(pred: np.ndarray, label: np.ndarray, days: np.ndarray) -> float:
    """Mean over days of the Spearman correlation of ``pred`` and ``label`` (1-D arrays, ``days`` day codes)."""
    return DailyRankIC(label, days)(pred)


class RankICLGBModel(LGBModel):
    """Qlib's LGBModel, early-stopped on the validation period's mean daily RankIC instead of its MSE.

    ``min_rounds``: predict with at least this many trees even when validation RankIC peaks earlier (it
    must not exceed the patience ``early_stopping_rounds``, so that many trees always exist).
    """

    def __init__(self, *, min_rounds: int = 0, **kwargs):
        super().__init__(**kwargs)
        self.min_rounds = int(min_rounds)
        if not 0 <= self.min_rounds <= int(self.early_stopping_rounds):
            raise ValueError(f"min_rounds {min_rounds} must be in [0, early_stopping_rounds "
                             f"{self.early_stopping_rounds}]: early stopping trains best + patience trees")

    def fit(self, dataset, num_boost_round=None, early_stopping_rounds=None, verbose_eval=20, evals_result=None,
            reweighter=None, **kwargs):
        import lightgbm as lgb

        if reweighter is not None:
            raise ValueError("RankICLGBModel does not take a reweighter; use LGBModel")
        frames = {key: dataset.prepare(key, col_set=["feature", "label"], data_key=DataHandlerLP.DK_L)
                  for key in ("train", "valid")}
        for key, frame in frames.items():
            if frame.empty:
                raise ValueError(f"no {key} rows: check the window's {key} segment and the handler dates")
        train = lgb.Dataset(frames["train"]["feature"].to_numpy(), label=frames["train"]["label"].to_numpy().ravel())
        valid_frame = frames["valid"]
        valid = lgb.Dataset(valid_frame["feature"].to_numpy(), label=valid_frame["label"].to_numpy().ravel(),
                            reference=train)
        days = pd.factorize(valid_frame.index.get_level_values("datetime"))[0]
        valid_rank_ic = DailyRankIC(valid_frame["label"].to_numpy().ravel(), days)

        def rank_ic(preds, data):
            return "rank_ic", valid_rank_ic(preds), True  # higher is better

        params = {**self.params, "metric": "None"}
        self.model = lgb.train(params, train, num_boost_round=num_boost_round or self.num_boost_round,
                               valid_sets=[valid], valid_names=["valid"], feval=rank_ic, keep_training_booster=True,
                               callbacks=[lgb.early_stopping(early_stopping_rounds or self.early_stopping_rounds,
                                                             verbose=False)])
        best = int(self.model.best_iteration)
        self.model.best_iteration = min(max(best, self.min_rounds), int(self.model.current_iteration()))
        logger.info("RankICLGBModel: validation RankIC peaked at %d trees (%.4f); predicting with %d", best,
                    self.model.best_score["valid"]["rank_ic"], self.model.best_iteration)


def model_size(model) -> dict:
    """Trees / rounds / coefficients of a fitted Qlib model (LGBModel, DEnsembleModel, LinearModel)."""
    booster = getattr(model, "model", None)
    if booster is not None and hasattr(booster, "num_trees"):
        best = int(getattr(booster, "best_iteration", 0) or 0)
        return {"trees": int(booster.num_trees()), "trees_used": best or int(booster.current_iteration())}
    ensemble = getattr(model, "ensemble", None)
    if ensemble:
        trees = [int(sub.num_trees()) for sub in ensemble]
        return {"sub_models": len(trees), "trees": int(sum(trees)), "trees_per_sub_model": trees}
    coef = getattr(model, "coef_", None)
    if coef is not None:
        return {"coefficients": int(np.size(coef)), "nonzero": int(np.count_nonzero(np.abs(coef) > 1e-12))}
    return {}


class ModelSizeRecord(RecordTemp):
    """A Qlib record that tags the window's recorder with :func:`model_size` of the trained model (JSON)."""

    def __init__(self, recorder, model=None, **kwargs):
        super().__init__(recorder=recorder)
        self.model = model

    def generate(self, **kwargs):
        size = model_size(self.model)
        self.recorder.set_tags(**{SIZE_TAG: json.dumps(size)})
        logger.info("model size: %s", size)


def model_sizes(config, signal: str) -> pd.DataFrame:
    """Rows = roll windows (test start), columns = the model-size fields tagged by :class:`ModelSizeRecord`."""
    from kronos_quant.study.rolling import finished_windows

    rows = {}
    for window, (recorder, _hash) in sorted(finished_windows(config.experiment(signal)).items()):
        tag = recorder.list_tags().get(SIZE_TAG)
        if tag:
            size = {("trees_used" if key == "best_iteration" else key): v for key, v in json.loads(tag).items()}
            rows[window] = {key: (json.dumps(v) if isinstance(v, list) else v) for key, v in size.items()}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("window")
