"""Checkpoint selection by validation RankIC, and the trainer's host syncs every log_every steps."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from kronos_quant.model import KronosTokenizer, TokenizerConfig
from kronos_quant.training import NonFiniteLossError, Trainer
from kronos_quant.training.ddp import check_local_rank
from kronos_quant.training.fit import _tokenizer_objective
from kronos_quant.training.metrics_log import read_metrics_csv

RANK_IC_BY_STEP = {2: 0.010, 4: 0.050, 6: -0.020, 8: 0.030}  # the constructed case: step 4 is the best


def _run(tokenizer_arch, windows, config):
    torch.manual_seed(0)
    snapshots = {}
    trainer = None

    def snapshot(step):
        snapshots[step] = {k: v.detach().clone() for k, v in trainer.model.state_dict().items()}

    def scorer(model):
        return {"val/rank_ic": RANK_IC_BY_STEP[trainer.state.step]}

    trainer = Trainer(KronosTokenizer(TokenizerConfig(**tokenizer_arch)), _tokenizer_objective, config, *windows,
                      on_step_end=snapshot, scorer=scorer)
    return trainer.fit(), snapshots


def test_selection_by_rank_ic_picks_the_highest_validation_rank_ic(tokenizer_arch, windows, make_config, tmp_path):
    config = make_config(tmp_path / "ic", eval_every=2, epochs=2, select_on="rank_ic")
    result, snapshots = _run(tokenizer_arch, windows, config)
    best = load_file(result.best_dir / "model.safetensors")
    for key, value in best.items():
        assert torch.equal(value, snapshots[4][key]), key
    assert any(not torch.equal(value, snapshots[8][key]) for key, value in best.items())  # not simply the last
    curves = read_metrics_csv(tmp_path / "ic" / "metrics.csv")
    assert dict(curves["val/rank_ic"]) == RANK_IC_BY_STEP  # both curves are logged
    assert [step for step, _ in curves["val/loss"]] == [2, 4, 6, 8]
    assert dict(curves["val/best_rank_ic"])[8] == pytest.approx(0.05)
    losses = dict(curves["val/loss"])
    assert result.best_val_loss == pytest.approx(losses[4])  # the loss *of* the selected checkpoint


def test_selection_by_loss_ignores_the_rank_ic(tokenizer_arch, windows, make_config, tmp_path):
    config = make_config(tmp_path / "loss", eval_every=2, epochs=2, select_on="loss")
    result, snapshots = _run(tokenizer_arch, windows, config)
    losses = dict(read_metrics_csv(tmp_path / "loss" / "metrics.csv")["val/loss"])
    best_step = min(losses, key=losses.get)
    assert best_step != 4  # the constructed RankIC winner is not the loss winner here
    best = load_file(result.best_dir / "model.safetensors")
    assert all(torch.equal(value, snapshots[best_step][key]) for key, value in best.items())


def test_rank_ic_selection_needs_a_scorer(tokenizer_arch, windows, make_config, tmp_path):
    with pytest.raises(ValueError, match="select_on: rank_ic needs a scorer"):
        Trainer(KronosTokenizer(TokenizerConfig(**tokenizer_arch)), _tokenizer_objective,
                make_config(tmp_path, select_on="rank_ic"), *windows)


def test_the_host_syncs_every_log_every_steps_and_names_the_bad_step(tokenizer_arch, windows, make_config,
                                                                     tmp_path, monkeypatch):
    syncs = []
    original = Trainer._sync_metrics

    def counted(self):
        syncs.append(self.state.step)
        return original(self)

    monkeypatch.setattr(Trainer, "_sync_metrics", counted)
    calls = {"train": 0}

    def nan_from_step_six(model, bars, stamps):
        out = _tokenizer_objective(model, bars, stamps)
        if model.training:
            calls["train"] += 1
            if calls["train"] >= 6:
                return out._replace(total=out.total * float("nan"))
        return out

    config = make_config(tmp_path, eval_every=None, epochs=2, log_every=4)  # 8 steps
    trainer = Trainer(KronosTokenizer(TokenizerConfig(**tokenizer_arch)), nan_from_step_six, config, *windows)
    with pytest.raises(NonFiniteLossError, match=r"non-finite loss \(nan\) at optimizer step 6 "):
        trainer.fit()
    # steps 1 and 4 sync (log), then the end of epoch 1 (step 4) evaluates and syncs, then step 8 finds step 6
    assert syncs == [1, 4, 4, 8]
    assert (tmp_path / "last").is_dir()  # saved at step 4, before the bad step
    assert load_file(tmp_path / "last" / "model.safetensors")


def test_local_rank_is_checked_against_the_device_count():
    check_local_rank(1, 2)
    with pytest.raises(ValueError, match="LOCAL_RANK 2 has no GPU: this node shows 2 CUDA device"):
        check_local_rank(2, 2)
    with pytest.raises(ValueError, match="nproc_per_node=1"):
        check_local_rank(0, 0)
