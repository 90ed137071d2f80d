"""Generation: seeded, chunk-invariant, equal to the plain engine in the natural token order, blind to bars
after t0, tidy bars, and clear errors for bad inputs."""
from __future__ import annotations

import shutil

import numpy as np
import pytest

from kronos_quant.universes.generate import UniverseConfig, generate_universes, tidy_bars
from kronos_quant.universes.history import future_dates, load_history

T0, HISTORY_DAYS, LOOKBACK, HORIZON = "2021-06-30", 70, 40, 12  # as tests/universes/conftest.py


def _generate(tiny_kronos, history, market, **changes):
    config = UniverseConfig(**{**dict(n_universes=3, horizon=HORIZON, lookback=LOOKBACK, rho=0.5, seed=3), **changes})
    return generate_universes(*tiny_kronos, history, future_dates(market, history.t0, config.horizon), config)


def test_seed_reproduces_and_chunking_does_not_matter(tiny_kronos, tiny_history, tiny_market, tiny_universes):
    again = _generate(tiny_kronos, tiny_history, tiny_market, n_universes=4)
    np.testing.assert_array_equal(again.paths, tiny_universes.paths)
    tiny_chunks = _generate(tiny_kronos, tiny_history, tiny_market, n_universes=4, memory_budget_gb=2e-3)
    np.testing.assert_allclose(tiny_chunks.paths, tiny_universes.paths, rtol=1e-5, atol=1e-5)
    other = _generate(tiny_kronos, tiny_history, tiny_market, n_universes=4, seed=4)
    assert np.abs(other.paths - tiny_universes.paths).max() > 1e-3
    assert tiny_universes.paths.shape == (4, len(tiny_universes.instruments), HORIZON, 6)
    assert np.isfinite(tiny_universes.paths).all()


def test_ordered_vocabulary_maps_ids_back(tiny_kronos, tiny_history, tiny_market):
    """Near-greedy sampling picks the most likely token whatever the vocabulary order: the ordered view must
    then reproduce the natural-order paths exactly (a wrong id mapping anywhere would change them)."""
    greedy = dict(rho=0.0, temperature=1e-4, top_p=0.5)
    ordered = _generate(tiny_kronos, tiny_history, tiny_market, ordered_tokens=True, **greedy)
    natural = _generate(tiny_kronos, tiny_history, tiny_market, ordered_tokens=False, **greedy)
    np.testing.assert_allclose(ordered.paths, natural.paths, rtol=1e-5, atol=1e-5)
    sampled = _generate(tiny_kronos, tiny_history, tiny_market, rho=0.0, ordered_tokens=True)
    assert np.abs(sampled.paths - ordered.paths).max() > 1e-3  # the order matters once sampling is random


def test_bars_after_t0_are_never_read(tiny_kronos, tiny_market, tmp_path, tiny_history):
    from kronos_quant.data.qlib_bin import read_calendar, read_feature, write_feature

    copy = tmp_path / "perturbed"
    shutil.copytree(tiny_market, copy)
    calendar = read_calendar(copy)
    cut = int(calendar.get_loc(tiny_history.t0))
    for folder in (copy / "features").iterdir():
        for field in ("open", "high", "low", "close", "volume"):
            start, values = read_feature(copy, folder.name, field)
            later = np.arange(start, start + len(values)) > cut
            values[later] *= 3.0
            write_feature(copy, folder.name, field, values, start)
    history = load_history(copy, universe="csi300", t0=T0, days=HISTORY_DAYS, benchmark="SH000300")
    np.testing.assert_array_equal(history.bars, tiny_history.bars)
    perturbed = _generate(tiny_kronos, history, copy)
    original = _generate(tiny_kronos, tiny_history, tiny_market)
    np.testing.assert_array_equal(perturbed.paths, original.paths)


def test_tidy_bars_respects_the_price_limit_and_ohlc_order():
    rng = np.random.default_rng(0)
    last = np.array([10.0, 20.0])
    close = last[None, :, None] * np.exp(np.cumsum(rng.normal(0, 0.2, (3, 2, 30)), axis=-1))
    bars = np.stack([close * 1.3, close * 0.9, close * 1.1, close, np.full_like(close, -5.0), close], axis=-1)
    tidy = tidy_bars(bars, last, limit=0.1)
    closes = np.concatenate([np.broadcast_to(last[None, :, None], (3, 2, 1)), tidy[..., 3]], axis=-1)
    moves = closes[..., 1:] / closes[..., :-1] - 1
    assert np.abs(moves).max() <= 0.1 + 1e-12 and np.abs(moves).max() > 0.099  # clipped, and it mattered
    assert (tidy[..., 1] >= np.maximum(tidy[..., 0], tidy[..., 3]) - 1e-12).all()
    assert (tidy[..., 2] <= np.minimum(tidy[..., 0], tidy[..., 3]) + 1e-12).all()
    assert (tidy[..., 4] == 0).all() and (tidy[..., 5] == 0).all()


def test_bad_inputs_say_how_to_fix(tiny_market, tiny_history, tiny_kronos):
    with pytest.raises(ValueError, match="trading days up to it"):
        load_history(tiny_market, universe="csi300", t0="2020-02-03", days=HISTORY_DAYS)
    with pytest.raises(ValueError, match="n_universes must be >= 1"):
        UniverseConfig(n_universes=0)
    with pytest.raises(ValueError, match="ordered_tokens"):
        UniverseConfig(n_universes=2, rho=0.3, ordered_tokens=False)
    with pytest.raises(ValueError, match="valid bars up to t0"):
        _generate(tiny_kronos, tiny_history, tiny_market, lookback=HISTORY_DAYS + 5)
    with pytest.raises(ValueError, match="before the provider's first trading day"):
        load_history(tiny_market, universe="csi300", t0="1999-01-04", days=10)
