"""Fixtures for the universe tests: a tiny random-weight Kronos and a few generated universes on the tiny market."""
from __future__ import annotations

import pytest

T0 = "2021-06-30"  # inside the tiny market (2020-01-02 .. 2022-06-30)
HISTORY_DAYS, LOOKBACK, HORIZON = 70, 40, 12


@pytest.fixture(scope="session")
def tiny_kronos():
    """(tokenizer, model): seeded random weights, s1/s2 of 6 bits."""
    import torch
    from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

    from kronos_quant.model import Kronos, KronosTokenizer

    torch.manual_seed(0)
    return KronosTokenizer(tiny_tokenizer_config()).eval(), Kronos(tiny_predictor_config()).eval()


@pytest.fixture(scope="session")
def tiny_history(tiny_market):
    from kronos_quant.universes.history import load_history

    return load_history(tiny_market, universe="csi300", t0=T0, days=HISTORY_DAYS, benchmark="SH000300")


@pytest.fixture(scope="session")
def tiny_universes(tiny_kronos, tiny_history, tiny_market):
    """4 universes, 12 days, rho 0.5."""
    from kronos_quant.universes.generate import UniverseConfig, generate_universes
    from kronos_quant.universes.history import future_dates

    config = UniverseConfig(n_universes=4, horizon=HORIZON, lookback=LOOKBACK, rho=0.5, seed=3)
    return generate_universes(*tiny_kronos, tiny_history, future_dates(tiny_market, tiny_history.t0, HORIZON), config)
