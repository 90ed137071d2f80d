"""save_pretrained / from_pretrained round trips and every loading error path."""
import json
import re
from importlib.metadata import distribution

import pytest
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config
from safetensors.torch import load_file, save_file

from kronos_quant import CheckpointError, Kronos, KronosTokenizer
from kronos_quant.model.checkpoint import hub_download_command, sha256_of


@pytest.fixture()
def saved_model(tmp_path):
    torch.manual_seed(0)
    model = Kronos(tiny_predictor_config()).eval()
    return model, model.save_pretrained(tmp_path / "model")


def test_round_trip_gives_identical_outputs(tmp_path, saved_model):
    model, folder = saved_model
    loaded = Kronos.from_pretrained(folder)
    s1 = torch.randint(0, 64, (2, 7))
    s2 = torch.randint(0, 64, (2, 7))
    stamp = torch.randint(0, 7, (2, 7, 5))
    with torch.no_grad():
        for a, b in zip(model.decode_s1(s1, s2, stamp), loaded.decode_s1(s1, s2, stamp)):
            assert torch.equal(a, b)
    assert json.loads((folder / "config.json").read_text())["d_model"] == 32

    torch.manual_seed(1)
    tokenizer = KronosTokenizer(tiny_tokenizer_config()).eval()
    reloaded = KronosTokenizer.from_pretrained(tokenizer.save_pretrained(tmp_path / "tok"))
    x = torch.randn(2, 9, 6)
    with torch.no_grad():
        assert all(torch.equal(a, b) for a, b in zip(tokenizer.encode(x), reloaded.encode(x)))
        assert torch.equal(tokenizer.decode(tokenizer.encode(x)), reloaded.decode(tokenizer.encode(x)))


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        Kronos.from_pretrained(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(FileNotFoundError, match=r"lacks \['config.json', 'model.safetensors'\]"):
        Kronos.from_pretrained(tmp_path / "empty")


def _rewrite(folder, edit):
    state = load_file(folder / "model.safetensors")
    edit(state)
    save_file(state, folder / "model.safetensors")


def test_missing_key_is_named(saved_model):
    _, folder = saved_model
    _rewrite(folder, lambda s: s.pop("norm.weight"))
    with pytest.raises(CheckpointError, match=r"missing keys: \['norm.weight'\]"):
        Kronos.from_pretrained(folder)


def test_unexpected_key_is_named(saved_model):
    _, folder = saved_model
    _rewrite(folder, lambda s: s.__setitem__("extra.weight", torch.zeros(3)))
    with pytest.raises(CheckpointError, match=r"unexpected keys: \['extra.weight'\]"):
        Kronos.from_pretrained(folder)


def test_shape_mismatch_is_named(saved_model):
    _, folder = saved_model
    _rewrite(folder, lambda s: s.__setitem__("norm.weight", torch.ones(31)))
    with pytest.raises(CheckpointError, match=r"norm.weight: checkpoint \(31,\) vs model \(32,\)"):
        Kronos.from_pretrained(folder)


def test_wrong_class_or_unknown_config_key(saved_model):
    _, folder = saved_model
    with pytest.raises(ValueError, match="unknown config keys"):
        KronosTokenizer.from_pretrained(folder)
    config = json.loads((folder / "config.json").read_text())
    config["d_modle"] = 3
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ValueError, match=r"unknown config keys \['d_modle'\]"):
        Kronos.from_pretrained(folder)


def test_hub_id_offline_says_where_to_put_files(tmp_path):
    with pytest.raises(FileNotFoundError, match=re.escape(hub_download_command("NeoQuasar/Kronos-small", ""))) as info:
        Kronos.from_pretrained("NeoQuasar/Kronos-small", cache_dir=tmp_path, local_files_only=True)
    assert "never substitutes random weights" in str(info.value)


def test_download_command_is_a_console_script_of_the_installed_hub():
    """``hf`` for huggingface_hub >= 1.0 (``huggingface-cli`` is no longer installed), else ``huggingface-cli``."""
    scripts = {entry.name for entry in distribution("huggingface_hub").entry_points if entry.group == "console_scripts"}
    command = hub_download_command("NeoQuasar/Kronos-small", "./checkpoints/Kronos-small")
    assert command.split()[0] in scripts
    assert command.split()[1:] == ["download", "NeoQuasar/Kronos-small", "--local-dir", "./checkpoints/Kronos-small"]


def test_hub_id_resolves_through_the_cache(tmp_path, saved_model):
    model, folder = saved_model
    commit = "a" * 40
    repo = tmp_path / "models--someone--tiny-kronos"
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for name in ("config.json", "model.safetensors"):
        (snapshot / name).write_bytes((folder / name).read_bytes())
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    loaded = Kronos.from_pretrained("someone/tiny-kronos", cache_dir=tmp_path, local_files_only=True)
    assert torch.equal(loaded.norm.weight, model.norm.weight)


def test_sha256_checks(saved_model):
    _, folder = saved_model
    digest = sha256_of(folder / "model.safetensors")
    Kronos.from_pretrained(folder, verify_sha256=digest)  # explicit digest passes
    with pytest.raises(CheckpointError, match="sha256 mismatch"):
        Kronos.from_pretrained(folder, verify_sha256="0" * 64)
    with pytest.raises(CheckpointError, match="not one of the official Kronos checkpoints"):
        Kronos.from_pretrained(folder, verify_sha256=True)


def test_bad_config_values_fail_at_construction():
    with pytest.raises(ValueError, match="must split into 4 heads"):
        tiny_predictor_config(d_model=30, n_heads=4)
    with pytest.raises(ValueError, match="dropout_p must be in"):
        tiny_tokenizer_config(ffn_dropout_p=1.5)
