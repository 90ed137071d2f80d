"""Records and exposures provider on the tiny synthetic Qlib market (session fixture ``tiny_market``)."""
import numpy as np
import pandas as pd
import pytest
import qlib

START, END = "2022-03-01", "2022-04-15"


@pytest.fixture(scope="module")
def qlib_tiny(tiny_market):
    qlib.init(provider_uri=str(tiny_market), region="cn", kernels=1)
    return tiny_market


@pytest.fixture(scope="module")
def pred_label(qlib_tiny):
    from qlib.data import D

    frame = D.features(D.instruments("csi300"), ["$close", "Ref($close, -2) / Ref($close, -1) - 1"], START, END)
    frame = frame.swaplevel().sort_index().dropna()
    frame.columns = ["close", "LABEL0"]
    rng = np.random.default_rng(0)
    score = 0.5 * frame["LABEL0"] / frame["LABEL0"].std() + rng.normal(size=len(frame))
    return score.to_frame("score"), frame[["LABEL0"]]


def test_load_exposures_columns_and_history(qlib_tiny, pred_label):
    from kronos_quant.qlib_ext.exposures_provider import load_exposures

    pred, _ = pred_label
    instruments = sorted(pred.index.get_level_values("instrument").unique())
    exposures = load_exposures(instruments, START, END)
    assert {"beta", "size", "mom_20", "mom_60", "vol_20", "liquidity", "industry", "mktcap"} <= set(exposures.columns)
    dates = exposures.index.get_level_values("datetime")
    assert dates.min() == pd.Timestamp(START)  # buffer fetched before START, then cut
    assert exposures["beta"].notna().mean() > 0.95  # 60-day beta available from day one
    assert exposures["industry"].dropna().between(0, 7).all()


def test_neutralize_then_qlib_analysis_then_report(qlib_tiny, pred_label, tmp_path):
    from qlib.contrib.eva.alpha import calc_ic
    from qlib.workflow import R
    from qlib.workflow.record_temp import SigAnaRecord

    from kronos_quant.qlib_ext.records import NeutralizeSignalRecord, ReportRecord

    pred, label = pred_label
    with R.start(experiment_name="kq_records", uri=f"file:{tmp_path / 'mlruns'}"):
        recorder = R.get_recorder()
        recorder.save_objects(**{"pred.pkl": pred, "label.pkl": label})
        neutral_record = NeutralizeSignalRecord(recorder=recorder, weight_col="mktcap")
        neutral_record.generate()
        NeutralizeSignalRecord(recorder=recorder, weight_col="mktcap").generate()  # idempotent
        SigAnaRecord(recorder=recorder).generate()
        ReportRecord(recorder=recorder, name="kronos", n_quantiles=5, rolling_window=5, decay_horizons=3).generate()

        raw = recorder.load_object("pred_raw.pkl")
        neutral = recorder.load_object("pred.pkl")
        pd.testing.assert_frame_equal(raw, pred)
        assert list(neutral.columns) == ["score"] and neutral.index.equals(pred.index)
        assert not np.allclose(neutral["score"].fillna(0), pred["score"])
        ic = recorder.load_object("sig_analysis/ic.pkl")  # SigAnaRecord evaluated the pure alpha
        expected, _ = calc_ic(neutral["score"], label["LABEL0"])
        pd.testing.assert_series_equal(ic, expected, check_names=False)
        before_after = recorder.load_object("exposures_before_after.pkl")
        # judged with the regression's sqrt(mktcap) weights, the WLS output has no exposure left on
        # exposures known on every row (beta, industries); the others were median-filled for the fit
        exact = before_after.loc[["beta"] + [r for r in before_after.index if r.startswith("industry=")]]
        assert exact[["corr_after", "beta_after"]].abs().max().max() < 1e-8
        assert before_after["corr_after"].abs().max() < 0.01
        assert before_after.loc["beta", "corr_after"] != before_after.loc["beta", "corr_before"]
        artifacts = recorder.list_artifacts("report")
        assert "report/report.html" in artifacts and "report/metrics.json" in artifacts
        assert "report/kronos_ic_decay.csv" in artifacts and "report/kronos_raw_ic_decay.csv" in artifacts
        assert "exposures_before_after.csv" in recorder.list_artifacts()


def test_neutralize_record_rejects_unknown_exposure(qlib_tiny, pred_label, tmp_path):
    from qlib.workflow import R

    from kronos_quant.qlib_ext.records import NeutralizeSignalRecord

    pred, label = pred_label
    with R.start(experiment_name="kq_records_bad", uri=f"file:{tmp_path / 'mlruns'}"):
        recorder = R.get_recorder()
        recorder.save_objects(**{"pred.pkl": pred, "label.pkl": label})
        with pytest.raises(ValueError, match="not available"):
            NeutralizeSignalRecord(recorder=recorder, exposures=["value"]).generate()


def test_cli_report_reads_mlflow_runs(qlib_tiny, pred_label, tmp_path):
    from qlib.workflow import R

    from kronos_quant.cli import main

    pred, label = pred_label
    uri = f"file:{tmp_path / 'mlruns'}"
    for name, scale in (("kronos_raw", 1.0), ("lgbm", -1.0)):
        with R.start(experiment_name="kq_cli", recorder_name=name, uri=uri):
            R.get_recorder().save_objects(**{"pred.pkl": pred * scale, "label.pkl": label})
    out = tmp_path / "out"
    assert main(["report", "--experiment", "kq_cli", "--uri", uri, "--out", str(out), "--rolling-window", "5"]) == 0
    import json

    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"kronos_raw", "lgbm"}
    assert metrics["kronos_raw"]["IC_mean"] == pytest.approx(-metrics["lgbm"]["IC_mean"])
    assert (out / "report.html").exists() and (out / "figures" / "ic.png").exists()
    assert main(["report", "--experiment", "nope", "--uri", uri, "--out", str(out)]) == 2


def test_cli_report_puts_experiments_side_by_side(qlib_tiny, pred_label, tmp_path):
    """Kronos and a baseline from two qrun experiments (default recorder names), newest run of each."""
    import json

    from qlib.workflow import R

    from kronos_quant.cli import main

    pred, label = pred_label
    uri = f"file:{tmp_path / 'mlruns'}"
    for experiment, scale in (("kronos_demo", 1.0), ("kronos_demo", 2.0), ("lightgbm_alpha158", -1.0)):
        with R.start(experiment_name=experiment, recorder_name="mlflow_recorder", uri=uri):
            R.get_recorder().save_objects(**{"pred.pkl": pred * scale, "label.pkl": label})
    out = tmp_path / "side_by_side"
    args = ["report", "--experiment", "kronos_demo", "--experiment", "lightgbm_alpha158", "--latest",
            "--uri", uri, "--out", str(out), "--rolling-window", "5"]
    assert main(args) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert set(metrics) == {"kronos_demo", "lightgbm_alpha158"}
    assert metrics["kronos_demo"]["IC_mean"] == pytest.approx(-metrics["lightgbm_alpha158"]["IC_mean"])
    assert main(args[:5] + ["--run", "abc", "--uri", uri, "--out", str(out)]) == 2


def test_decay_labels_equal_qlib_labels_up_to_the_ends_of_membership_spans(qlib_tiny):
    """Universe-masked closes would blank labels near a span's end; closes by code list do not.

    The tiny market re-selects csi300 in mid-December, so spans end inside this window.
    """
    from qlib.data import D

    from kronos_quant.qlib_ext.decay_labels import decay_labels
    from kronos_quant.research.ic_analysis import forward_returns

    start, end = "2021-11-15", "2021-12-31"
    universe = D.instruments("csi300")
    expected = D.features(universe, ["Ref($close, -6) / Ref($close, -1) - 1", "$close"], start, end)
    expected = expected.swaplevel().sort_index()
    signal = expected["$close"].rename("score")  # any score on the member rows
    labels = decay_labels(signal, (1, 5))
    qlib_label = expected.iloc[:, 0]
    finite = qlib_label.notna()
    ours = labels[5].reindex(signal.index)
    assert finite.sum() > 500 and ours[finite].notna().all()
    np.testing.assert_allclose(ours[finite].to_numpy(), qlib_label[finite].to_numpy(), rtol=1e-5)
    masked_close = D.features(universe, ["$close"], start, "2022-01-31")["$close"].unstack("instrument").sort_index()
    masked = forward_returns(masked_close, (5,))[5].reindex(signal.index)
    assert (finite & masked.isna()).sum() >= 4  # a universe-masked panel loses labels before span ends


def test_label_expression_from_the_dataset(qlib_tiny):
    from qlib.data.dataset import DatasetH

    from kronos_quant.qlib_ext.records import label_expression

    handler = {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
               "kwargs": {"instruments": "csi300", "start_time": START, "end_time": END, "label_horizon": 5}}
    dataset = DatasetH(handler=handler, segments={"test": (START, END)})
    assert label_expression(dataset) == "Ref($close, -6) / Ref($close, -1) - 1"
    assert label_expression(object()) is None


def test_cli_report_states_the_label_and_shows_ic_decay(qlib_tiny, pred_label, tmp_path):
    import json

    from qlib.data.dataset import DatasetH
    from qlib.workflow import R

    from kronos_quant.cli import main

    pred, label = pred_label
    handler = {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
               "kwargs": {"instruments": "csi300", "start_time": START, "end_time": END, "label_horizon": 5}}
    dataset = DatasetH(handler=handler, segments={"test": (START, END)})
    dataset.config(dump_all=False, recursive=True)  # as task_train saves it
    uri = f"file:{tmp_path / 'mlruns'}"
    with R.start(experiment_name="kq_decay", recorder_name="kronos", uri=uri):
        R.get_recorder().save_objects(**{"pred.pkl": pred, "label.pkl": label, "dataset": dataset})
    out = tmp_path / "out"
    args = ["report", "--experiment", "kq_decay", "--uri", uri, "--out", str(out), "--rolling-window", "5",
            "--decay-horizons", "6", "--provider-uri", str(qlib_tiny)]
    assert main(args) == 0
    decay = pd.read_csv(out / "kronos_ic_decay.csv", index_col=0)
    assert list(decay.index) == [1, 2, 3, 4, 5, 6] and decay["IC"].notna().all()
    assert decay.loc[1, "IC"] > decay.loc[6, "IC"]  # the score was built from the 1-day label
    text = (out / "report.html").read_text()
    assert "Ref($close, -6) / Ref($close, -1) - 1</code> (5-day horizon" in text
    assert json.loads((out / "metrics.json").read_text())["kronos"]["IC_hac_lags"] >= 5
    assert main(args[:-4] + ["--decay-horizons", "-1"]) == 2
