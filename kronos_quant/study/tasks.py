"""Task templates of the built-in study signals (plain dicts, no qlib here).

Each ``*_task(config)`` returns a Qlib task for the FIRST roll window with ``test`` spanning the whole
out-of-sample period; :func:`kronos_quant.study.rolling.window_tasks` hands it to Qlib's ``RollingGen``.
Every handler's label is Alpha158's ``Ref($close, -2) / Ref($close, -1) - 1`` (decision at the close
of t, trade at t+1, so the label is the return t+1 -> t+2).
"""
from __future__ import annotations

import copy
from pathlib import Path

LABEL_EXPRESSION = "Ref($close, -2) / Ref($close, -1) - 1"

# name -> (Qlib expression, higher = buy; the signs are the literature's, fixed before any test;
# Qlib expressions have no unary minus, hence -1 * (...))
NAIVE_FACTORS = {
    "reversal_5d": ("-1 * ($close / Ref($close, 5) - 1)", "5-day reversal: minus the past 5-day return"),
    "momentum_20d": ("$close / Ref($close, 20) - 1", "20-day momentum: the past 20-day return"),
    "low_vol_20d": ("-1 * Std($close / Ref($close, 1) - 1, 20)", "20-day low volatility: minus the daily-return std"),
    "abnormal_volume_20d": ("-1 * $volume / Mean($volume, 20)",
                            "volume/turnover: minus today's volume over its 20-day mean (the provider has no "
                            "float shares, so turnover rate is proxied by abnormal volume)"),
}

# Qlib's benchmark LightGBM/Alpha158 parameters (examples/benchmarks/LightGBM), one thread by default
LIGHTGBM_DEFAULTS = dict(loss="mse", colsample_bytree=0.8879, learning_rate=0.2, subsample=0.8789,
                         lambda_l1=205.6999, lambda_l2=580.9768, max_depth=8, num_leaves=210, num_threads=1)


def first_segments(config) -> dict:
    windows = config.windows
    return {"train": tuple(windows.train), "valid": tuple(windows.valid),
            "test": (windows.test_start, windows.test_end)}


def lightgbm_alpha158_task(config) -> dict:
    """LGBModel on Qlib's Alpha158 (default processors: cross-sectional only, nothing fitted on the future)."""
    windows = config.windows
    handler = {"class": "Alpha158", "module_path": "qlib.contrib.data.handler",
               "kwargs": {"instruments": config.market, "start_time": windows.history_start,
                          "end_time": windows.test_end, "fit_start_time": windows.train[0],
                          "fit_end_time": windows.train[1]}}
    return {"model": {"class": "LGBModel", "module_path": "qlib.contrib.model.gbdt",
                      "kwargs": {**LIGHTGBM_DEFAULTS, **dict(config.lightgbm)}},
            "dataset": {"class": "DatasetH", "module_path": "qlib.data.dataset",
                        "kwargs": {"handler": handler, "segments": first_segments(config)}}}


def kronos_task(config) -> dict:
    """KronosStudyModel on KronosDataset; the forecast horizon covers the label step and every reported horizon.

    The handler's ``end_time`` is the first test day: Qlib's ``handler_mod`` (in ``RollingGen``) extends
    it to each window's test end, so no window loads data past its own test period.
    """
    settings = config.kronos
    kwargs = copy.deepcopy(dict(settings.model))
    forecast = dict(kwargs.pop("forecast", None) or {})
    forecast["horizon"] = settings.forecast_horizon
    lookback = int(forecast.setdefault("lookback", settings.lookback))
    kwargs.update(
        forecast=forecast,
        horizons=list(settings.horizons),
        predict_chunk_days=int(settings.predict_chunk_days),
        **({} if settings.max_train_windows is None else {"max_train_windows": int(settings.max_train_windows)}),
        output_dir=str(Path(config.output_dir) / "models" / "kronos" / "first"),
    )
    handler = {
        "class": "KronosHandler",
        "module_path": "kronos_quant.qlib_ext.handler",
        "kwargs": {
            "instruments": config.market,
            "start_time": config.windows.history_start,
            "end_time": config.windows.test_start,
        },
    }
    return {
        "model": {"class": "KronosStudyModel", "module_path": "kronos_quant.study.kronos_model", "kwargs": kwargs},
        "dataset": {
            "class": "KronosDataset",
            "module_path": "kronos_quant.qlib_ext.dataset",
            "kwargs": {
                "handler": handler,
                "segments": first_segments(config),
                "lookback": max(lookback, int(settings.lookback)),
                "horizon": settings.forecast_horizon,
            },
        },
    }


def kronos_prepare_window(task: dict, *, window: str, previous_recorder, config) -> dict:
    """Per-window Kronos edits: its own output dir; with ``warm_start`` (and a finished previous window)
    finetune the previous window's best checkpoints with ``warm_train_config``."""
    task = copy.deepcopy(task)
    kwargs = task["model"]["kwargs"]
    kwargs["output_dir"] = str(Path(config.output_dir) / "models" / "kronos" / window)
    settings = config.kronos
    if settings.warm_start and previous_recorder is not None and kwargs.get("mode") in ("scratch", "finetune"):
        from kronos_quant.qlib_ext.model import KronosModel
        from kronos_quant.safe_pickle import unpickler_allowing

        previous_model = previous_recorder.load_object("params.pkl", unpickler=unpickler_allowing(KronosModel))
        kwargs.update(mode="finetune", tokenizer=previous_model.tokenizer_path, predictor=previous_model.predictor_path)
        if settings.warm_train_config is not None:
            kwargs["train_config"] = copy.deepcopy(dict(settings.warm_train_config))
    return task
