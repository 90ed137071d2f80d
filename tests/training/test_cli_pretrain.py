"""``kronos-quant pretrain`` end to end from the CLI, and under torchrun (2 gloo processes)."""
from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys

import pytest
import torch
import yaml
from safetensors.torch import load_file

from kronos_quant.cli import main
from kronos_quant.training.pretrain import load_pretrained, run_pretraining


def _write_yaml(config, path):
    values = dataclasses.asdict(config)
    for stage in ("tokenizer", "predictor"):
        values[stage] = {k: v for k, v in values[stage].items() if k not in ("data", "tokenizer", "out_dir")}
        values[stage]["betas"] = list(values[stage]["betas"])
    path.write_text(yaml.safe_dump(values))
    return path


def test_pretrain_cli_end_to_end_logs_to_mlflow_in_the_output_folder(pretrain_provider, make_pretrain_config,
                                                                      tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # a stray ./mlruns would land here
    config = make_pretrain_config(pretrain_provider, tmp_path / "out", mlflow=True)
    path = _write_yaml(config, tmp_path / "pretrain.yaml")
    assert main(["pretrain", "--config", str(path)]) == 0
    run_dir = tmp_path / "out" / capsys.readouterr().out.strip().splitlines()[-1].split("/")[-1]
    card = json.loads((run_dir / "model_card.json").read_text())
    assert card["steps"] == {"tokenizer": 8, "predictor": 8}
    tokenizer, model = load_pretrained(run_dir)
    assert model.config.d_model == 32
    assert (tmp_path / "out" / "mlflow.db").is_file() and not (tmp_path / "mlruns").exists()
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'out' / 'mlflow.db'}")
    run = client.search_runs([client.get_experiment_by_name("pretrain").experiment_id])[0]
    assert run.data.params["key"] == card["key"]
    history = client.get_metric_history(run.info.run_id, "predictor.val.rank_ic")
    assert [m.step for m in history] == [4, 8]
    assert main(["pretrain", "--config", str(path)]) == 0  # the second call reuses the cached run
    assert capsys.readouterr().out.strip().endswith(card["key"])


def test_pretrain_cli_rejects_a_config_without_windows_per_epoch(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"provider_uri": str(tmp_path), "cut": "2021-12-31", "valid_start": "2021-06-01",
                                    "tokenizer": {"valid_windows": 8}, "predictor": {"windows_per_epoch": 8}}))
    assert main(["pretrain", "--config", str(path)]) == 1
    assert "set windows_per_epoch and valid_windows" in capsys.readouterr().err


@pytest.mark.timeout(300)
def test_two_process_ddp_pretraining_equals_single_process(pretrain_provider, make_pretrain_config, tmp_path):
    # one process with batch 16 == two gloo ranks with batch 8 (the same global batch and windows).
    # The tokenizer's codebook-entropy term (gamma) is a statistic of each rank's own batch, so it
    # cannot be split exactly; it is switched off here (gamma 0) and the rest of the loss must match.
    single_config = make_pretrain_config(pretrain_provider, tmp_path / "single")
    tokenizer_model = {**single_config.tokenizer.model, "gamma": 0.0}
    single = run_pretraining(single_config.replace(tokenizer=single_config.tokenizer.replace(model=tokenizer_model)))
    ddp_config = make_pretrain_config(pretrain_provider, tmp_path / "ddp", predictor={"batch_size": 8},
                                      tokenizer={"batch_size": 8, "model": tokenizer_model})
    path = _write_yaml(ddp_config, tmp_path / "ddp.yaml")
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
               "-m", "kronos_quant.cli", "pretrain", "--config", str(path)]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=240)
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "ddp" / done.stdout.strip().splitlines()[-1].split("/")[-1]
    card = json.loads((run_dir / "model_card.json").read_text())
    assert card["world_size"] == 2 and card["windows_seen"] == single.card["windows_seen"]
    for name in ("tokenizer/last", "predictor/last"):
        expected = load_file(single.run_dir / name / "model.safetensors")
        got = load_file(run_dir / name / "model.safetensors")
        for key in expected:
            # k biases get an analytically zero gradient; Adam turns their float noise into lr-sized steps
            tolerance = 1e-4 if key.endswith("k_proj.bias") else 2e-5
            torch.testing.assert_close(got[key], expected[key], atol=tolerance, rtol=1e-5, msg=f"{name} {key}")
    single_ic = [value for _, value in single.card["curves"]["predictor"]["val/rank_ic"]]
    ddp_ic = [value for _, value in card["curves"]["predictor"]["val/rank_ic"]]
    assert ddp_ic == pytest.approx(single_ic, abs=1e-6)
