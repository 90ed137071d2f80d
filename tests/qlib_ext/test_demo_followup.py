"""The demo's printed next steps work, interrupted runs are marked and skipped, a rerun starts cleanly.

A tiny workflow (the demo's records and sqlite store, the tiny market, a few training steps) runs through
``kronos-quant demo --workflow`` in a temporary working directory, so ``./mlflow.db`` and ``./mlruns``
land there, as they would in a fresh clone.
"""
from __future__ import annotations

import json
import logging
import re
import shlex
from pathlib import Path

import pytest
import yaml

EXPERIMENT = "kronos_demo_tiny"
BACKTEST = ("2022-01-04", "2022-02-28")


@pytest.fixture
def leave_no_relative_store(tiny_market):
    """After the test, a fresh qlib session on the default store: the workflows' ``sqlite:///mlflow.db`` is
    relative to the working directory, and later tests run from the repository."""
    yield
    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    init_qlib(provider_uri=tiny_market)


def tiny_demo_workflow(provider, setup, **overrides) -> dict:
    """workflows/demo.yaml's shape on the tiny market: the same records, store and signal; tiny training."""
    port = {"strategy": {"class": "TopkDropoutStrategy", "module_path": "qlib.contrib.strategy",
                         "kwargs": {"signal": "<PRED>", "topk": 5, "n_drop": 1}},
            "backtest": {"start_time": BACKTEST[0], "end_time": BACKTEST[1], "account": 1e8, "benchmark": "SH000300",
                         "exchange_kwargs": {"limit_threshold": 0.095, "deal_price": "close", "open_cost": 0.0005,
                                             "close_cost": 0.0015, "min_cost": 5}}}
    window = {"lookback": setup.lookback, "horizon": setup.horizon}
    model = {"mode": "scratch", "tokenizer": setup.tokenizer, "predictor": setup.predictor,
             "train_config": {"tokenizer": setup.train, "predictor": setup.train}, "output_dir": "outputs/demo_model",
             "forecast": {**window, "T": 0.6, "top_p": 0.9, "sample_count": 2, "signal": "expected_return", "seed": 0},
             "runtime": {"device": "cpu"}}
    segments = overrides.pop("segments", setup.segments)
    config = {
        "qlib_init": {"provider_uri": str(provider), "region": "cn", "kernels": 1,
                      "exp_manager": {"class": "MLflowExpManager", "module_path": "qlib.workflow.expm",
                                      "kwargs": {"uri": "sqlite:///mlflow.db", "default_exp_name": "Experiment"}}},
        "experiment_name": EXPERIMENT,
        "task": {
            "model": {"class": "KronosModel", "module_path": "kronos_quant.qlib_ext.model", "kwargs": model},
            "dataset": {"class": "KronosDataset", "module_path": "kronos_quant.qlib_ext.dataset",
                        "kwargs": {"handler": setup.handler(), "segments": segments, **window}},
            "record": [
                {"class": "SignalRecord", "module_path": "qlib.workflow.record_temp",
                 "kwargs": {"model": "<MODEL>", "dataset": "<DATASET>"}},
                {"class": "SigAnaRecord", "module_path": "qlib.workflow.record_temp",
                 "kwargs": {"ana_long_short": False, "ann_scaler": 252}},
                {"class": "PortAnaRecord", "module_path": "qlib.workflow.record_temp", "kwargs": {"config": port}},
                {"class": "ReportRecord", "module_path": "kronos_quant.qlib_ext.records",
                 "kwargs": {"name": EXPERIMENT, "decay_horizons": 3}},
            ],
        },
    }
    for dotted, value in overrides.items():  # e.g. {"task.dataset.kwargs.lookback": 10}
        *parents, key = dotted.split(".")
        node = config
        for parent in parents:
            node = node[parent]
        node[key] = value
    return config


def write_workflow(directory, config) -> str:
    path = directory / "tiny_demo.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return str(path)


def follow_up_commands(stdout: str) -> list[str]:
    """The shell commands the demo suggests (``compare runs: kronos-quant ...`` lines)."""
    return re.findall(r"^compare runs: (kronos-quant .+)$", stdout, flags=re.MULTILINE)


def run_statuses(experiment: str) -> dict[str, str]:
    from qlib.workflow import R

    return {run: recorder.status for run, recorder in R.get_exp(experiment_name=experiment).list_recorders().items()}


@pytest.mark.slow
def test_interrupt_then_rerun_then_the_printed_follow_up(tiny_market, kronos_setup, tmp_path, monkeypatch, capsys,
                                                          caplog, leave_no_relative_store):
    from kronos_quant.cli import main
    from kronos_quant.qlib_ext.model import KronosModel

    monkeypatch.chdir(tmp_path)
    workflow = write_workflow(tmp_path, tiny_demo_workflow(tiny_market, kronos_setup))
    demo = ["demo", "--workflow", workflow, "--provider-dir", str(tiny_market)]

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:  # Ctrl-C during the demo's inference
        patch.setattr(KronosModel, "forecast_rows", ctrl_c)
        assert main(demo) == 130
    assert "interrupted" in capsys.readouterr().err
    assert list(run_statuses(EXPERIMENT).values()) == ["KILLED"]

    # report on only the interrupted run: one error line, exit 2, no traceback
    caplog.clear()
    assert main(["report", "--experiment", EXPERIMENT, "--latest", "--out", str(tmp_path / "r0")]) == 2
    errors = [record.getMessage() for record in caplog.records if record.levelname == "ERROR"]
    assert len(errors) == 1 and "has no run with predictions" in errors[0] and "\n" not in errors[0]

    caplog.clear()
    caplog.set_level(logging.INFO)
    assert main(demo) == 0  # the rerun starts a fresh run and finishes
    printed = capsys.readouterr().out
    written = [re.search(r"report written to (\S+)", record.getMessage()) for record in caplog.records]
    written = [match.group(1).removeprefix("file://").removeprefix("file:") for match in written if match]
    assert written and all(Path(path).is_file() for path in written)  # never a temporary folder that is gone
    statuses = run_statuses(EXPERIMENT)
    assert sorted(statuses.values()) == ["FINISHED", "KILLED"]
    ic = float(re.search(r"^\s+IC\s+(-?\d+\.\d+)$", printed, flags=re.MULTILINE).group(1))

    commands = follow_up_commands(printed)
    assert commands == [f"kronos-quant report --experiment {EXPERIMENT} --out reports/{EXPERIMENT}"]
    for command in commands:  # verbatim, as a user would paste it
        assert main(shlex.split(command)[1:]) == 0
    metrics = json.loads((tmp_path / "reports" / EXPERIMENT / "metrics.json").read_text())
    assert list(metrics) == [EXPERIMENT]  # the killed run is skipped, the finished one reported
    assert metrics[EXPERIMENT]["IC_mean"] == pytest.approx(ic, abs=5e-5)
    assert main(["report", "--experiment", EXPERIMENT, "--latest", "--out", str(tmp_path / "r1")]) == 0
    assert any("skipping run" in record.getMessage() and "KILLED" in record.getMessage() for record in caplog.records)

    # the saved workflow config is what the YAML said (data), so the data-only unpickler reads it
    from qlib.workflow import R

    from kronos_quant.qlib_ext.mlflow_runs import recorded_provider
    from kronos_quant.qlib_ext.records import try_load

    finished = next(run for run, status in statuses.items() if status == "FINISHED")
    recorder = R.get_exp(experiment_name=EXPERIMENT).list_recorders()[finished]
    saved = try_load(recorder, "config")
    assert saved["task"]["record"][0]["kwargs"] == {"model": "<MODEL>", "dataset": "<DATASET>"}
    assert recorded_provider(recorder) == str(tiny_market.resolve())
    assert (tmp_path / "mlflow.db").is_file() and (tmp_path / "mlruns").is_dir()  # the demo's layout, in its cwd


def test_fast_demo_setting_keeps_the_pipeline_and_shrinks_the_budget():
    """``kronos-quant demo --fast`` (what CI runs before the printed follow-up): same records, smaller budget."""
    from kronos_quant.qlib_ext.quickstart import fast_demo_config
    from kronos_quant.qlib_ext.workflow import load_workflow_config
    from kronos_quant.qlib_ext.workflow_checks import check_backtest_in_test, parse_range

    full = load_workflow_config(Path(__file__).resolve().parents[2] / "workflows" / "demo.yaml")
    fast = fast_demo_config(full)
    assert [r["class"] for r in fast["task"]["record"]] == [r["class"] for r in full["task"]["record"]]
    assert full["task"]["dataset"]["kwargs"]["segments"]["test"] == ["2022-01-01", "2023-06-30"]  # untouched
    assert fast["task"]["dataset"]["kwargs"]["segments"]["test"] == ["2022-01-01", "2022-03-31"]
    train = fast["task"]["model"]["kwargs"]["train_config"]["predictor"]
    assert train["windows_per_epoch"] * train["epochs"] < full["task"]["model"]["kwargs"]["train_config"][
        "predictor"]["windows_per_epoch"] * full["task"]["model"]["kwargs"]["train_config"]["predictor"]["epochs"] / 8
    assert fast["task"]["model"]["kwargs"]["forecast"]["sample_count"] == 2
    segments = fast["task"]["dataset"]["kwargs"]["segments"]
    ranges = {name: parse_range(value, name=name) for name, value in segments.items()}
    check_backtest_in_test(fast["task"]["record"], ranges, where="fast demo")  # the backtest follows the test cut
    assert full["task"]["model"]["kwargs"]["runtime"]["threads"] == 1  # the demo's figures do not depend on the cores
