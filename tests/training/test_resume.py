"""Exact resume: an interrupted run continued from resume.pt ends bit-identical to an uninterrupted one."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from kronos_quant.training import fit_predictor, fit_tokenizer
from kronos_quant.training.checkpointing import load_resume_state
from kronos_quant.training.metrics_log import read_metrics_csv
from kronos_quant.training.optim import lr_factor


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
    run_after_resume = []  # the steps this process actually trains
    resumed = fit(make_config(tmp_path / "cut", eval_every=2, resume=True, **changes), train, valid,
                  on_step_end=run_after_resume.append)
    assert resumed.steps == full.steps == 8
    saved = crash_step - 1  # eval_every=2: the last resume.pt before the crash
    assert run_after_resume == list(range(saved + 1, 9))  # e.g. saved at 6 of 8 -> exactly steps 7 and 8
    expected, got = _weights(full.last_dir), _weights(resumed.last_dir)
    assert expected.keys() == got.keys()
    for key in expected:
        assert torch.equal(expected[key], got[key]), key
    assert resumed.best_val_loss == full.best_val_loss
    logged = [step for step, _ in read_metrics_csv(tmp_path / "cut" / "metrics.csv")["train/loss"]]
    assert logged == [step for step, _ in read_metrics_csv(tmp_path / "full" / "metrics.csv")["train/loss"]]
    assert logged == sorted(set(logged))  # the replayed steps are not logged twice


def test_resume_applies_changed_lr_and_step_budget(windows, make_config, tokenizer_arch, tmp_path):
    train, valid = windows
    common = dict(model=tokenizer_arch, eval_every=2, schedule="linear", min_lr_ratio=0.0, warmup_steps=2)
    fit_tokenizer(make_config(tmp_path, max_steps=4, **common), train, valid)
    fit_tokenizer(make_config(tmp_path, max_steps=8, lr=1e-1, resume=True, **common), train, valid)
    lrs = dict(read_metrics_csv(tmp_path / "metrics.csv")["train/lr"])
    assert sorted(lrs) == list(range(1, 9))
    for step in range(5, 9):  # the new peak lr and the 8-step schedule from the resumed step on
        factor = lr_factor(step - 1, warmup_steps=2, total_steps=8, schedule="linear", min_lr_ratio=0.0)
        assert lrs[step] == pytest.approx(1e-1 * factor), step
    assert lrs[4] == pytest.approx(3e-3 * 0.5)  # the first run's own schedule: 4 steps of peak 3e-3


def test_resuming_an_early_stopped_run_trains_no_further(windows, make_config, tmp_path):
    train, valid = windows
    common = dict(eval_every=1, patience=1, min_delta=1e3)  # only the first evaluation counts as an improvement
    stopped = fit_tokenizer(make_config(tmp_path, **common), train, valid)
    assert stopped.stopped_early and stopped.steps == 2
    again = fit_tokenizer(make_config(tmp_path, resume=True, **common), train, valid)
    assert again.stopped_early and again.steps == 2
    more_patience = fit_tokenizer(make_config(tmp_path, resume=True, **{**common, "patience": 3}), train, valid)
    assert more_patience.steps == 4 and more_patience.stopped_early
