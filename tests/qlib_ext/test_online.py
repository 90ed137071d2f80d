"""Qlib features that used to fail quietly: online updates, slice segments, checkpoints in the recorder,
handler processors (tiny model, tiny market)."""
from __future__ import annotations

import pickle
import shutil

import numpy as np
import pandas as pd
import pytest

SHORT = {"train": ["2021-10-01", "2021-11-30"], "valid": ["2021-12-01", "2021-12-31"],
         "test": ["2022-02-14", "2022-02-28"]}


@pytest.fixture(scope="module")
def dataset(tiny_market, init_qlib, kronos_setup):
    init_qlib(tiny_market)
    return kronos_setup.dataset(segments=SHORT)


def _model(tiny_checkpoints, **kwargs):
    from kronos_quant.qlib_ext.model import KronosModel

    values = dict(lookback=30, horizon=5, sample_count=2, device="cpu", seed=3)
    values.update(kwargs)
    return KronosModel(*map(str, tiny_checkpoints), **values)


@pytest.fixture()
def recorder_uri(tmp_path):
    return f"file:{tmp_path / 'mlruns'}"


def test_predict_accepts_a_slice_segment(dataset, tiny_checkpoints):
    model = _model(tiny_checkpoints).fit(dataset)
    named = model.predict(dataset, "test")
    sliced = model.predict(dataset, slice("2022-02-16", "2022-02-22"))
    dates = sliced.index.get_level_values("datetime")
    assert dates.min() == pd.Timestamp("2022-02-16") and dates.max() == pd.Timestamp("2022-02-22")
    pd.testing.assert_series_equal(sliced, named.loc[pd.Timestamp("2022-02-16"):pd.Timestamp("2022-02-22")])
    with pytest.raises(ValueError, match="needs a start and an end"):
        model.predict(dataset, slice(None, "2022-02-15"))


def test_a_handler_loaded_from_the_segment_start_still_has_lookback_history(tiny_checkpoints, kronos_setup,
                                                                            dataset):
    from kronos_quant.qlib_ext.dataset import KronosDataset

    handler = kronos_setup.handler(start="2022-02-14", end="2022-02-28")
    short = KronosDataset(handler=handler, segments={"test": ("2022-02-14", "2022-02-28")}, lookback=30, horizon=5)
    model = _model(tiny_checkpoints).fit(dataset)
    pd.testing.assert_series_equal(model.predict(short), model.predict(dataset), rtol=1e-6)


def test_pred_updater_extends_a_kronos_recorder(dataset, tiny_checkpoints, recorder_uri):
    """Qlib's online PredUpdater reloads the handler from the day after the last prediction only."""
    from qlib.workflow import R
    from qlib.workflow.online.update import PredUpdater
    from qlib.workflow.record_temp import SignalRecord

    model = _model(tiny_checkpoints).fit(dataset)
    with R.start(experiment_name="online", uri=recorder_uri):
        R.save_objects(**{"params.pkl": model})
        dataset.config(dump_all=False, recursive=True)
        R.save_objects(dataset=dataset)  # what qlib.model.trainer.task_train stores
        SignalRecord(model=model, dataset=dataset, recorder=R.get_recorder()).generate()
        recorder = R.get_recorder()
    before = recorder.load_object("pred.pkl")
    assert before.index.get_level_values("datetime").max() == pd.Timestamp("2022-02-28")
    PredUpdater(recorder, to_date="2022-03-03").update()
    after = recorder.load_object("pred.pkl")
    new = after.loc[pd.Timestamp("2022-03-01"):]
    assert sorted(set(new.index.get_level_values("datetime").strftime("%m-%d"))) == \
        ["03-01", "03-02", "03-03"]
    pd.testing.assert_frame_equal(after.loc[:pd.Timestamp("2022-02-28")], before)
    expected = model.predict(dataset, slice("2022-03-01", "2022-03-03"))
    np.testing.assert_allclose(new["score"].to_numpy(), expected.loc[new.index].to_numpy(), rtol=1e-6)


def test_trained_checkpoints_travel_with_the_recorder(dataset, tiny_checkpoints, kronos_setup, recorder_uri,
                                                     tmp_path):
    from qlib.workflow import R

    out = tmp_path / "trained"
    train = dict(kronos_setup.train, max_steps=2)
    model = _model(tiny_checkpoints, mode="finetune", train_config={"predictor": train}, output_dir=str(out))
    with R.start(experiment_name="artifacts", uri=recorder_uri):
        model.fit(dataset)
        R.save_objects(**{"params.pkl": model})  # as qrun's task_train does
        recorder = R.get_recorder()
    assert model.checkpoint_artifacts.recorder_id == recorder.id
    assert "kronos_checkpoints/predictor/model.safetensors" in recorder.list_artifacts("kronos_checkpoints/predictor")
    scores = model.predict(dataset, slice("2022-02-14", "2022-02-15"))
    blob = pickle.dumps(model)
    shutil.rmtree(out)  # params.pkl on another machine: the local checkpoint folder is gone
    restored = pickle.loads(blob)
    with R.uri_context(recorder_uri):
        pd.testing.assert_series_equal(restored.predict(dataset, slice("2022-02-14", "2022-02-15")), scores)
    _predict_cli_reads_the_run(recorder, recorder_uri, tiny_checkpoints, kronos_setup, tmp_path, expected=scores)
    restored.checkpoint_artifacts, restored._pair = None, None
    with pytest.raises(ValueError, match="does not exist here and the model holds no recorder artifact"):
        restored.predict(dataset, slice("2022-02-14", "2022-02-15"))


def _predict_cli_reads_the_run(recorder, uri, tiny_checkpoints, kronos_setup, tmp_path, *, expected):
    """`kronos-quant predict --recorder ID`: params.pkl and checkpoints come from the run."""
    import yaml
    from qlib.config import C

    from kronos_quant.cli import main

    provider = C["provider_uri"]["__DEFAULT_FREQ"]
    dataset = {"class": "KronosDataset", "module_path": "kronos_quant.qlib_ext.dataset",
               "kwargs": {"handler": kronos_setup.handler(), "lookback": 30, "horizon": 5,
                          "segments": {"test": ["2022-02-14", "2022-02-15"]}}}
    model = {"class": "KronosModel", "module_path": "kronos_quant.qlib_ext.model",
             "kwargs": {"tokenizer": str(tiny_checkpoints[0]), "predictor": str(tiny_checkpoints[1])}}
    config = {"qlib_init": {"provider_uri": str(provider), "region": "cn", "kernels": 1, "exp_manager": {
        "class": "MLflowExpManager", "module_path": "qlib.workflow.expm",
        "kwargs": {"uri": uri, "default_exp_name": "Experiment"}}},
        "experiment_name": "artifacts", "task": {"model": model, "dataset": dataset}}
    path, out = tmp_path / "workflow.yaml", tmp_path / "scores.pkl"
    path.write_text(yaml.safe_dump(config))
    assert main(["predict", "--workflow-config", str(path), "--recorder", recorder.id, "--out", str(out)]) == 0
    pd.testing.assert_series_equal(pd.read_pickle(out), expected)


@pytest.mark.parametrize("processors, ok", [
    ([{"class": "DropnaLabel"}], True),
    ([{"class": "CSRankNorm", "kwargs": {"fields_group": "label"}}], True),
    ([{"class": "CSZScoreNorm", "kwargs": {"fields_group": "feature"}}], False),
    ([{"class": "Fillna"}], False),
])
def test_feature_processors_are_rejected_not_ignored(dataset, kronos_setup, processors, ok):
    from kronos_quant.qlib_ext.dataset import KronosDataset

    handler = kronos_setup.handler(start="2022-01-01", end="2022-02-28")
    handler["kwargs"]["learn_processors"] = processors
    build = lambda: KronosDataset(handler=handler, segments={"test": ("2022-02-01", "2022-02-28")},  # noqa: E731
                                  lookback=30, horizon=5)
    if ok:
        assert len(build().prepare("test")) > 0
    else:
        with pytest.raises(ValueError, match="feature processors"):
            build()
