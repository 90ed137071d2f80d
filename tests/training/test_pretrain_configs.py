"""The committed pretraining presets load, validate, and differ only where they should."""
from __future__ import annotations

from pathlib import Path

import pytest

from kronos_quant.training.pretrain_config import load_pretrain_config, pretrain_config_from_dict

CONFIGS = Path(__file__).resolve().parents[2] / "configs"


@pytest.mark.parametrize("name", ["pretrain_tiny", "pretrain_cpu", "pretrain_cpu_bounded", "pretrain_gpu"])
def test_presets_load(name):
    from kronos_quant.model.presets import PREDICTOR_PRESETS, TOKENIZER_PRESETS

    config = load_pretrain_config(CONFIGS / f"{name}.yaml")
    assert config.valid_start < config.cut
    tokenizer, predictor = config.tokenizer.model, config.predictor.model
    tokenizer = vars(TOKENIZER_PRESETS[tokenizer]) if isinstance(tokenizer, str) else tokenizer
    predictor = vars(PREDICTOR_PRESETS[predictor]) if isinstance(predictor, str) else predictor
    assert (tokenizer["s1_bits"], tokenizer["s2_bits"]) == (predictor["s1_bits"], predictor["s2_bits"])


def test_cpu_presets_share_data_and_models_and_differ_in_steps_only():
    cpu, bounded = (load_pretrain_config(CONFIGS / f"{name}.yaml") for name in ("pretrain_cpu", "pretrain_cpu_bounded"))
    assert (cpu.cut, cpu.valid_start, cpu.window_length) == (bounded.cut, bounded.valid_start, 101) == \
        ("2020-12-31", "2020-07-01", 101)
    assert dict(cpu.predictor.model) == dict(bounded.predictor.model)
    assert cpu.predictor.max_steps > bounded.predictor.max_steps


def test_config_digest_ignores_where_a_run_goes_but_not_what_it_computes():
    base = load_pretrain_config(CONFIGS / "pretrain_tiny.yaml")
    assert base.replace(out_dir="elsewhere", provider_uri="copy", mlflow=False).digest() == base.digest()
    assert base.replace(cut="2021-11-30").digest() != base.digest()
    assert base.replace(predictor=base.predictor.replace(lr=1e-3)).digest() != base.digest()


def test_bad_configs_say_what_to_fix():
    with pytest.raises(ValueError, match="unknown keys \\['lookbak'\\]"):
        pretrain_config_from_dict({"provider_uri": "x", "cut": "2021-12-31", "valid_start": "2021-06-01",
                                   "lookbak": 20})
    with pytest.raises(ValueError, match="start < valid_start <= cut"):
        pretrain_config_from_dict({"provider_uri": "x", "cut": "2021-01-31", "valid_start": "2021-06-01",
                                   "tokenizer": {"windows_per_epoch": 8, "valid_windows": 8},
                                   "predictor": {"windows_per_epoch": 8, "valid_windows": 8}})
    with pytest.raises(ValueError, match="sampling.instruments must be one of"):
        pretrain_config_from_dict({"provider_uri": "x", "cut": "2021-12-31", "valid_start": "2021-06-01",
                                   "sampling": {"instruments": "cap"}})


def test_a_cut_reaching_into_the_test_period_is_an_error():
    import pandas as pd

    from kronos_quant.training.pretrain_config import check_cut_before_test, latest_allowed_cut

    calendar = pd.bdate_range("2020-12-01", "2021-02-26")
    # first test day 2021-01-04 (a Monday), labels 5 days ahead: the last allowed cut is 2020-12-25 (Friday)
    assert latest_allowed_cut("2021-01-04", label_span=5, calendar=calendar) == pd.Timestamp("2020-12-25")
    check_cut_before_test("2020-12-25", "2021-01-04", label_span=5, calendar=calendar)
    with pytest.raises(ValueError, match="cut 2020-12-28 lets pretraining see bars of the test period starting "
                                         "2021-01-04.*set cut: 2020-12-25 or earlier"):
        check_cut_before_test("2020-12-28", "2021-01-04", label_span=5, calendar=calendar)
