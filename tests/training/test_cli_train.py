"""`kronos-quant train` on the tiny synthetic Qlib market, and the Qlib -> WindowArrays adapter."""
from __future__ import annotations

import numpy as np
import pytest
import yaml

from kronos_quant.training.config import DataConfig


@pytest.fixture(scope="module")
def tiny_yaml(tiny_market, tmp_path_factory):
    """configs/train_tiny.yaml pointed at the tiny_market fixture, writing into a temp dir."""
    values = yaml.safe_load(open("configs/train_tiny.yaml", encoding="utf-8"))
    folder = tmp_path_factory.mktemp("cli")
    values["data"]["provider_uri"] = str(tiny_market)
    values["out_dir"] = str(folder / "tokenizer")
    path = folder / "train_tiny.yaml"
    path.write_text(yaml.safe_dump(values))
    return path


def test_qlib_windows_are_normalised_on_their_context(tiny_market):
    from kronos_quant.qlib_ext.training_data import build_window_arrays

    data = DataConfig(provider_uri=str(tiny_market), train=("2020-01-02", "2021-06-30"),
                      valid=("2021-07-01", "2021-12-31"), lookback=20, horizon=5)
    train, valid = build_window_arrays(data)
    assert train.length == valid.length == 26  # lookback + 1 context bars + horizon future bars
    assert len(train) > 2 * len(valid) > 0
    context = train.bars[:, :21].astype(np.float64)
    unclipped = (np.abs(context) < 5).all(axis=(1, 2))
    np.testing.assert_allclose(context[unclipped].mean(axis=1), 0, atol=1e-4)
    assert 1 <= train.stamps[..., 4].min() and train.stamps[..., 4].max() <= 12  # months


def test_cli_trains_tokenizer_on_tiny_market(tiny_yaml, capsys):
    from kronos_quant.cli import main
    from kronos_quant.model import KronosTokenizer
    from kronos_quant.training.metrics_log import read_metrics_csv

    assert main(["train", "tokenizer", "--config", str(tiny_yaml)]) == 0
    best = capsys.readouterr().out.strip().splitlines()[-1]
    assert KronosTokenizer.from_pretrained(best).config.d_model == 32
    out_dir = yaml.safe_load(tiny_yaml.read_text())["out_dir"]
    losses = [value for _, value in read_metrics_csv(f"{out_dir}/metrics.csv")["val/loss"]]
    assert len(losses) == 4 and losses[-1] < 0.8 * losses[0], losses


def test_cli_epochs_replaces_the_configs_max_steps(tiny_yaml, tmp_path, capsys):
    from kronos_quant.cli import main
    from kronos_quant.training.metrics_log import read_metrics_csv

    values = {**yaml.safe_load(tiny_yaml.read_text()), "max_steps": 2, "out_dir": str(tmp_path / "run")}
    path = tmp_path / "capped.yaml"
    path.write_text(yaml.safe_dump(values))
    assert main(["train", "tokenizer", "--config", str(path), "--epochs", "1"]) == 0
    steps = [step for step, _ in read_metrics_csv(tmp_path / "run" / "metrics.csv")["train/loss"]]
    assert steps[-1] == 4  # one epoch: 128 windows / batch 32, not the YAML's 2 steps
