"""workflows/*_neutralized.yaml: NeutralizeSignalRecord feeds SigAna/PortAna/Report. The demo variant runs end to end
(its own records, tiny settings on the tiny market); the CSI300 variant is checked to parse and resolve."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
DEMO, DEMO_NEUTRAL = REPO / "workflows" / "demo.yaml", REPO / "workflows" / "demo_neutralized.yaml"
CSI300_NEUTRAL = REPO / "workflows" / "csi300_zero_shot_neutralized.yaml"
ORDER = ["SignalRecord", "NeutralizeSignalRecord", "SigAnaRecord", "PortAnaRecord", "ReportRecord"]


@pytest.fixture
def checkpoint_env(tiny_checkpoints, monkeypatch):
    monkeypatch.setenv("KRONOS_TOKENIZER", str(tiny_checkpoints[0]))
    monkeypatch.setenv("KRONOS_PREDICTOR", str(tiny_checkpoints[1]))
    monkeypatch.setenv("KRONOS_DEVICE", "cpu")
    monkeypatch.chdir(REPO)


def _load(path):
    from kronos_quant.qlib_ext.workflow import load_workflow_config

    return load_workflow_config(path)


@pytest.mark.parametrize("path, original", [(DEMO_NEUTRAL, DEMO),
                                            (CSI300_NEUTRAL, REPO / "workflows" / "csi300_zero_shot.yaml")],
                         ids=["demo", "csi300"])
def test_neutralized_variants_differ_from_their_original_only_by_the_record(path, original, checkpoint_env):
    """Same market, model, dataset and backtest as the original; NeutralizeSignalRecord right after SignalRecord."""
    variant, base = _load(path), _load(original)
    assert [record["class"] for record in variant["task"]["record"]] == ORDER
    assert variant["task"]["dataset"] == base["task"]["dataset"]
    assert variant["task"]["record"][3] == base["task"]["record"][2]  # PortAnaRecord: same strategy and backtest
    drop = {"output_dir"}  # the demo variant keeps its checkpoints apart from demo.yaml's
    same = {k: v for k, v in variant["task"]["model"]["kwargs"].items() if k not in drop}
    assert same == {k: v for k, v in base["task"]["model"]["kwargs"].items() if k not in drop}
    assert variant["experiment_name"] == base["experiment_name"] + "_neutralized"


def test_csi300_variant_resolves(checkpoint_env):
    """Every record class imports, NeutralizeSignalRecord accepts its kwargs, and the model builds."""
    from qlib.utils import get_callable_kwargs, init_instance_by_config

    config = _load(CSI300_NEUTRAL)
    for record in config["task"]["record"]:
        cls, kwargs = get_callable_kwargs(record)
        if record["class"] == "NeutralizeSignalRecord":
            neutralizer = cls(**kwargs)
            assert neutralizer.exposures == ["beta", "size", "mom_20", "mom_60", "vol_20", "liquidity"]
            assert neutralizer.weight_col is None and neutralizer.benchmark == "SH000300"
    model = init_instance_by_config(config["task"]["model"])
    assert model.forecast_settings.lookback == config["task"]["dataset"]["kwargs"]["lookback"] == 90


@pytest.mark.shared
def test_csi300_provider_has_the_exposures_the_variant_asks_for(csi300_provider, init_qlib):
    from kronos_quant.qlib_ext.exposures_provider import load_exposures

    init_qlib(csi300_provider)
    kwargs = _load(CSI300_NEUTRAL)["task"]["record"][1]["kwargs"]
    exposures = load_exposures(["SH600000", "SH600036", "SH601318"], "2024-01-02", "2024-01-31",
                               benchmark=kwargs["benchmark"])
    assert set(kwargs["exposures"]) <= set(exposures.columns)
    assert exposures[kwargs["exposures"]].notna().all().all() and len(exposures) == 3 * 22


def _tiny(config: dict, provider: Path, mlruns: Path, setup) -> dict:
    """demo_neutralized.yaml's records and structure, on the tiny market with tiny training and a short backtest."""
    config["qlib_init"].update(provider_uri=str(provider), kernels=1)
    config["qlib_init"]["exp_manager"]["kwargs"]["uri"] = f"file:{mlruns}"
    task = config["task"]
    task["model"]["kwargs"].update(tokenizer=setup.tokenizer, predictor=setup.predictor,
                                   train_config={"tokenizer": setup.train, "predictor": setup.train},
                                   output_dir="outputs/model")
    task["model"]["kwargs"]["forecast"].update(lookback=setup.lookback, horizon=setup.horizon, sample_count=2)
    dataset = task["dataset"]["kwargs"]
    dataset.update(segments=setup.segments, lookback=setup.lookback, horizon=setup.horizon)
    dataset["handler"]["kwargs"].update(start_time="2020-01-02", end_time="2022-06-30")
    port = task["record"][3]["kwargs"]["config"]
    port["strategy"]["kwargs"].update(topk=5, n_drop=1)
    port["backtest"].update(start_time="2022-01-04", end_time="2022-02-28")
    return config


@pytest.mark.slow
def test_demo_variant_runs_and_every_later_record_reads_the_neutral_signal(tiny_market, kronos_setup, tmp_path):
    from qlib.cli.run import workflow
    from qlib.contrib.eva.alpha import calc_ic
    from qlib.workflow import R

    config = _tiny(_load(DEMO_NEUTRAL), tiny_market, tmp_path / "mlruns", kronos_setup)
    assert [record["class"] for record in config["task"]["record"]] == ORDER  # the file's own records
    path = tmp_path / "demo_neutralized.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(tmp_path)
        workflow(str(path))  # the YAML's experiment_name, in the temporary tracking store
    recorders = R.get_exp(experiment_name="kronos_demo_neutralized").list_recorders()
    assert len(recorders) == 1
    run = next(iter(recorders.values()))
    raw, neutral, label = (run.load_object(name) for name in ("pred_raw.pkl", "pred.pkl", "label.pkl"))
    assert neutral.index.equals(raw.index) and not np.allclose(neutral["score"], raw["score"], equal_nan=True)
    ic, _ = calc_ic(neutral.iloc[:, 0], label.iloc[:, 0])
    np.testing.assert_allclose(run.load_object("sig_analysis/ic.pkl").to_numpy(), ic.to_numpy())  # SigAna: neutral
    before_after = run.load_object("exposures_before_after.pkl")  # WLS on every exposure, industries included
    assert {"beta", "size", "mom_20", "vol_20"} <= set(before_after.index)
    assert any(str(name).startswith("industry=") for name in before_after.index)
    assert (before_after["corr_after"].abs() < 0.05).all(), before_after
    assert before_after["corr_before"].abs().max() > 5 * before_after["corr_after"].abs().max()
    report = run.load_object("portfolio_analysis/report_normal_1day.pkl")
    assert len(report) > 20 and np.isfinite(report[["return", "bench", "cost"]].to_numpy()).all()
    assert "report/report.html" in run.list_artifacts("report")
    from kronos_quant.model.checkpoint import read_bar_freq

    model = run.load_object("params.pkl")  # the demo's checkpoints record the daily bars they were trained on
    assert read_bar_freq(model.tokenizer_path) == read_bar_freq(model.predictor_path) == "1D"
    assert Path(model.predictor_path) == tmp_path / "outputs" / "model" / "predictor" / "best"
