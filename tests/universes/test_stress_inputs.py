"""Bad stress configs fail when read (or before the first t0 trains), naming the file, key or t0 and the fix."""
from __future__ import annotations

import pytest
import yaml

from kronos_quant.universes.pipeline import StressConfig, run_stress
from kronos_quant.universes.stress_checks import check_stress_inputs

STRATEGY = {"name": "rev", "signal": "reversal_5", "topk": 5, "n_drop": 1}


def _raw(provider="x", **changes) -> dict:
    raw = {"provider": str(provider), "t0": ["2021-06-30"], "horizon": 8, "n_universes": 2, "pilot_universes": 2,
           "history_days": 200, "validation_days": 40,
           "training": {"lookback": 20, "horizon": 5, "valid_days": 30, "steps": 2, "batch_size": 32},
           "strategies": [dict(STRATEGY)]}
    raw.update(changes)
    return raw


def _load(tmp_path, raw):
    path = tmp_path / "stress.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path, StressConfig.from_yaml(path)


@pytest.mark.parametrize("changes, message", [
    ({"t0": ["2021-06-31"]}, r"t0\[0\]: '2021-06-31' is not a date"),
    ({"t0": ["2021-06-30", "2021-06-30"]}, r"t0 lists a date twice"),
    ({"horizon": 0}, r"horizon must be a whole number >= 1"),
    ({"horizon": 7.5}, r"horizon must be a whole number >= 1, got 7.5"),
    ({"history_days": 50}, r"history_days 50 is too short to train the tiny model: it needs >= .* = 57"),
    ({"history_days": 60, "validation_days": 80}, r"validation_days 80 exceeds history_days 60"),
    ({"strategies": [{**STRATEGY, "signal": "reversal_300"}]}, r"signal looks back 300 days but history_days is 200"),
    ({"strategies": [{**STRATEGY, "signal": "qlib:Mean($close, 5"}]}, r"unbalanced parentheses"),
    ({"strategies": [{**STRATEGY, "signal": "qlib:$turnover / Ref($turnover, 5)"}]},
     r"reads \['\$turnover'\], which generated universes do not have"),
    ({"strategies": [{**STRATEGY, "signal": "qlib:Mean(5)"}]}, r"reads no \$field"),
    ({"strategies": [{**STRATEGY, "signal": "rev_5"}]}, r"strategies\[0\]: unknown signal 'rev_5'"),
    ({"strategies": [{**STRATEGY, "topk": "50"}]}, r"strategies\[0\]: strategy 'rev': topk must be a whole number"),
    ({"strategies": [{**STRATEGY, "n_drop": 9}]}, r"n_drop 9 > topk 5"),
    ({"strategies": [{**STRATEGY, "top_k": 5}]}, r"strategies\[0\]: unknown keys \['top_k'\]"),
    ({"strategies": [STRATEGY, STRATEGY]}, r"strategy names must be distinct"),
    ({"strategies": "reversal_5"}, r"strategies must be a list of mappings"),
    ({"training": {"lookbak": 20}}, r"training: unknown keys \['lookbak'\]"),
    ({"rho_grid": [0.0, 1.5]}, r"rho_grid must be a non-empty list of rho values in \[0, 1\)"),
    ({"top_p": 0.0}, r"0 < top_p <= 1"),
])
def test_bad_settings_name_the_file_and_key(tmp_path, changes, message):
    path = tmp_path / "stress.yaml"
    with pytest.raises(ValueError, match=rf"stress config {path}: .*{message}"):
        _load(tmp_path, _raw(**changes))


def test_a_yaml_syntax_error_and_a_missing_file_name_the_file(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("provider: x\nt0: [2021-06-30\nhorizon: 5\n")
    with pytest.raises(ValueError, match=rf"stress config {path} line \d+, column \d+: YAML syntax error"):
        StressConfig.from_yaml(path)
    with pytest.raises(ValueError, match=rf"stress config {tmp_path / 'nowhere.yaml'} not found"):
        StressConfig.from_yaml(tmp_path / "nowhere.yaml")


@pytest.mark.parametrize("changes, message", [
    ({"universe": "csi500"}, r"universe 'csi500': .*instruments/csi500.txt does not exist; set universe to one of"),
    ({"benchmark": "SH000905"}, r"benchmark 'SH000905': .*features/sh000905/close.day.bin does not exist"),
    ({"t0": ["2021-06-30", "2020-03-02"]}, r"t0\[1\] 2020-03-02: t0=2020-03-02 has \d+ trading days up to it but "
                                           r"200 are needed"),
    ({"strategies": [{**STRATEGY, "topk": 25}]}, r"strategy 'rev': topk 25 >= the 25 members on 2021-06-30"),
])
def test_provider_problems_are_found_before_anything_trains(tiny_market, tmp_path, monkeypatch, changes, message):
    import kronos_quant.universes.pipeline as pipeline

    def no_training(*args, **kwargs):
        raise AssertionError("trained before the inputs were checked")

    monkeypatch.setattr(pipeline, "_load_models", no_training)
    _, config = _load(tmp_path, _raw(tiny_market, out_dir=str(tmp_path / "out"), **changes))
    with pytest.raises(ValueError, match=message):
        run_stress(config)


def test_a_missing_provider_and_an_unwritable_out_dir_are_named(tiny_market, tmp_path):
    _, config = _load(tmp_path, _raw(tmp_path / "no_provider"))
    with pytest.raises(ValueError, match=r"provider .*no_provider is not a Qlib data dir"):
        check_stress_inputs(config)
    blocker = tmp_path / "blocker"
    blocker.write_text("a file")
    _, config = _load(tmp_path, _raw(tiny_market, out_dir=str(blocker / "reports")))
    with pytest.raises(ValueError, match=r"out_dir .*blocker/reports is not a writable folder"):
        check_stress_inputs(config)


def test_the_shipped_stress_configs_pass_their_settings_checks():
    from pathlib import Path

    for path in sorted((Path(__file__).resolve().parents[2] / "configs").glob("stress_*.yaml")):
        assert StressConfig.from_yaml(path).strategies
