"""Roll LightGBM over test periods on plain Alpha158 and on Alpha158 + Kronos features; compare them on the same rows.

Both read ONE Alpha158Kronos handler (Alpha158 is loaded once): the plain model's dataset,
:class:`WithoutKronos`, drops the ``kronos_*`` columns, so the two see identical rows and
identical Alpha158 values and differ only by the Kronos features.

The metrics reuse the walk-forward study's functions (:mod:`kronos_quant.study.compare`,
:mod:`kronos_quant.study.backtest`): IC/RankIC with Newey-West t, by half-year, the daily RankIC
difference (blend minus plain) with its HAC t, each raw Kronos feature's RankIC, the LightGBM gain
share of the Kronos features per test period, and Top-K (50, drop 5) excess returns with/without cost.
"""
from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd

from kronos_quant.research.hac import hac_mean

logger = logging.getLogger(__name__)

PLAIN, BLEND = "alpha158", "alpha158_kronos"


def period_segments(test: tuple, rows: tuple, *, valid_months: int = 6) -> dict:
    """Test ``test``; valid = the ``valid_months`` before it; train = rows start .. valid start - 1 day."""
    test_start, test_end = (pd.Timestamp(value) for value in test)
    rows_start, rows_end = (pd.Timestamp(value) for value in rows)
    valid_start = test_start - pd.DateOffset(months=int(valid_months))
    segments = {"train": (rows_start, valid_start - pd.Timedelta(days=1)),
                "valid": (valid_start, test_start - pd.Timedelta(days=1)),
                "test": (test_start, min(test_end, rows_end))}
    if segments["train"][1] - rows_start < pd.Timedelta(days=90):
        raise ValueError(f"test period {test_start:%Y-%m-%d}: fewer than 3 months of rows (from {rows_start:%Y-%m-%d}) "
                         "before its validation span; start the handler's rows earlier or test later")
    if test_start > rows_end or test_start > test_end:
        raise ValueError(f"test period {test} is empty or starts after the handler's rows end ({rows_end:%Y-%m-%d})")
    return segments


def _drop_kronos(frame: pd.DataFrame) -> pd.DataFrame:
    names = pd.Index(frame.columns.get_level_values(-1)).astype(str)
    return frame.loc[:, ~names.str.startswith("kronos_")]


def without_kronos_dataset(handler, segments):
    """A DatasetH on ``handler`` whose prepared frames lack the ``kronos_*`` feature columns."""
    from qlib.data.dataset import DatasetH

    class WithoutKronos(DatasetH):
        def prepare(self, *args, **kwargs):
            data = super().prepare(*args, **kwargs)
            return [_drop_kronos(part) for part in data] if isinstance(data, list) else _drop_kronos(data)

    return WithoutKronos(handler, segments)


def gain_importance(model, dataset) -> pd.Series:
    """LightGBM gain per feature of a Qlib LGBModel fitted on ``dataset``, sorted descending.

    LGBModel trains on ``values`` (names Column_0, ...), so the names come from the dataset's
    feature columns, in the order LGBModel passed them.
    """
    from qlib.data.dataset.handler import DataHandlerLP

    booster = model.model
    names = dataset.prepare("train", col_set="feature", data_key=DataHandlerLP.DK_L).columns
    gains = booster.feature_importance(importance_type="gain")
    if len(names) != len(gains):
        raise ValueError(f"{len(gains)} LightGBM gains for {len(names)} feature columns")
    return pd.Series(gains, index=[str(name) for name in names]).sort_values(ascending=False)


def roll(handler, model_kwargs: dict, periods, rows: tuple, *, valid_months: int = 6) -> tuple[dict, pd.DataFrame]:
    """({signal: predictions over all test periods}, per-period LightGBM gain of every blended feature)."""
    from qlib.contrib.model.gbdt import LGBModel
    from qlib.data.dataset import DatasetH
    from qlib.workflow import R

    datasets = {PLAIN: without_kronos_dataset, BLEND: DatasetH}
    predictions = {name: [] for name in datasets}
    importance = {}
    for period in periods:
        segments = period_segments(period, rows, valid_months=valid_months)
        label = f"{pd.Timestamp(period[0]):%Y-%m}"
        for name, make_dataset in datasets.items():
            began = time.perf_counter()
            dataset = make_dataset(handler, segments)
            model = LGBModel(**model_kwargs)
            # LGBModel logs its evals through R: outside a run that would start an experiment that is never
            # ended, and Qlib then refuses every later qlib.init in the process
            with R.start(experiment_name="kronos_factor_compare", recorder_name=f"{name}_{label}"):
                model.fit(dataset)
            predictions[name].append(model.predict(dataset, "test"))
            logger.info("%s %s: fitted and predicted in %.1f s", name, label, time.perf_counter() - began)
            if name == BLEND:
                importance[label] = gain_importance(model, dataset)
    merged = {name: pd.concat(parts).sort_index() for name, parts in predictions.items()}
    return merged, pd.DataFrame(importance)


def kronos_gain_table(importance: pd.DataFrame) -> pd.DataFrame:
    """Per test period: each Kronos feature's share of the total gain, the Kronos total, the best Kronos rank."""
    shares = importance / importance.sum(axis=0)
    kronos = shares.loc[[name for name in shares.index if name.startswith("kronos_")]]
    table = kronos.copy()
    table.loc["kronos_total"] = kronos.sum(axis=0)
    ranks = importance.rank(ascending=False)
    table.loc["best_kronos_rank"] = ranks.loc[kronos.index].min(axis=0)
    return table


def seed_table(handler, model_kwargs: dict, periods, rows: tuple, label: pd.Series, seeds, *,
               valid_months: int = 6) -> pd.DataFrame:
    """Per LightGBM seed: mean daily RankIC of plain and blended models and their difference.

    LightGBM samples columns (``colsample_bytree``), so adding columns changes the trees even when
    the new columns are never split on; the spread over seeds shows how much of a difference is that.
    """
    from kronos_quant.study import compare

    rows_out = {}
    for seed in seeds:
        predictions, _ = roll(handler, {**model_kwargs, "seed": int(seed)}, periods, rows, valid_months=valid_months)
        frame = compare.align_signals(predictions, label)
        ics = compare.daily_ics(frame, [PLAIN, BLEND])
        rows_out[int(seed)] = {PLAIN: ics[PLAIN]["RankIC"].mean(), BLEND: ics[BLEND]["RankIC"].mean()}
    table = pd.DataFrame(rows_out).T
    table["difference"] = table[BLEND] - table[PLAIN]
    return table


def run_comparison(workflow: dict, settings: dict, *, periods, out: Path, valid_months: int = 6,
                   seeds=()) -> dict:
    """Roll both LightGBMs over the test ``periods`` [(start, end), ...]; tables under ``out``; headline numbers."""
    from qlib.data.dataset.handler import DataHandlerLP

    from kronos_quant.qlib_ext.kronos_factor_handler import Alpha158Kronos
    from kronos_quant.qlib_ext.qlib_setup import init_qlib
    from kronos_quant.study import compare

    init_qlib(provider_uri=settings["kronos"]["provider_uri"], reuse=True)
    rows = (settings["start_time"], settings["end_time"])
    began = time.perf_counter()
    handler = Alpha158Kronos(**settings)
    load_seconds = time.perf_counter() - began
    model_kwargs = dict(workflow["task"]["model"]["kwargs"])
    predictions, importance = roll(handler, model_kwargs, periods, rows, valid_months=valid_months)
    label = handler.fetch(col_set="label", data_key=DataHandlerLP.DK_R).iloc[:, 0]
    kronos = handler.fetch(col_set="feature", data_key=DataHandlerLP.DK_R)
    kronos = kronos[[name for name in kronos.columns if name.startswith("kronos_")]]
    signals = {PLAIN: predictions[PLAIN], BLEND: predictions[BLEND],
               **{name: kronos[name] for name in kronos.columns}}
    test_index = predictions[PLAIN].index
    frame = compare.align_signals({name: s.reindex(test_index) for name, s in signals.items()}, label)
    ics = compare.daily_ics(frame, list(signals))
    summary = compare.summary_table(ics)
    by_half = compare.by_period(ics, freq="half", column="RankIC")
    difference = (ics[BLEND]["RankIC"] - ics[PLAIN]["RankIC"]).dropna()
    diff = hac_mean(difference.to_numpy(), label_horizon=1)
    ic_difference = (ics[BLEND]["IC"] - ics[PLAIN]["IC"]).dropna()
    ic_diff = hac_mean(ic_difference.to_numpy(), label_horizon=1)
    backtests = _backtests(workflow, {PLAIN: frame[PLAIN], BLEND: frame[BLEND]})
    gains = kronos_gain_table(importance)
    out.mkdir(parents=True, exist_ok=True)
    summary.to_csv(out / "summary.csv")
    by_half.to_csv(out / "rankic_by_half_year.csv")
    gains.to_csv(out / "kronos_gain_share.csv")
    importance.to_csv(out / "lightgbm_gain.csv")
    pd.DataFrame(backtests).T.to_csv(out / "topk_backtest.csv")
    if seeds:
        seed_results = seed_table(handler, model_kwargs, periods, rows, label, seeds, valid_months=valid_months)
        seed_results.to_csv(out / "rankic_by_lightgbm_seed.csv")
        logger.info("RankIC by LightGBM seed\n%s", seed_results.round(4))
    result = {"rows": int(len(frame)), "days": int(frame.index.get_level_values(0).nunique()),
              "periods": [list(map(str, period)) for period in periods], "handler_load_seconds": round(load_seconds, 1),
              "rankic_difference": {"mean": diff.mean, "t_hac": diff.t_stat, "lags": diff.lags},
              "ic_difference": {"mean": ic_diff.mean, "t_hac": ic_diff.t_stat, "lags": ic_diff.lags},
              "seconds": round(time.perf_counter() - began, 1)}
    (out / "comparison.json").write_text(json.dumps(result, indent=1, default=float))
    logger.info("summary\n%s\nRankIC by half-year\n%s\nKronos gain share\n%s\nbacktests\n%s\n%s", summary.round(4),
                by_half.round(4), gains.round(4), pd.DataFrame(backtests).T.round(4), json.dumps(result, default=float))
    return result


def _backtests(workflow: dict, signals: dict) -> dict:
    """Top-K summaries (study.backtest) at the workflow's strategy settings and round-trip cost."""
    from kronos_quant.study.backtest import topk_report, topk_summary

    port = workflow["port_analysis_config"]
    strategy, backtest = port["strategy"]["kwargs"], port["backtest"]
    exchange = backtest["exchange_kwargs"]
    cost_bp = (float(exchange["open_cost"]) + float(exchange["close_cost"])) * 1e4
    settings = SimpleNamespace(topk=int(strategy["topk"]), n_drop=int(strategy["n_drop"]), cost_bp=cost_bp,
                               limit_threshold=float(exchange["limit_threshold"]), deal_price=exchange["deal_price"],
                               account=float(backtest["account"]), cost_grid_bp=(0.0, 10.0, 20.0, 40.0))
    end = pd.Timestamp(backtest["end_time"])
    out = {}
    for name, signal in signals.items():
        signal = signal[signal.index.get_level_values("datetime") <= end]
        report = topk_report(signal, settings=settings, benchmark=backtest["benchmark"])
        out[name] = topk_summary(report, settings=settings)
    return out

