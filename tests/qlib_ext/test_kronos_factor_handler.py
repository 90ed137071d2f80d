"""Alpha158Kronos on the tiny synthetic market: the join, cross-fitted rows, coverage errors, a blended qrun."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import yaml

# the module fixture trains two tiny fold models and loads Alpha158: ~1-2 min on 2 shared cores
pytestmark = pytest.mark.slow

ROWS = ("2021-07-01", "2022-02-28")  # two walk-forward folds: wf2021 (from Jul) and wf2022
TINY_KRONOS = dict(
    history_start="2020-01-02", valid_months=6, refit_years=1,
    forecast=dict(lookback=20, horizon=5, sample_count=2), horizons=[1, 2, 5],
    tokenizer=dict(d_in=6, d_model=16, n_heads=2, ff_dim=32, n_enc_layers=1, n_dec_layers=1, s1_bits=4, s2_bits=4,
                   group_size=4),
    predictor=dict(s1_bits=4, s2_bits=4, n_layers=1, d_model=16, n_heads=2, ff_dim=32),
    train=dict(lr=3e-3, warmup_steps=2, batch_size=32, epochs=1, windows_per_epoch=64, valid_windows=32,
               eval_every=2, seed=7, log_every=2, device="cpu"))


@pytest.fixture(scope="module")
def kronos(tiny_market, tmp_path_factory) -> dict:
    return {**TINY_KRONOS, "provider_uri": str(tiny_market), "work_dir": str(tmp_path_factory.mktemp("kronos_fx"))}


@pytest.fixture(scope="module")
def handler(tiny_market, init_qlib, kronos):
    from kronos_quant.qlib_ext.kronos_factor_handler import Alpha158Kronos

    init_qlib(tiny_market)
    return Alpha158Kronos(instruments="csi300", start_time=ROWS[0], end_time=ROWS[1], kronos=kronos)


@pytest.fixture(scope="module")
def features(handler, kronos):
    from kronos_quant.factors.config import KronosFactorConfig
    from kronos_quant.qlib_ext.kronos_factors import kronos_features

    return kronos_features(KronosFactorConfig.from_mapping(kronos), *ROWS)  # from the cache the handler filled


def test_handler_joins_alpha158_and_kronos_columns(handler, features):
    from qlib.data.dataset.handler import DataHandlerLP

    from kronos_quant.factors.features import feature_names

    frame = handler.fetch(col_set="feature", data_key=DataHandlerLP.DK_R)
    names = feature_names((1, 2, 5))
    assert set(names) <= set(frame.columns) and len(frame.columns) == 158 + len(names)
    joined = frame[names].dropna()
    assert len(joined) > 0.9 * len(frame)  # nearly every member row has a Kronos window
    expected = features.loc[joined.index, names]
    np.testing.assert_array_equal(joined.to_numpy(), expected.to_numpy())
    assert joined.index.get_level_values("datetime").min() == pd.Timestamp("2021-07-01")
    label = handler.fetch(col_set="label", data_key=DataHandlerLP.DK_R)
    assert label.index.equals(frame.index)


def test_every_feature_row_comes_from_a_model_that_never_saw_its_period(features, kronos):
    from kronos_quant.factors.config import KronosFactorConfig
    from kronos_quant.factors.crossfit import gap_days
    from kronos_quant.qlib_ext.kronos_factors import FOLD_COLUMN, fold_plan

    config = KronosFactorConfig.from_mapping(kronos)
    folds = {fold.name: fold for fold in fold_plan(config, *ROWS)}
    assert sorted(features[FOLD_COLUMN].unique()) == ["wf2021", "wf2022"]
    for name, rows in features.groupby(FOLD_COLUMN):
        dates = rows.index.get_level_values("datetime")
        for span in folds[name].seen:
            assert gap_days(span, dates).min() >= config.embargo_days
            assert span[1] < dates.min()  # walk-forward: the model only saw the past


def test_segments_the_features_cannot_cover_are_clear_errors(handler, kronos):
    from kronos_quant.qlib_ext.kronos_factor_handler import Alpha158Kronos

    with pytest.raises(ValueError, match="shorter than"):  # no history before the rows for a fold model
        Alpha158Kronos(instruments="csi300", start_time="2020-02-03", end_time="2020-03-31", kronos=kronos)
    with pytest.raises(ValueError, match="kronos: a mapping"):
        Alpha158Kronos(instruments="csi300", start_time=ROWS[0], end_time=ROWS[1])


def test_a_date_without_lookback_is_a_clear_error(tiny_market, init_qlib, kronos, tmp_path):
    """Every stock suspended (volume 0) for the 45 sessions before 2022-01-04: the
    60 sessions KronosDataset reads back (the handler loads 5 days) hold 15 traded bars, not 20."""
    import shutil

    from kronos_quant.factors.cache import read_calendar
    from kronos_quant.factors.config import KronosFactorConfig
    from kronos_quant.qlib_ext.kronos_factors import kronos_features

    provider = shutil.copytree(tiny_market, tmp_path / "market")
    day = int(read_calendar(provider).get_loc(pd.Timestamp("2022-01-04")))
    for path in (provider / "features").glob("*/volume.day.bin"):
        data = np.fromfile(path, dtype="<f4")
        first = int(data[0])
        data[1 + max(day - 45 - first, 0): 1 + max(day - first, 0)] = 0.0
        data.tofile(path)
    init_qlib(provider)
    try:
        config = KronosFactorConfig.from_mapping({**kronos, "provider_uri": str(provider), "history_margin_days": 5,
                                                  "work_dir": str(tmp_path / "work")})
        with pytest.raises(ValueError, match="cannot cover .* 2022-01-04"):
            kronos_features(config, "2022-01-04", "2022-01-31")
    finally:
        init_qlib(tiny_market)


def _workflow(provider, mlruns, kronos) -> dict:
    port = {"strategy": {"class": "TopkDropoutStrategy", "module_path": "qlib.contrib.strategy",
                         "kwargs": {"signal": "<PRED>", "topk": 5, "n_drop": 1}},
            "backtest": {"start_time": "2022-01-04", "end_time": "2022-02-25", "account": 1e8,
                         "benchmark": "SH000300",
                         "exchange_kwargs": {"limit_threshold": 0.095, "deal_price": "close", "open_cost": 0.0005,
                                             "close_cost": 0.0015, "min_cost": 5}}}
    handler = {"class": "Alpha158Kronos", "module_path": "kronos_quant.qlib_ext.kronos_factor_handler",
               "kwargs": {"instruments": "csi300", "start_time": ROWS[0], "end_time": ROWS[1], "kronos": kronos}}
    model = {"class": "LGBModel", "module_path": "qlib.contrib.model.gbdt",
             "kwargs": {"loss": "mse", "num_leaves": 8, "num_threads": 1, "num_boost_round": 20,
                        "early_stopping_rounds": 5, "verbosity": -1}}
    segments = {"train": ["2021-07-01", "2021-10-31"], "valid": ["2021-11-01", "2021-12-31"],
                "test": ["2022-01-01", "2022-02-28"]}
    return {"qlib_init": {"provider_uri": str(provider), "region": "cn", "kernels": 1,
                          # a sqlite store: qlib logs metrics asynchronously, and MLflow's file store can then be
                          # read mid-write by the next record ("Metric ... is malformed"); artifacts stay in mlruns
                          "exp_manager": {"class": "KronosExpManager",
                                          "module_path": "kronos_quant.qlib_ext.exp_manager",
                                          "kwargs": {"uri": f"sqlite:///{mlruns.parent / 'mlflow.db'}",
                                                     "default_exp_name": "Experiment",
                                                     "artifact_root": str(mlruns)}}},
            "task": {"model": model,
                     "dataset": {"class": "DatasetH", "module_path": "qlib.data.dataset",
                                 "kwargs": {"handler": handler, "segments": segments}},
                     "record": [{"class": "SignalRecord", "module_path": "qlib.workflow.record_temp",
                                 "kwargs": {"model": "<MODEL>", "dataset": "<DATASET>"}},
                                {"class": "SigAnaRecord", "module_path": "qlib.workflow.record_temp",
                                 "kwargs": {"ana_long_short": False, "ann_scaler": 252}},
                                {"class": "PortAnaRecord", "module_path": "qlib.workflow.record_temp",
                                 "kwargs": {"config": port}}]}}


def test_blended_workflow_runs_end_to_end_under_qrun(tiny_market, kronos, features, tmp_path):
    from qlib.cli.run import workflow
    from qlib.workflow import R

    path = tmp_path / "workflow.yaml"
    path.write_text(yaml.safe_dump(_workflow(tiny_market, tmp_path / "mlruns", kronos), sort_keys=False))
    workflow(str(path), experiment_name="alpha158_kronos_e2e")
    recorder = next(iter(R.get_exp(experiment_name="alpha158_kronos_e2e").list_recorders().values()))
    pred = recorder.load_object("pred.pkl")
    assert pred.index.get_level_values("datetime").min() >= pd.Timestamp("2022-01-01")
    assert len(pred) > 500 and np.isfinite(pred["score"]).all()
    ic = recorder.load_object("sig_analysis/ic.pkl")
    assert len(ic) > 30 and np.isfinite(ic).all()
    report = recorder.load_object("portfolio_analysis/report_normal_1day.pkl")
    assert len(report) > 30 and (report["turnover"] > 0).any()


def test_plain_dataset_drops_only_the_kronos_columns(handler):
    from kronos_quant.qlib_ext.kronos_factor_compare import without_kronos_dataset

    segments = {"train": ("2021-07-01", "2021-10-31"), "test": ("2022-01-01", "2022-02-28")}
    train, = without_kronos_dataset(handler, segments).prepare(["train"], col_set=["feature", "label"])
    assert train["feature"].shape[1] == 158 and "LABEL0" in train["label"].columns
    test = without_kronos_dataset(handler, segments).prepare("test", col_set="feature")
    assert test.shape[1] == 158 and not any(str(name).startswith("kronos_") for name in test.columns)


def test_comparison_of_plain_and_blended_lightgbm_on_the_same_rows(tiny_market, kronos, features, tmp_path):
    import json

    from kronos_quant.qlib_ext.kronos_factor_compare import run_comparison

    workflow = _workflow(tiny_market, tmp_path / "mlruns", kronos)
    workflow["port_analysis_config"] = workflow["task"]["record"][2]["kwargs"]["config"]
    settings = workflow["task"]["dataset"]["kwargs"]["handler"]["kwargs"]
    result = run_comparison(workflow, {**settings, "kronos": {**kronos}}, periods=[("2022-01-01", "2022-02-28")],
                            out=tmp_path / "out", valid_months=2, seeds=(1, 2))
    summary = pd.read_csv(tmp_path / "out" / "summary.csv", index_col=0)
    assert {"alpha158", "alpha158_kronos", "kronos_ret_1", "kronos_s1_entropy"} <= set(summary.index)
    assert np.isfinite(summary.loc[["alpha158", "alpha158_kronos"], "RankIC"]).all()
    assert result["days"] > 30 and np.isfinite(result["rankic_difference"]["mean"])  # t is NaN if the two tie
    importance = pd.read_csv(tmp_path / "out" / "lightgbm_gain.csv", index_col=0)
    assert len(importance) == 158 + 8 and "kronos_ret_1" in importance.index and "KMID" in importance.index
    gains = pd.read_csv(tmp_path / "out" / "kronos_gain_share.csv", index_col=0)
    assert 0 <= gains.loc["kronos_total"].iloc[0] <= 1
    backtest = pd.read_csv(tmp_path / "out" / "topk_backtest.csv", index_col=0)
    assert np.isfinite(backtest.loc[["alpha158", "alpha158_kronos"], "topk_excess_with_cost"]).all()
    assert json.loads((tmp_path / "out" / "comparison.json").read_text())["rows"] == result["rows"]
    seeds = pd.read_csv(tmp_path / "out" / "rankic_by_lightgbm_seed.csv", index_col=0)
    assert list(seeds.index) == [1, 2]
    assert np.allclose(seeds["difference"], seeds["alpha158_kronos"] - seeds["alpha158"])
