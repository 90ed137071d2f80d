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
