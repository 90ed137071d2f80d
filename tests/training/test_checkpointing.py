"""Crash-safe checkpoints and the NaN guard: the previous checkpoint always stays loadable."""
from __future__ import annotations

import os

import pytest
import torch
from safetensors.torch import load_file

from kronos_quant.model import KronosTokenizer, TokenizerConfig
from kronos_quant.model import checkpoint as model_checkpoint
from kronos_quant.training import NonFiniteLossError, Trainer
from kronos_quant.training.checkpointing import load_resume_state, recover_checkpoint_dirs, save_model_dir
from kronos_quant.training.fit import _tokenizer_objective


def _tiny_tokenizer(arch, seed):
    torch.manual_seed(seed)
    return KronosTokenizer(TokenizerConfig(**arch))


def test_crash_mid_write_keeps_previous_checkpoint(tokenizer_arch, tmp_path, monkeypatch):
    first = _tiny_tokenizer(tokenizer_arch, 0)
    save_model_dir(first, tmp_path / "last")

    def crashing_save(state, path, metadata=None):
        with open(path, "wb") as handle:
            handle.write(b"half a file")
        raise OSError("disk full (simulated)")

    monkeypatch.setattr(model_checkpoint, "save_file", crashing_save)
    with pytest.raises(OSError, match="simulated"):
        save_model_dir(_tiny_tokenizer(tokenizer_arch, 1), tmp_path / "last")
    loaded = KronosTokenizer.from_pretrained(tmp_path / "last")
    for key, value in first.state_dict().items():
        assert torch.equal(loaded.state_dict()[key], value), key
    assert sorted(os.listdir(tmp_path)) == ["last"]  # no temp folders left behind


def test_crash_between_renames_is_recovered(tokenizer_arch, tmp_path):
    save_model_dir(_tiny_tokenizer(tokenizer_arch, 0), tmp_path / "last")
    os.replace(tmp_path / "last", tmp_path / ".last.old")  # the state after the first rename
    recover_checkpoint_dirs(tmp_path)
    assert KronosTokenizer.from_pretrained(tmp_path / "last").config.d_model == 32


def test_nan_loss_stops_with_clear_error_and_keeps_last_checkpoint(windows, make_config, tokenizer_arch, tmp_path):
    train, valid = windows
    calls = {"train": 0}

    def nan_after_four_steps(model, bars, stamps):
        out = _tokenizer_objective(model, bars, stamps)
        if model.training:
            calls["train"] += 1
            if calls["train"] > 4:
                return out._replace(total=out.total * float("nan"))
        return out

    config = make_config(tmp_path, eval_every=2)
    trainer = Trainer(_tiny_tokenizer(tokenizer_arch, 0), nan_after_four_steps, config, train, valid)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss \(nan\) at optimizer step 5 .*untouched"):
        trainer.fit()
    state = load_resume_state(tmp_path / "resume.pt")
    assert state["state"]["step"] == 4
    last = load_file(tmp_path / "last" / "model.safetensors")
    for key, value in state["model"].items():
        assert torch.equal(last[key], value), key
    assert all(torch.isfinite(value).all() for value in last.values())
