"""Baselines that train: LightGBM stopped on validation RankIC, Qlib's ridge LinearModel and DoubleEnsemble.

Each is a rolled signal on Alpha158 (the same label, windows and handler dates as ``lightgbm_alpha158``,
which keeps Qlib's benchmark parameters as its own row):

* ``lightgbm_rankic_alpha158``: :class:`RankICLGBModel`. Why: with Qlib's benchmark parameters (learning
  rate 0.2) early stopping on validation MSE keeps 1-7 trees per window on CSI300, because the MSE of noisy
  next-day returns rises as soon as the trees fit anything. The study scores RankIC, so this model stops
  on the mean daily RankIC of its own window's validation period (data before that window's test; never a
  test day), at learning rate 0.05 with a patience of 100 rounds, up to 1000, and predicts with at least
  100 trees: on CSI300 the first window's validation year (2020, before every test day) peaks at 117 trees,
  while the 2023 window's validation year (2022) has no RankIC at any size and would leave ONE tree (the
  benchmark's failure again). Every number here comes from validation periods only; the trees used per
  window are reported.
* ``linear_alpha158``: Qlib's ``LinearModel`` (``estimator: ridge``, ``alpha: 1.0``, not tuned). Features
  are ranked cross-sectionally each day (Qlib's ``CSRankNorm``, nothing fitted, so nothing to refit per
  window; Qlib's benchmark fits ``RobustZScoreNorm`` on the train years instead) and NaN filled with 0; the
  label is ranked per day as in Qlib's benchmark (``CSRankNorm``).
* ``doubleensemble_alpha158``: Qlib's ``DEnsembleModel`` with its Alpha158 benchmark parameters
  (examples/benchmarks/DoubleEnsemble: 6 sub-models of 28 rounds, sample re-weighting and feature selection).

The study's ``lightgbm:`` mapping overrides the tree parameters of every LightGBM-based row (e.g. one
thread, or smaller trees on the synthetic market), and its ``num_boost_round`` / ``early_stopping_rounds``
those of the RankIC-stopped LightGBM too (never its learning rate). :class:`ModelSizeRecord` tags each window's recorder
with the model's tree / round / coefficient counts, read back by :func:`model_sizes`.
"""
from __future__ import annotations

import copy

from kronos_quant.study.tasks import LIGHTGBM_DEFAULTS, lightgbm_alpha158_task

SIZE_RECORD = {"class": "ModelSizeRecord", "module_path": "kronos_quant.study.baselines"}
RANKIC_LGB = dict(learning_rate=0.05, num_boost_round=1000, early_stopping_rounds=100)
RANKIC_MIN_ROUNDS = 100  # at most the patience; see the module docstring
DOUBLE_ENSEMBLE = dict(base_model="gbm", loss="mse", num_models=6, enable_sr=True, enable_fs=True, alpha1=1.0,
                       alpha2=1.0, bins_sr=10, bins_fs=5, decay=0.5, sample_ratios=[0.8, 0.7, 0.6, 0.5, 0.4],
                       sub_weights=[1, 0.2, 0.2, 0.2, 0.2, 0.2], epochs=28, verbosity=-1)
TREE_KEYS = ("colsample_bytree", "learning_rate", "subsample", "lambda_l1", "lambda_l2", "max_depth", "num_leaves",
             "num_threads", "min_data_in_leaf")
BASELINES = ("lightgbm_rankic_alpha158", "linear_alpha158", "doubleensemble_alpha158")


def add_size_record(task: dict, *, window: str, previous_recorder, config) -> dict:
    """prepare_window hook: record the model's size (:class:`kronos_quant.study.baselines.ModelSizeRecord`)."""
    task = copy.deepcopy(task)
    task["record"] = [*task.get("record", []), dict(SIZE_RECORD)]
    return task


def _tree_overrides(config) -> dict:
    return {key: value for key, value in dict(config.lightgbm).items() if key in TREE_KEYS}


def lightgbm_rankic_task(config) -> dict:
    """RankICLGBModel on Alpha158: Qlib's benchmark tree parameters, learning rate 0.05, stopped on valid RankIC."""
    task = lightgbm_alpha158_task(config)
    rounds = {key: value for key, value in dict(config.lightgbm).items()
              if key in ("num_boost_round", "early_stopping_rounds")}  # e.g. fewer on the synthetic market
    kwargs = {**LIGHTGBM_DEFAULTS, **_tree_overrides(config), **RANKIC_LGB, **rounds}
    kwargs.pop("loss", None)
    kwargs["min_rounds"] = min(RANKIC_MIN_ROUNDS, int(kwargs["early_stopping_rounds"]))
    task["model"] = {"class": "RankICLGBModel", "module_path": "kronos_quant.study.baselines",
                     "kwargs": {"loss": "mse", **kwargs}}
    return task


def linear_alpha158_task(config) -> dict:
    """Qlib's ridge LinearModel on daily-ranked Alpha158 features (NaN -> 0), label ranked per day."""
    task = lightgbm_alpha158_task(config)
    handler = task["dataset"]["kwargs"]["handler"]["kwargs"]
    handler["infer_processors"] = [{"class": "CSRankNorm", "kwargs": {"fields_group": "feature"}},
                                   {"class": "Fillna", "kwargs": {"fields_group": "feature"}}]
    handler["learn_processors"] = [{"class": "DropnaLabel"},
                                   {"class": "CSRankNorm", "kwargs": {"fields_group": "label"}}]
    task["model"] = {"class": "LinearModel", "module_path": "qlib.contrib.model.linear",
                     "kwargs": {"estimator": "ridge", "alpha": 1.0}}
    return task


def doubleensemble_alpha158_task(config) -> dict:
    """Qlib's DEnsembleModel with its Alpha158 benchmark parameters (one thread unless ``lightgbm:`` says otherwise)."""
    task = lightgbm_alpha158_task(config)
    trees = {key: value for key, value in LIGHTGBM_DEFAULTS.items() if key in TREE_KEYS}
    task["model"] = {"class": "DEnsembleModel", "module_path": "qlib.contrib.model.double_ensemble",
                     "kwargs": {**DOUBLE_ENSEMBLE, **trees, **_tree_overrides(config)}}
    return task
