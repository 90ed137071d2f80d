"""Mistakes in a workflow fail before anything trains, and leave earlier checkpoints alone."""
from __future__ import annotations

import time

import pytest
from test_demo_followup import (  # noqa: F401  (a fixture)
    leave_no_relative_store,
    tiny_demo_workflow,
    write_workflow,
)

MISTAKES = {  # what the user wrote -> what the error must say
    "misspelt test segment": ({"segments": {"train": ["2020-06-01", "2021-06-30"],
                                            "valid": ["2021-07-01", "2021-12-31"],
                                            "tset": ["2022-01-01", "2022-02-28"]}}, r"'tset'.*did you mean 'test'"),
    "test after the data": ({"segments": {"train": ["2020-06-01", "2021-06-30"], "valid": ["2021-07-01", "2021-12-31"],
                                          "test": ["2023-01-02", "2023-03-31"]}},
                            r"segment test starts 2023-01-02, after the data ends \(2022-06-30\)"),
    "no test segment": ({"segments": {"train": ["2020-06-01", "2021-06-30"], "valid": ["2021-07-01", "2021-12-31"]}},
                        r"SignalRecord predicts the 'test' segment"),
    "backtest outside the test segment": ({"task.record": None}, r"backtest 2022-01-04\.\.2022-03-31 is not inside"),
    "model lookback above the dataset's": ({"task.dataset.kwargs.lookback": 20},
                                           r"forecast lookback is 30 bars but the dataset's is 20"),
}


def _config(tiny_market, kronos_setup, name):
    overrides, _ = MISTAKES[name]
    overrides = dict(overrides)
    if "task.record" in overrides:  # the backtest runs past the test segment's end
        overrides.pop("task.record")
        config = tiny_demo_workflow(tiny_market, kronos_setup)
        config["task"]["record"][2]["kwargs"]["config"]["backtest"]["end_time"] = "2022-03-31"
        return config
    return tiny_demo_workflow(tiny_market, kronos_setup, **overrides)


@pytest.mark.usefixtures("leave_no_relative_store")
@pytest.mark.parametrize("name", list(MISTAKES))
def test_mistakes_fail_before_training_and_keep_old_checkpoints(name, tiny_market, kronos_setup, tmp_path,
                                                                 monkeypatch):
    from kronos_quant.qlib_ext.model import KronosModel
    from kronos_quant.qlib_ext.workflow import run_workflow

    monkeypatch.chdir(tmp_path)
    previous = tmp_path / "outputs" / "demo_model" / "tokenizer" / "best" / "config.json"
    previous.parent.mkdir(parents=True)
    previous.write_text('{"from": "an earlier run"}')

    def no_training(self, *args, **kwargs):
        raise AssertionError("training started before the workflow was checked")

    monkeypatch.setattr(KronosModel, "fit", no_training)
    started = time.perf_counter()
    with pytest.raises(ValueError, match=MISTAKES[name][1]) as info:
        run_workflow(write_workflow(tmp_path, _config(tiny_market, kronos_setup, name)))
    assert "tiny_demo.yaml" in str(info.value)  # names the file
    assert time.perf_counter() - started < 20  # qlib.init + the checks only (seconds, not a training run)
    assert previous.read_text() == '{"from": "an earlier run"}'
    assert sorted(path.name for path in (tmp_path / "outputs" / "demo_model").rglob("*")) == [
        "best", "config.json", "tokenizer"]


def test_misspelt_segment_fails_at_dataset_construction_in_plain_qrun(tiny_market, init_qlib):
    from kronos_quant.qlib_ext.dataset import KronosDataset

    init_qlib(tiny_market)
    handler = {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
               "kwargs": {"instruments": "csi300", "start_time": "2020-01-02", "end_time": "2022-06-30"}}
    with pytest.raises(ValueError, match="segment 'tset': did you mean 'test'"):
        KronosDataset(handler=handler, segments={"train": ("2020-06-01", "2021-06-30"),
                                                 "tset": ("2022-01-01", "2022-02-28")}, lookback=10, horizon=2)
    # names that are not near-misses stay allowed (the factor pipeline uses "score")
    dataset = KronosDataset(handler=handler, segments={"score": ("2022-01-03", "2022-01-31")}, lookback=10, horizon=2)
    assert list(dataset.segments) == ["score"]


@pytest.mark.parametrize("edit, line, noticed", [
    (("  end_time: \"2022-06-30\"", "  end_time \"2022-06-30\""), "end_time", None),  # missing ':'
    (("segments:", "segments: ["), "segments", "valid"),  # unclosed bracket, noticed two lines later
])
def test_yaml_syntax_error_names_the_file_and_the_line(edit, line, noticed, tmp_path):
    from kronos_quant.qlib_ext.workflow import load_workflow_config

    text = (
        "qlib_init:\n  provider_uri: somewhere\ntask:\n  dataset:\n    kwargs:\n      handler:\n"
        "        kwargs:\n          start_time: \"2020-01-02\"\n          end_time: \"2022-06-30\"\n"
        "          instruments: csi300\n      segments:\n        train: [\"2020-06-01\", \"2021-06-30\"]\n"
        "        valid: [\"2021-07-01\", \"2021-12-31\"]\n"
    )
    broken = text.replace(*edit, 1)
    assert broken != text
    path = tmp_path / "broken.yaml"
    path.write_text(broken)
    expected = next(number for number, content in enumerate(broken.splitlines(), 1) if content.strip().startswith(line))
    with pytest.raises(ValueError) as info:
        load_workflow_config(path)
    message = str(info.value)
    assert message.startswith(f"{path}, line {expected}: YAML syntax error")
    if noticed:
        assert f"noticed at line {expected + 2}: {noticed}" in message
