"""Distributed inference: 2 gloo ranks under torchrun give exactly the single-process scores."""
from __future__ import annotations

import os
import subprocess
import sys

import pandas as pd
import pytest
import yaml


@pytest.mark.parametrize("n_rows, world_size", [(10, 3), (2, 4), (0, 2), (7, 1)])
def test_shard_bounds_cover_rows_once(n_rows, world_size):
    from kronos_quant.qlib_ext.distributed import shard_bounds

    bounds = [shard_bounds(n_rows, rank, world_size) for rank in range(world_size)]
    assert bounds[0][0] == 0 and bounds[-1][1] == n_rows
    assert all(stop == start for (_, stop), (start, _) in zip(bounds, bounds[1:]))
    sizes = [stop - start for start, stop in bounds]
    assert max(sizes) - min(sizes) <= 1


def _workflow(provider, checkpoints, setup) -> dict:
    model = {"tokenizer": str(checkpoints[0]), "predictor": str(checkpoints[1]), "mode": "zero_shot",
             "forecast": {"lookback": setup.lookback, "horizon": setup.horizon, "sample_count": 2, "seed": 11},
             "runtime": {"device": "cpu"}}
    return {"qlib_init": {"provider_uri": str(provider), "region": "cn", "kernels": 1},
            "task": {"model": {"class": "KronosModel", "module_path": "kronos_quant.qlib_ext.model", "kwargs": model},
                     "dataset": {"class": "KronosDataset", "module_path": "kronos_quant.qlib_ext.dataset",
                                 "kwargs": {"handler": setup.handler(), "segments": setup.segments,
                                            "lookback": setup.lookback, "horizon": setup.horizon}}}}


@pytest.mark.slow
def test_two_gloo_ranks_equal_single_process(tiny_market, tiny_checkpoints, kronos_setup, init_qlib, tmp_path):
    from qlib.utils import init_instance_by_config

    config = _workflow(tiny_market, tiny_checkpoints, kronos_setup)
    path = tmp_path / "predict.yaml"
    path.write_text(yaml.safe_dump(config))
    out = tmp_path / "scores.pkl"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # torchrun through this interpreter: a venv's python that was never activated has no torchrun on PATH
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "kronos_quant.cli", "predict", "--workflow-config", str(path), "--out", str(out)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    distributed = pd.read_pickle(out)

    init_qlib(tiny_market)
    model = init_instance_by_config(config["task"]["model"])
    single = model.predict(kronos_setup.dataset())
    assert len(single) > 500
    pd.testing.assert_series_equal(distributed, single, check_exact=True)


def test_predict_cli_refuses_an_untrained_model(tiny_market, kronos_setup, tmp_path, capsys):
    config = _workflow(tiny_market, ("tokenizer-base", "small"), kronos_setup)
    config["task"]["model"]["kwargs"].update(mode="scratch", train_config={"tokenizer": {}, "predictor": {}})
    path = tmp_path / "scratch.yaml"
    path.write_text(yaml.safe_dump(config))
    from kronos_quant.cli import main

    assert main(["predict", "--workflow-config", str(path), "--out", str(tmp_path / "s.pkl")]) != 0
    message = capsys.readouterr().err
    assert "not trained" in message and "--recorder" in message and "--model-pickle" in message
    assert not (tmp_path / "s.pkl").exists()
