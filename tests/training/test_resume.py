"""Exact resume: an interrupted run continued from resume.pt ends bit-identical to an uninterrupted one."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from kronos_quant.training import fit_predictor, fit_tokenizer
from kronos_quant.training.checkpointing import load_resume_state


class SimulatedCrash(RuntimeError):
    pass


def _crash_at(step_to_crash: int):
    def hook(step: int) -> None:
        if step == step_to_crash:
            raise SimulatedCrash(f"simulated crash after step {step}")
    return hook


def _weights(folder):
    return load_file(folder / "model.safetensors")


@pytest.mark.parametrize("task, crash_step", [("tokenizer", 7), ("predictor", 5)])
def test_interrupted_run_resumes_bit_identical(task, crash_step, windows, make_config, tokenizer_dir,
                                               tokenizer_arch, predictor_arch, tmp_path):
    train, valid = windows
    if task == "tokenizer":  # dropout exercises the restored torch RNG
        fit, changes = fit_tokenizer, dict(model={**tokenizer_arch, "ffn_dropout_p": 0.2, "resid_dropout_p": 0.1})
    else:  # sampled s1 conditioning (multinomial) exercises it too
        fit = fit_predictor
        changes = dict(model={**predictor_arch, "token_dropout_p": 0.1}, tokenizer=str(tokenizer_dir),
                       teacher_forcing=False)
    full = fit(make_config(tmp_path / "full", eval_every=2, **changes), train, valid)
    with pytest.raises(SimulatedCrash):
        fit(make_config(tmp_path / "cut", eval_every=2, **changes), train, valid, on_step_end=_crash_at(crash_step))
    assert load_resume_state(tmp_path / "cut" / "resume.pt")["state"]["step"] == crash_step - 1
    resumed = fit(make_config(tmp_path / "cut", eval_every=2, resume=True, **changes), train, valid)
    assert resumed.steps == full.steps == 8
    expected, got = _weights(full.last_dir), _weights(resumed.last_dir)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert resumed.best_val_loss == full.best_val_loss
