"""Bad study inputs fail before any training, naming the file or key and the fix; a changed config never resumes."""
from __future__ import annotations

import copy
import dataclasses
import shutil

import numpy as np
import pytest
import yaml
from study_test_helpers import study_dict

from kronos_quant.study.config import load_study_config, study_config_from_dict
from kronos_quant.study.preflight import MANIFEST_NAME, check_study_provider, claim_output_dir


def _write(tmp_path, raw, name="study.yaml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize("value", ["${KRONOS PROVIDER}", "${KRONOS_PROVIDER:-x", "${1ST}/data"])
def test_unresolved_placeholders_name_the_file_and_key(tmp_path, value):
    raw = study_dict("/nowhere", tmp_path / "out")
    raw["provider_uri"] = value
    path = _write(tmp_path, raw)
    with pytest.raises(ValueError, match=rf"study config {path}: unresolved placeholder .*\(key provider_uri\)"):
        load_study_config(path)


def test_an_unset_variable_names_the_nested_key(tmp_path, monkeypatch):
    monkeypatch.delenv("H23_UNSET", raising=False)
    raw = copy.deepcopy(study_dict("/nowhere", tmp_path / "out"))
    raw["kronos"]["model"]["tokenizer"] = "${H23_UNSET}"
    with pytest.raises(ValueError, match=r"H23_UNSET is not set \(key kronos.model.tokenizer\)"):
        load_study_config(_write(tmp_path, raw))


def test_a_yaml_syntax_error_names_the_file_and_line(tmp_path):
    path = tmp_path / "broken.yaml"
    path.write_text("name: x\nwindows:\n  train: [2020-01-02, 2020-06-30\n  valid: x\n")
    with pytest.raises(ValueError, match=rf"study config {path} line \d+, column \d+: YAML syntax error"):
        load_study_config(path)


@pytest.mark.parametrize("windows, message", [
    ({"roll_step": "63"}, r"windows.roll_step '63'.*unquoted"),
    ({"roll_step": 2.5}, r"windows.roll_step must be >= 1 trading day"),
    ({"roll_step": True}, r"windows.roll_step must be"),
    ({"trunc_days": 2.5}, r"windows.trunc_days must be a whole number >= 2"),
    ({"history_start": "2020-02-31"}, r"windows.history_start: '2020-02-31' is not a date"),
    ({"history_start": "2020-06-01"}, r"windows.history_start 2020-06-01 is after the train start"),
    ({"test_end": "2021-12-31"}, r"windows.test_start..test_end: start 2022-01-04 is after end"),
])
def test_bad_windows_and_roll_steps(tmp_path, windows, message):
    with pytest.raises(ValueError, match=message):
        study_config_from_dict(study_dict("/nowhere", tmp_path, **windows))


@pytest.mark.parametrize("key, value, message", [
    ("short", ["windows"], r"short must be a mapping"),
    ("signal_modules", "kronos_quant.factors.study_signal", r"signal_modules must be a list of module paths"),
    ("windows", ["2020-01-02"], r"windows must be a mapping, got list"),
])
def test_sections_of_the_wrong_shape_are_named(tmp_path, key, value, message):
    raw = study_dict("/nowhere", tmp_path)
    raw[key] = value
    with pytest.raises(ValueError, match=message):
        study_config_from_dict(raw, short=True)


def test_a_window_section_without_its_dates_names_them(tmp_path):
    raw = study_dict("/nowhere", tmp_path)
    del raw["windows"]["train"], raw["windows"]["test_end"]
    with pytest.raises(ValueError, match=r"windows: missing required keys \['test_end', 'train'\]"):
        study_config_from_dict(raw)


@pytest.mark.parametrize("backtest, message", [
    ({"cost_bp": "20bp"}, r"backtest.cost_bp must be a number, got '20bp'"),
    ({"cost_bp": 0.002}, r"backtest.cost_bp 0.002 is in basis points"),
    ({"cost_bp": 5000}, r"backtest.cost_bp 5000 is in basis points"),
    ({"cost_grid_bp": "0,10,20"}, r"backtest.cost_grid_bp must be a list"),
    ({"cost_grid_bp": [0, -10]}, r"backtest.cost_grid_bp must be a non-empty list of bp in \[0, 1000\]"),
    ({"topk": 5.5}, r"backtest.topk must be a whole number, got 5.5"),
    ({"topk": "50"}, r"backtest.topk must be a whole number, got '50'"),
    ({"topk": 0}, r"backtest.topk must be >= 1"),
    ({"n_drop": 6}, r"n_drop <= topk, got topk=5, n_drop=6"),
    ({"limit_threshold": 9.5}, r"backtest.limit_threshold is a fraction"),
])
def test_bad_costs_and_topk(tmp_path, backtest, message):
    raw = study_dict("/nowhere", tmp_path)
    raw["backtest"].update(backtest)
    with pytest.raises(ValueError, match=message):
        study_config_from_dict(raw)


def test_whole_floats_are_accepted_and_stored_as_ints(tmp_path):
    raw = study_dict("/nowhere", tmp_path)
    raw["backtest"].update(topk=5.0, cost_bp=20)
    config = study_config_from_dict(raw)
    assert config.backtest.topk == 5 and isinstance(config.backtest.topk, int) and config.backtest.cost_bp == 20.0


@pytest.mark.parametrize("kronos, message", [
    ({"horizons": [1, "5d"]}, r"kronos.horizons must be a whole number, got '5d'"),
    ({"horizons": [1, 1]}, r"kronos.horizons must be distinct"),
    ({"max_train_windows": 0}, r"kronos.max_train_windows must be >= 1"),
    ({"lookback": 10}, r"kronos.model.forecast.lookback 20 exceeds kronos.lookback 10"),
])
def test_bad_kronos_settings(tmp_path, kronos, message):
    raw = copy.deepcopy(study_dict("/nowhere", tmp_path))
    raw["kronos"] = {**raw["kronos"], **kronos}
    with pytest.raises(ValueError, match=message):
        study_config_from_dict(raw)


@pytest.fixture()
def market(tiny_market, tmp_path):
    return shutil.copytree(tiny_market, tmp_path / "market")


def _config(provider, out, **changes):
    raw = study_dict(provider, out)
    for key, value in changes.items():
        raw[key] = value
    return study_config_from_dict(raw)


def test_a_missing_universe_file_is_named_with_the_choices(market, tmp_path):
    with pytest.raises(ValueError, match=rf"market 'csi500': {market}/instruments/csi500.txt does not exist; "
                                         r"set market to one of \['all', 'csi300'"):
        check_study_provider(_config(market, tmp_path / "out", market="csi500"))


def test_a_missing_benchmark_is_named(market, tmp_path):
    with pytest.raises(ValueError, match=rf"benchmark 'SH000905': {market}/features/sh000905/close.day.bin"):
        check_study_provider(_config(market, tmp_path / "out", benchmark="SH000905"))


def test_a_topk_as_large_as_the_universe_is_rejected(market, tmp_path):
    raw_backtest = {"topk": 25, "n_drop": 1, "cost_bp": 20}
    with pytest.raises(ValueError, match=r"backtest.topk 25 >= the 25 instruments .*csi300.txt lists on 2022-01-04"):
        check_study_provider(_config(market, tmp_path / "out", backtest=raw_backtest))
    check_study_provider(_config(market, tmp_path / "out", backtest={**raw_backtest, "topk": 24}))


def test_windows_outside_the_provider_are_rejected(market, tmp_path):
    windows = {**study_dict(market, tmp_path)["windows"], "history_start": "2019-01-02",
               "train": ["2019-03-01", "2021-03-31"]}
    with pytest.raises(ValueError, match=r"holds 2020-01-02\.\.2022-06-30; move the windows inside"):
        check_study_provider(_config(market, tmp_path / "out", windows=windows))


@pytest.mark.parametrize("where", ["file", "under_file"])
def test_an_unwritable_output_dir_is_named(market, tmp_path, where):
    blocker = tmp_path / "blocker"
    blocker.write_text("not a folder")
    out = blocker if where == "file" else blocker / "study"
    with pytest.raises(ValueError, match=rf"output_dir {out} is not a writable folder"):
        claim_output_dir(_config(market, out))


def _finished_window(out):
    """A store with one FINISHED run, as MLflow's sqlite schema has it (table runs, column status)."""
    import sqlite3

    with sqlite3.connect(out / "mlflow.db") as connection:
        connection.execute("CREATE TABLE runs (run_uuid TEXT, status TEXT)")
        connection.execute("INSERT INTO runs VALUES ('r1', 'FINISHED')")
    connection.close()


def test_a_changed_config_into_the_same_output_dir_is_refused(market, tmp_path):
    out = tmp_path / "out"
    config = _config(market, out)
    claim_output_dir(config)
    assert (out / MANIFEST_NAME).is_file()
    _finished_window(out)
    claim_output_dir(config)  # the same settings resume
    # report-only settings may change: no trained window depends on them
    claim_output_dir(dataclasses.replace(config, backtest=dataclasses.replace(config.backtest, cost_bp=40.0),
                                         signals=("kronos",), random_seed=3))
    changed_model = dataclasses.replace(config, kronos=dataclasses.replace(config.kronos, lookback=30))
    with pytest.raises(ValueError, match=r"other settings \(changed: \['kronos'\]\); resuming would mix"):
        claim_output_dir(changed_model)
    later = dataclasses.replace(config, windows=dataclasses.replace(config.windows, test_end="2022-06-17"))
    with pytest.raises(ValueError, match=r"changed: \['provider_data', 'windows'\]"):
        claim_output_dir(later)


def test_other_data_under_the_same_path_is_refused_and_the_same_data_elsewhere_is_not(market, tmp_path):
    out = tmp_path / "out"
    claim_output_dir(_config(market, out))
    _finished_window(out)
    moved = shutil.copytree(market, tmp_path / "moved")
    claim_output_dir(_config(moved, out))  # a copy of the same data: same fingerprint
    path = next((market / "features").glob("sh6*/close.day.bin"))
    data = np.fromfile(path, dtype="<f4")
    data[-100] *= 1.01  # one close inside the study's span
    data.tofile(path)
    with pytest.raises(ValueError, match=r"changed: \['provider_data'\]"):
        claim_output_dir(_config(market, out))


def test_settings_may_change_while_no_window_has_finished(market, tmp_path):
    """A first run that stopped at a config error (say test_end too late) trained nothing: the fix is accepted."""
    import json

    out = tmp_path / "out"
    config = _config(market, out)
    claim_output_dir(config)
    fixed = dataclasses.replace(config, windows=dataclasses.replace(config.windows, test_end="2022-06-17"))
    claim_output_dir(fixed)
    recorded = json.loads((out / MANIFEST_NAME).read_text())
    assert recorded["settings"]["windows"]["test_end"] == "2022-06-17"
    _finished_window(out)
    with pytest.raises(ValueError, match=r"other settings"):
        claim_output_dir(config)


def test_a_truncated_manifest_is_refused(market, tmp_path):
    out = tmp_path / "out"
    claim_output_dir(_config(market, out))
    manifest = out / MANIFEST_NAME
    manifest.write_text(manifest.read_text()[:40])
    claim_output_dir(_config(market, out))  # nothing finished yet: recorded again
    assert manifest.read_text().endswith("}")
    _finished_window(out)
    manifest.write_text(manifest.read_text()[:40])
    with pytest.raises(ValueError, match=r"study_manifest.json is unreadable"):
        claim_output_dir(_config(market, out))


def test_the_cli_prints_one_line_naming_the_config(tmp_path, capsys):
    from kronos_quant.cli import main

    raw = study_dict("/nowhere", tmp_path / "out")
    raw["backtest"]["cost_bp"] = "20bp"
    path = _write(tmp_path, raw)
    assert main(["study", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"study config {path}: backtest.cost_bp must be a number" in err and "Traceback" not in err


def test_the_cli_refuses_a_changed_config_into_a_used_output_dir_before_training(market, tmp_path, capsys,
                                                                                  monkeypatch):
    import kronos_quant.study.run as run
    from kronos_quant.cli import main

    monkeypatch.setattr(run, "build_signals", lambda config: pytest.fail("trained despite the changed settings"))
    raw = copy.deepcopy(study_dict(market, tmp_path / "out"))
    claim_output_dir(study_config_from_dict(raw))  # the first run's claim ...
    _finished_window(tmp_path / "out")  # ... and its first finished window
    raw["kronos"]["horizons"] = [1, 2, 10]
    path = _write(tmp_path, raw)
    assert main(["study", "--config", str(path)]) == 1
    err = capsys.readouterr().err
    assert f"output_dir {tmp_path / 'out'} holds a study run with other settings (changed: ['kronos'])" in err
