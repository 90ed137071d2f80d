"""Fixtures for the KronosModel tests: tiny random-weight checkpoints and a qrun YAML on the tiny market."""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest

# decision dates of the tiny market (2020-01-02 .. 2022-06-30, day_future.txt beyond)
SEGMENTS = {"train": ["2020-06-01", "2021-06-30"], "valid": ["2021-07-01", "2021-12-31"],
            "test": ["2022-01-01", "2022-02-28"]}
LOOKBACK, HORIZON = 30, 5
TINY_TOKENIZER = dict(d_in=6, d_model=32, n_heads=4, ff_dim=64, n_enc_layers=2, n_dec_layers=2, s1_bits=4,
                      s2_bits=4, group_size=4)
TINY_PREDICTOR = dict(s1_bits=4, s2_bits=4, n_layers=2, d_model=32, n_heads=4, ff_dim=64)
TINY_TRAIN = dict(lr=3e-3, warmup_steps=2, batch_size=32, epochs=1, windows_per_epoch=128, valid_windows=64,
                  eval_every=4, seed=7, device="cpu", log_every=2)


@pytest.fixture(scope="session")
def tiny_checkpoints(tmp_path_factory) -> tuple[Path, Path]:
    """(tokenizer_dir, predictor_dir): tiny random-weight checkpoints (seeded) in save_pretrained layout."""
    import torch
    from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

    from kronos_quant.model import Kronos, KronosTokenizer

    root = tmp_path_factory.mktemp("kronos_ckpt")
    torch.manual_seed(0)
    tokenizer = KronosTokenizer(tiny_tokenizer_config()).save_pretrained(root / "tokenizer")
    predictor = Kronos(tiny_predictor_config()).save_pretrained(root / "predictor")
    return tokenizer, predictor


@pytest.fixture(scope="session")
def kronos_setup():
    """Constants and a ``dataset(segments=None, lookback=30, horizon=5)`` factory (qlib must be initialised)."""
    return SimpleNamespace(segments=SEGMENTS, lookback=LOOKBACK, horizon=HORIZON, tokenizer=TINY_TOKENIZER,
                           predictor=TINY_PREDICTOR, train=TINY_TRAIN, handler=handler_config, dataset=kronos_dataset)


def handler_config(start="2020-01-02", end="2022-06-30") -> dict:
    return {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
            "kwargs": {"instruments": "csi300", "start_time": start, "end_time": end}}


def kronos_dataset(segments=None, lookback=LOOKBACK, horizon=HORIZON):
    from kronos_quant.qlib_ext.dataset import KronosDataset

    return KronosDataset(handler=handler_config(), segments={k: tuple(v) for k, v in (segments or SEGMENTS).items()},
                         lookback=lookback, horizon=horizon)
