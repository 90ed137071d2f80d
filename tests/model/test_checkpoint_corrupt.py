"""Corrupt checkpoint files are named with the fix, never parsed blindly or loaded as garbage."""
import json

import pytest
import torch
from kronos_test_helpers import tiny_predictor_config
from safetensors.torch import load_file, save_file

from kronos_quant import CheckpointError, Kronos


@pytest.fixture()
def folder(tmp_path):
    torch.manual_seed(0)
    return Kronos(tiny_predictor_config()).save_pretrained(tmp_path / "model")


def test_config_that_is_not_json(folder):
    (folder / "config.json").write_text('{"d_model": 32,')
    with pytest.raises(ValueError, match=r"config.json is not valid JSON .*re-download the checkpoint"):
        Kronos.from_pretrained(folder)


@pytest.mark.parametrize("key, value", [("d_model", "32"), ("n_layers", True), ("n_heads", 2.0),
                                        ("learn_te", 1), ("ffn_dropout_p", "0.1")])
def test_config_field_of_the_wrong_type(folder, key, value):
    config = json.loads((folder / "config.json").read_text())
    config[key] = value
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(TypeError, match=rf"config.json: KronosConfig.{key} must be"):
        Kronos.from_pretrained(folder)


def test_config_that_is_a_list(folder):
    (folder / "config.json").write_text("[1, 2]")
    with pytest.raises(TypeError, match="config.json: KronosConfig expects a dict"):
        Kronos.from_pretrained(folder)


@pytest.mark.parametrize("damage", [lambda raw: raw[: len(raw) // 2], lambda raw: b"<html>404</html>",
                                    lambda raw: b""])
def test_weights_truncated_or_not_safetensors(folder, damage):
    path = folder / "model.safetensors"
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(CheckpointError, match=r"model.safetensors is not a readable safetensors file.*download or "
                                              r"save it again"):
        Kronos.from_pretrained(folder)


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused(folder, bad):
    state = load_file(folder / "model.safetensors")
    key = sorted(state)[0]
    state[key].view(-1)[0] = bad
    save_file(state, folder / "model.safetensors")
    with pytest.raises(CheckpointError, match=rf"NaN/inf weights in \['{key}'\]"):
        Kronos.from_pretrained(folder)


def test_missing_relative_folder_is_not_a_hub_id(tmp_path, monkeypatch):
    (tmp_path / "checkpoints").mkdir()
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"Checkpoint folder 'checkpoints/run1' does not exist \(looked in "):
        Kronos.from_pretrained("checkpoints/run1", local_files_only=True)


def test_unknown_hub_id_mentions_the_local_folder_it_also_tried(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(FileNotFoundError, match=r"no local folder .*nobody/nothing"):
        Kronos.from_pretrained("nobody/nothing", cache_dir=tmp_path, local_files_only=True)
