"""Tiny models and synthetic window arrays for the training tests (CPU, seconds)."""
from __future__ import annotations

import pytest

TOKENIZER = dict(d_model=32, n_heads=2, ff_dim=64, n_enc_layers=2, n_dec_layers=2, s1_bits=4, s2_bits=4,
                 group_size=4)
PREDICTOR = dict(s1_bits=4, s2_bits=4, n_layers=1, d_model=32, n_heads=2, ff_dim=64)
WINDOW_BARS = 16  # lookback + horizon + 1 of the synthetic windows


@pytest.fixture(scope="session")
def windows():
    """(train, valid) WindowArrays of random-walk bars: 128 and 32 windows of 16 bars."""
    from kronos_quant.training.datasets import random_walk_windows

    return random_walk_windows(128, WINDOW_BARS, seed=0), random_walk_windows(32, WINDOW_BARS, seed=1)


@pytest.fixture(scope="session")
def tokenizer_dir(tmp_path_factory):
    """A tiny KronosTokenizer checkpoint (random weights) for predictor training."""
    import torch

    from kronos_quant.model import KronosTokenizer, TokenizerConfig

    torch.manual_seed(0)
    return KronosTokenizer(TokenizerConfig(**TOKENIZER)).save_pretrained(tmp_path_factory.mktemp("tok"))


@pytest.fixture(scope="session")
def tokenizer_arch() -> dict:
    return dict(TOKENIZER)


@pytest.fixture(scope="session")
def predictor_arch() -> dict:
    return dict(PREDICTOR)


@pytest.fixture(scope="session")
def make_config():
    """Factory ``make_config(out_dir, **changes)``: tiny tokenizer TrainConfig, 4 steps/epoch of batch 16."""
    return _tiny_config


def _tiny_config(out_dir, **changes):
    from kronos_quant.training import TrainConfig

    values = dict(model=TOKENIZER, out_dir=str(out_dir), lr=3e-3, warmup_steps=2, batch_size=16, epochs=2,
                  windows_per_epoch=64, seed=3, device="cpu", deterministic=True, log_every=1)
    values.update(changes)
    return TrainConfig(**values)


# ---- pretraining: a tiny synthetic provider and a fast config --------------------------------------
PRETRAIN_SYNTH = dict(n_instruments=24, universe_size=16, start="2020-01-02", end="2021-12-31", seed=5)


@pytest.fixture(scope="session")
def pretrain_provider(tmp_path_factory):
    """A 24-stock synthetic Qlib provider, 2020-01-02 .. 2021-12-31."""
    from kronos_quant.data.synth import SynthConfig, write_synthetic_market

    return write_synthetic_market(tmp_path_factory.mktemp("synth") / "cn", SynthConfig(**PRETRAIN_SYNTH))


@pytest.fixture(scope="session")
def make_pretrain_config():
    """Factory ``make_pretrain_config(provider, out_dir, **changes)``: configs/pretrain_tiny.yaml cut to
    8 + 8 steps of batch 16, RankIC on 2 dates, no MLflow. ``tokenizer``/``predictor`` changes are
    mappings merged into those stages."""
    return _pretrain_config


def _pretrain_config(provider, out_dir, **changes):
    from pathlib import Path

    from kronos_quant.training.pretrain_config import load_pretrain_config

    root = Path(__file__).resolve().parents[2]
    config = load_pretrain_config(root / "configs" / "pretrain_tiny.yaml", provider_uri=str(provider),
                                  out_dir=str(out_dir), mlflow=False, valid_start="2021-09-01", cut="2021-12-31")
    stage = dict(max_steps=8, batch_size=16, windows_per_epoch=64, valid_windows=32, eval_every=4, log_every=2,
                 warmup_steps=2, deterministic=True)
    tokenizer = config.tokenizer.replace(**{**stage, **changes.pop("tokenizer", {})})
    predictor = config.predictor.replace(**{**stage, **changes.pop("predictor", {})})
    rank_ic = config.rank_ic.__class__(dates=2, paths=2, seed=0, max_instruments=24)
    return config.replace(tokenizer=tokenizer, predictor=predictor, rank_ic=rank_ic, **changes)
