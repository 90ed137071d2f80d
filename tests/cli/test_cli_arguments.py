"""CLI details that are easy to get wrong: report options, devices under torchrun, future sessions of import-csv."""
from __future__ import annotations

import pandas as pd
import pytest

from kronos_quant.cli import main


@pytest.mark.parametrize("extra", [["--quantiles", "1"], ["--rolling-window", "0"], ["--run", "abc", "--latest"]])
def test_report_rejects_contradictory_or_degenerate_options(extra, tmp_path, caplog):
    assert main(["report", "--experiment", "demo", "--out", str(tmp_path), *extra]) == 2
    assert "--" in caplog.text  # the message names the option to change


def test_torchrun_refuses_one_fixed_gpu_for_every_rank(monkeypatch):
    from kronos_quant.training.ddp import init_distributed

    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("RANK", "0")
    with pytest.raises(ValueError, match="use device: cuda"):
        init_distributed("cuda:1")


@pytest.mark.parametrize("extra, expected", [
    ([], "2024-09-30 2024-10-08"),
    (["--exchange", "none"], "2024-09-30 2024-10-01"),
    (["--future-calendar", "FILE", "--future-days", "2"], "2024-10-09 2024-10-10"),
])
def test_import_csv_chooses_the_future_sessions(tmp_path, extra, expected):
    src = tmp_path / "csv"
    src.mkdir()
    days = pd.bdate_range(end="2024-09-27", periods=5).strftime("%Y-%m-%d")
    pd.DataFrame({"date": days, "open": 1.0, "high": 1.2, "low": 0.9, "close": 1.0, "volume": 100.0}).to_csv(
        src / "SH600000.csv", index=False)
    (tmp_path / "future.txt").write_text("# my sessions\n2024-10-09\n2024-10-10\n")
    extra = [str(tmp_path / "future.txt") if item == "FILE" else item for item in extra]
    out = tmp_path / "prov"
    assert main(["data", "import-csv", str(src), "--out", str(out), *extra]) == 0
    future = (out / "calendars" / "day_future.txt").read_text().split()
    assert " ".join(future[5:7]) == expected


def test_stress_and_data_generate_are_registered_subcommands():
    from kronos_quant.cli import build_parser

    parser = build_parser()
    stress = parser.parse_args(["stress", "--config", "configs/stress_synth.yaml"])
    generate = parser.parse_args(["data", "generate", "--provider", "p", "--t0", "2020-01-02", "--tokenizer", "t",
                                  "--predictor", "m", "--out", "o"])
    assert stress.func.__module__ == "kronos_quant.cli.stress"
    assert generate.func.__module__ == "kronos_quant.cli.generate"


def test_volatility_is_a_registered_subcommand():
    from kronos_quant.cli import build_parser

    args = build_parser().parse_args(["volatility", "evaluate", "--provider", "p"])
    assert args.func.__module__ == "kronos_quant.cli.volatility"
