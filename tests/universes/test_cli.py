"""`kronos-quant data generate` and `kronos-quant stress` end to end on the tiny market (parsers built here,
since registering them in the top-level CLI is the CLI owners' edit)."""
from __future__ import annotations

import argparse
import json

import numpy as np
import pandas as pd
import pytest
import yaml

from kronos_quant.data.checks import check_provider


def _parser():
    from kronos_quant.cli import generate, stress

    parser = argparse.ArgumentParser()
    commands = parser.add_subparsers(dest="command", required=True)
    stress.register(commands)
    data = commands.add_parser("data").add_subparsers(dest="data_command", required=True)
    generate.add_generate(data)
    return parser


def test_data_generate_writes_checked_providers(tiny_market, tiny_kronos, tmp_path, capsys):
    tokenizer, model = tiny_kronos
    tokenizer.save_pretrained(tmp_path / "tok")
    model.save_pretrained(tmp_path / "pred")
    args = _parser().parse_args(["data", "generate", "--provider", str(tiny_market), "--t0", "2021-06-30",
                                 "--tokenizer", str(tmp_path / "tok"), "--predictor", str(tmp_path / "pred"),
                                 "--n", "2", "--horizon", "5", "--lookback", "30", "--history-days", "60",
                                 "--rho", "0.4", "--out", str(tmp_path / "gen")])
    assert args.func(args) == 0
    assert "2 universes" in capsys.readouterr().out
    assert check_provider(tmp_path / "gen" / "u0001").ok


def test_stress_cli_writes_a_report(tiny_market, tmp_path, capsys):
    config = {"provider": str(tiny_market), "t0": ["2021-06-30"], "horizon": 8, "n_universes": 6,
              "pilot_universes": 2, "history_days": 200, "validation_days": 40, "rho_grid": [0.0, 0.8],
              "training": {"lookback": 20, "horizon": 5, "valid_days": 30, "steps": 4, "batch_size": 32},
              "strategies": [{"name": "rev", "signal": "reversal_5", "topk": 5, "n_drop": 1},
                             {"name": "fixed_mom", "signal": "momentum_20", "kind": "fixed", "topk": 5}],
              "out_dir": str(tmp_path / "out")}
    (tmp_path / "stress.yaml").write_text(yaml.safe_dump(config))
    args = _parser().parse_args(["stress", "--config", str(tmp_path / "stress.yaml")])
    assert args.func(args) == 0
    assert "realised excess percentile" in capsys.readouterr().out
    report = tmp_path / "out" / "2021-06-30"
    html = (report / "stress_report.html").read_text()
    assert "data:image/png;base64" in html and "Dependence validation" in html
    summary = json.loads((report / "summary.json").read_text())
    for name in ("rev", "fixed_mom"):  # the summary restates the per-universe CSV, recomputed here
        stats, table = summary["strategies"][name], pd.read_csv(report / f"{name}_universes.csv")
        assert stats["universes"] == len(table) == 6 and list(table["universe"]) == list(range(6))
        for metric in ("excess_return", "information_ratio", "max_drawdown", "absolute_return"):
            values = table[metric].dropna().to_numpy()
            assert values.std() > 0, f"{name} {metric}: the universes do not differ"
            assert stats[f"{metric}_mean"] == pytest.approx(values.mean(), rel=1e-9, abs=1e-12)
            for q in (5, 50, 95):
                assert stats[f"{metric}_q{q:02d}"] == pytest.approx(np.quantile(values, q / 100), rel=1e-9, abs=1e-12)
            realised = stats[f"{metric}_realised"]
            share_below = (values < realised).mean() + 0.5 * (values == realised).mean()
            assert stats[f"{metric}_realised_percentile"] == pytest.approx(100 * share_below)
        assert stats["p_excess_loss"] == pytest.approx((table["excess_return"] < 0).mean())
        assert stats["p_absolute_loss"] == pytest.approx((table["absolute_return"] < 0).mean())
        assert (table["max_drawdown"] <= 0).all()
    assert set(summary["dependence"]) >= {"history", "independent (rho=0)"}
    assert -1 <= summary["notes"]["order_spearman"] <= 1


def test_stress_config_errors(tmp_path):
    from kronos_quant.universes.pipeline import StressConfig

    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"provider": "x", "t0": ["2020-01-02"], "universes": 5,
                                    "strategies": [{"name": "a", "signal": "reversal_5"}]}))
    with pytest.raises(ValueError, match="unknown keys \\['universes'\\]"):
        StressConfig.from_yaml(path)
    path.write_text(yaml.safe_dump({"provider": "x", "t0": ["2020-01-02"], "n_universes": 0,
                                    "strategies": [{"name": "a", "signal": "reversal_5"}]}))
    with pytest.raises(ValueError, match="n_universes must be >= 1"):
        StressConfig.from_yaml(path)
    path.write_text(yaml.safe_dump({"provider": "x", "t0": ["2020-01-02"],
                                    "strategies": [{"name": "a", "signal": "reversal_5", "kind": "martingale"}]}))
    with pytest.raises(ValueError, match="unknown strategy kind"):
        StressConfig.from_yaml(path)
