"""Records and exposures provider on the tiny synthetic Qlib market (session fixture ``tiny_market``)."""
import numpy as np
import pandas as pd
import pytest

qlib = pytest.importorskip("qlib")

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
        ReportRecord(recorder=recorder, name="kronos", n_quantiles=5, rolling_window=5).generate()

        raw = recorder.load_object("pred_raw.pkl")
        neutral = recorder.load_object("pred.pkl")
        pd.testing.assert_frame_equal(raw, pred)
        assert list(neutral.columns) == ["score"] and neutral.index.equals(pred.index)
        assert not np.allclose(neutral["score"].fillna(0), pred["score"])
        ic = recorder.load_object("sig_analysis/ic.pkl")  # SigAnaRecord evaluated the pure alpha
        expected, _ = calc_ic(neutral["score"], label["LABEL0"])
        pd.testing.assert_series_equal(ic, expected, check_names=False)
        before_after = recorder.load_object("exposures_before_after.pkl")
        # WLS residuals are orthogonal in the sqrt(mktcap)-weighted inner product, so the plain
        # correlations shown here are small but not exactly 0
        assert before_after["corr_after"].abs().max() < 0.05
        assert before_after.loc["beta", "corr_after"] != before_after.loc["beta", "corr_before"]
        artifacts = recorder.list_artifacts("report")
        assert "report/report.html" in artifacts and "report/metrics.json" in artifacts
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
