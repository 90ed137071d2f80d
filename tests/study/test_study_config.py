"""Study configuration: validation errors say how to fix the file; placeholders; the signal registry."""
from __future__ import annotations

from pathlib import Path

import pytest
from study_test_helpers import study_dict

from kronos_quant.study.config import expand_placeholders, load_study_config, study_config_from_dict
from kronos_quant.study.registry import SignalSpec, get_signal, register_signal, registered_signals

REPO = Path(__file__).resolve().parents[2]


def build(**windows):
    return study_config_from_dict(study_dict("/nowhere", "/tmp/out", **windows))


def test_valid_config_builds():
    config = build()
    assert config.windows.train == ("2020-03-02", "2021-03-31")
    assert config.kronos.forecast_horizon == 5
    assert config.experiment("kronos") == "tiny_study__kronos"


def test_overlapping_windows_are_rejected():
    with pytest.raises(ValueError, match="overlapping windows"):
        build(train=["2020-03-02", "2021-06-30"])


def test_test_before_train_is_rejected():
    with pytest.raises(ValueError, match="test before"):
        build(test_start="2021-06-01")


def test_unknown_baseline_is_rejected():
    raw = study_dict("/nowhere", "/tmp/out", signals=("kronos", "alpha360_magic"))
    with pytest.raises(ValueError, match=r"unknown signal/baseline \['alpha360_magic'\]"):
        study_config_from_dict(raw)


@pytest.mark.parametrize("field, value, message", [("roll_step", "weekly", "roll_step"), ("roll_step", 0, "roll_step"),
                                                  ("rolling", "rocking", "rolling"), ("trunc_days", 1, "trunc_days")])
def test_bad_window_fields(field, value, message):
    with pytest.raises(ValueError, match=message):
        build(**{field: value})


def test_unknown_keys_are_rejected():
    raw = study_dict("/nowhere", "/tmp/out")
    raw["windowz"] = {}
    with pytest.raises(ValueError, match="unknown keys"):
        study_config_from_dict(raw)


def test_placeholders(monkeypatch):
    monkeypatch.setenv("H5_PROVIDER", "/data/x")
    monkeypatch.delenv("H5_UNSET", raising=False)
    assert expand_placeholders({"a": ["${H5_PROVIDER}/day", "${H5_UNSET:-fallback}"]}) == {"a": ["/data/x/day",
                                                                                                  "fallback"]}
    with pytest.raises(ValueError, match="H5_UNSET is not set"):
        expand_placeholders("${H5_UNSET}")


@pytest.mark.parametrize("name", ["csi300.yaml", "synth_short.yaml"])
@pytest.mark.parametrize("short", [False, True])
def test_shipped_configs_load(name, short, monkeypatch):
    monkeypatch.delenv("KRONOS_PROVIDER_URI", raising=False)
    config = load_study_config(REPO / "studies" / name, short=short)
    assert config.signals[0] == "kronos"
    assert config.kronos.model["mode"] == "scratch" and config.kronos.warm_start


def test_short_section_is_merged():
    config = load_study_config(REPO / "studies" / "csi300.yaml", short=True)
    assert config.windows.test_end == "2021-03-31" and config.windows.roll_step == "quarterly"
    assert config.windows.train == ("2017-01-03", "2019-12-31")  # untouched keys kept


def test_registry_add_and_duplicate():
    spec = SignalSpec(name="h5_test_signal", kind="expression", expression="$close / Ref($close, 1) - 1")
    register_signal(spec, replace=True)
    assert get_signal("h5_test_signal") is spec and "h5_test_signal" in registered_signals()
    with pytest.raises(ValueError, match="already registered"):
        register_signal(spec)
    with pytest.raises(ValueError, match="needs task"):
        SignalSpec(name="x", kind="rolled")
    assert {"kronos", "lightgbm_alpha158", "reversal_5d", "random"} <= set(registered_signals())


def test_official_weights_detection():
    raw = study_dict("/nowhere", "/tmp/out")
    assert not study_config_from_dict(raw).kronos.official_weights()
    raw["kronos"] = {**raw["kronos"], "model": {"mode": "zero_shot", "tokenizer": "NeoQuasar/Kronos-Tokenizer-base",
                                                "predictor": "NeoQuasar/Kronos-small"}}
    assert study_config_from_dict(raw).kronos.official_weights()


def test_pretraining_overlap_marks_periods():
    from kronos_quant.study.run import pretraining_overlap

    raw = study_dict("/nowhere", "/tmp/out")
    raw["kronos"] = {**raw["kronos"], "model": {"mode": "zero_shot", "tokenizer": "NeoQuasar/Kronos-Tokenizer-base",
                                                "predictor": "NeoQuasar/Kronos-small"}}
    raw["pretrain_cutoff"] = "2024-06-30"
    config = study_config_from_dict(raw)
    with pytest.warns(UserWarning, match="pretrained"):
        marked = pretraining_overlap(config, ["2023", "2024", "2025"])
    assert marked == ("2023", "2024")
    assert pretraining_overlap(build(), ["2023"]) == ()  # scratch weights: nothing to mark
