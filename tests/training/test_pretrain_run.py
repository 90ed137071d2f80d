"""Pretraining end to end on a tiny synthetic provider: the cut, exact resume, the cache, the model card."""
from __future__ import annotations

import shutil

import pandas as pd
import pytest

from kronos_quant.data import qlib_bin
from kronos_quant.training.model_card import CARD_FIELDS
from kronos_quant.training.pretrain import load_pretrained, run_pretraining

CUT = "2021-12-31"
CHECKPOINTS = ("tokenizer/best", "tokenizer/last", "predictor/best", "predictor/last")


def _weights(run_dir) -> dict[str, bytes]:
    return {name: (run_dir / name / "model.safetensors").read_bytes() for name in CHECKPOINTS}


def _perturb_after(provider, out, cut: str, factor: float):
    """A copy of ``provider`` whose bars after ``cut`` are scaled by ``factor`` (volume too)."""
    shutil.copytree(provider, out)
    calendar = qlib_bin.read_calendar(out)
    first_after = int(calendar.searchsorted(pd.Timestamp(cut), side="right"))
    changed = 0
    for folder in (out / "features").iterdir():
        for field in ("open", "high", "low", "close", "volume"):
            start, values = qlib_bin.read_feature(out, folder.name, field)
            tail = max(first_after - start, 0)
            if tail < len(values):
                values[tail:] *= factor
                changed += len(values) - tail
                qlib_bin.write_feature(out, folder.name, field, values, start)
    assert changed > 0
    return out


@pytest.fixture(scope="module")
def finished(pretrain_provider, make_pretrain_config, tmp_path_factory):
    """One uninterrupted tiny pretraining run (cut 2021-06-30, the provider runs to 2021-12-31)."""
    config = make_pretrain_config(pretrain_provider, tmp_path_factory.mktemp("full"), cut="2021-06-30",
                                  valid_start="2021-03-01")
    return config, run_pretraining(config)


def test_bars_after_the_cut_never_reach_pretraining(finished, pretrain_provider, tmp_path):
    config, result = finished
    perturbed = _perturb_after(pretrain_provider, tmp_path / "perturbed", config.cut, factor=1.7)
    again = run_pretraining(config.replace(provider_uri=str(perturbed), out_dir=str(tmp_path / "out")))
    assert again.run_dir.name == result.run_dir.name  # same config and data digest
    assert not again.cached
    assert _weights(again.run_dir) == _weights(result.run_dir)  # bit-identical checkpoints


def test_perturbing_a_bar_before_the_cut_changes_the_run(finished, pretrain_provider, tmp_path):
    config, result = finished
    # a jump on 2020-06-02 inside the training bars (a constant scale of whole windows would be normalised away)
    perturbed = _perturb_after(pretrain_provider, tmp_path / "perturbed", "2020-06-01", factor=1.7)
    again = run_pretraining(config.replace(provider_uri=str(perturbed), out_dir=str(tmp_path / "out")))
    assert again.run_dir.name != result.run_dir.name
    assert _weights(again.run_dir)["tokenizer/last"] != _weights(result.run_dir)["tokenizer/last"]


def test_resume_mid_predictor_equals_uninterrupted_and_runs_only_the_rest(finished, tmp_path):
    config, result = finished
    config = config.replace(out_dir=str(tmp_path))
    crash_at = ("predictor", 6)

    def crash(stage, step):
        if (stage, step) == crash_at:
            raise RuntimeError("simulated crash")

    with pytest.raises(RuntimeError, match="simulated crash"):
        run_pretraining(config, on_step_end=crash)
    ran = []
    resumed = run_pretraining(config.replace(resume=True), on_step_end=lambda stage, step: ran.append((stage, step)))
    # the last checkpoint was at step 4 (eval_every 4): steps 5..8 again, the finished tokenizer not at all
    assert ran == [("predictor", step) for step in (5, 6, 7, 8)]
    assert resumed.card["steps"] == {"tokenizer": 8, "predictor": 8}
    assert _weights(resumed.run_dir) == _weights(result.run_dir)


def test_a_finished_run_is_reused_from_the_cache(finished):
    config, result = finished
    ran = []
    cached = run_pretraining(config, on_step_end=lambda stage, step: ran.append(step))
    assert cached.cached and ran == [] and cached.run_dir == result.run_dir
    assert cached.predictor_dir == result.predictor_dir


def test_model_card_holds_every_field(finished):
    config, result = finished
    card = result.card
    assert set(CARD_FIELDS) <= set(card)
    assert card["cut"] == "2021-06-30" and card["date_span"][1] <= "2021-06-30"
    assert card["date_span"][0] == "2020-01-02" and card["provider"] == config.provider_uri
    assert card["steps"] == {"tokenizer": 8, "predictor": 8}
    length = config.lookback + 1 + config.horizon
    assert card["windows_seen"] == {"tokenizer": 8 * 16, "predictor": 8 * 16}
    assert card["tokens_seen"] == {"tokenizer": 8 * 16 * length, "predictor": 8 * 16 * (length - 1)}
    assert card["n_instruments"]["train"] >= 20
    assert card["config_digest"] == config.digest() and len(card["data_digest"]) == 64
    assert card["wall_seconds"]["total"] >= card["wall_seconds"]["predictor"] > 0
    assert card["cpu_seconds"]["total"] > 0
    curves = card["curves"]
    assert [step for step, _ in curves["tokenizer"]["val/loss"]] == [4, 8]
    assert [step for step, _ in curves["predictor"]["val/rank_ic"]] == [4, 8]
    assert [step for step, _ in curves["predictor"]["train/loss"]] == [1, 2, 4, 6, 8]
    assert card["best"]["predictor"]["select_on"] == "rank_ic"
    best_ic = max(value for _, value in curves["predictor"]["val/rank_ic"])
    assert card["best"]["predictor"]["val_rank_ic"] == pytest.approx(best_ic)
    assert card["parameters"]["predictor"] > 1000
    text = (result.run_dir / "model_card.md").read_text()
    assert card["key"] in text and "| predictor |" in text and "2021-06-30" in text


def test_the_checkpoints_load_with_from_pretrained(finished):
    _, result = finished
    tokenizer, model = load_pretrained(result.run_dir)
    assert tokenizer.config.s1_bits == model.config.s1_bits == 4
    assert all(bool(p.detach().isfinite().all()) for p in model.parameters())


def test_a_seed_ensemble_trains_each_seed_and_scores_their_mean(pretrain_provider, make_pretrain_config, tmp_path):
    config = make_pretrain_config(pretrain_provider, tmp_path, ensemble=2)
    result = run_pretraining(config)
    ensemble = result.card["ensemble"]
    assert ensemble["members"] == ["predictor/best", "predictor_seed1/best"]
    first, second = (_weights_of(result.run_dir / member) for member in ensemble["members"])
    assert first != second  # seeds 7 and 8
    assert len(ensemble["val_rank_ic_members"]) == 2
    assert -1 <= ensemble["val_rank_ic_ensemble"] <= 1
    assert ensemble["val_rank_ic_ensemble"] not in ensemble["val_rank_ic_members"]
    assert "predictor_seed1" in result.card["wall_seconds"]
    assert "Seed ensemble of 2 predictors" in (result.run_dir / "model_card.md").read_text()


def _weights_of(folder) -> bytes:
    return (folder / "model.safetensors").read_bytes()
