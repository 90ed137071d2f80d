"""The on-the-fly window sampler: uniform over windows by default, weighted on request, seeded, flat memory."""
from __future__ import annotations

import tracemalloc

import numpy as np
import pandas as pd
import pytest
import torch

from kronos_quant.normalization import fit_scale, normalize
from kronos_quant.training.pretrain_panel import panel_from_arrays
from kronos_quant.training.pretrain_sampler import SamplingWeights, WindowSampler


def _panel(instruments: int, days: int = 300, seed: int = 0, lengths=None):
    rng = np.random.default_rng(seed)
    close = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (days, instruments)), axis=0))
    values = np.stack([close, close * 1.01, close * 0.99, close, rng.uniform(1e5, 2e5, (days, instruments)),
                       close * 1e5], axis=-1)
    if lengths is not None:  # instrument j lists on day days - lengths[j]
        for j, length in enumerate(lengths):
            values[: days - length, j] = np.nan
    calendar = pd.bdate_range("2015-01-05", periods=days)
    return panel_from_arrays(values, calendar, [f"S{j:04d}" for j in range(instruments)])


def test_windows_are_slices_normalised_with_their_context_only():
    panel = _panel(3, days=40)
    sampler = WindowSampler(panel, length=12, context=8)
    assert len(sampler) == 3 * (40 - 12 + 1)
    ids = np.array([0, 29, 57, 86])  # first and last windows of instruments 0 and 2, one of 1
    bars, stamps = sampler.batch(ids)
    assert bars.shape == (4, 12, 6) and bars.dtype == torch.float32 and stamps.shape == (4, 12, 5)
    raw = panel.bars[panel.offsets[2] + 28: panel.offsets[2] + 40]  # window 86 = instrument 2, start 28
    expected = normalize(raw[None], fit_scale(raw[None, :8]), 5.0)[0]
    np.testing.assert_allclose(bars[3].numpy(), expected, rtol=1e-5, atol=1e-5)
    raw[8:] *= 100  # the future part does not move the statistics
    np.testing.assert_allclose(sampler.normalized(raw[None])[0, :8], expected[:8], rtol=1e-6)


def test_default_is_uniform_over_windows_and_equal_weights_instruments():
    lengths = [300, 150, 60]  # windows: 291, 141, 51
    panel = _panel(3, lengths=lengths)
    sampler = WindowSampler(panel, length=10, context=6)
    instrument, _ = sampler.locate(sampler.epoch_order(0, seed=1, windows_per_epoch=40_000))
    share = np.bincount(instrument, minlength=3) / 40_000
    np.testing.assert_allclose(share, np.array([291, 141, 51]) / 483, atol=0.01)
    equal = WindowSampler(panel, length=10, context=6, weights=SamplingWeights(instruments="equal"))
    instrument, _ = equal.locate(equal.epoch_order(0, seed=1, windows_per_epoch=30_000))
    np.testing.assert_allclose(np.bincount(instrument, minlength=3) / 30_000, 1 / 3, atol=0.01)


def test_half_life_tilts_towards_recent_windows_exactly():
    panel = _panel(1, days=210)
    sampler = WindowSampler(panel, length=11, context=6, weights=SamplingWeights(half_life=50))
    ids = sampler.epoch_order(0, seed=2, windows_per_epoch=50_000)
    back = len(sampler) - 1 - ids  # windows before the newest
    # a window 50 windows older is half as likely: counts in [0, 50) vs [50, 100) are 2 : 1
    recent, older = (back < 50).sum(), ((back >= 50) & (back < 100)).sum()
    assert recent / older == pytest.approx(2.0, rel=0.05)
    assert back.min() == 0 and back.max() < len(sampler)


def test_draws_are_a_pure_function_of_seed_and_epoch():
    sampler = WindowSampler(_panel(5), length=20, context=15)
    first = sampler.epoch_order(3, seed=7, windows_per_epoch=256)
    np.testing.assert_array_equal(first, sampler.epoch_order(3, seed=7, windows_per_epoch=256))
    assert not np.array_equal(first, sampler.epoch_order(4, seed=7, windows_per_epoch=256))
    with pytest.raises(ValueError, match="set windows_per_epoch"):
        sampler.epoch_order(0, seed=7, windows_per_epoch=None)


def _sampler_peak_bytes(panel) -> int:
    """Peak traced bytes of building a sampler over ``panel`` and drawing 20 batches of 64 windows."""
    tracemalloc.start()
    tracemalloc.reset_peak()
    sampler = WindowSampler(panel, length=101, context=91)
    for epoch in range(20):
        sampler.batch(sampler.epoch_order(epoch, seed=0, windows_per_epoch=64))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def test_sampler_memory_is_flat_in_universe_size():
    small, large = _panel(40, days=600), _panel(400, days=600)
    assert large.nbytes > 9 * small.nbytes  # the data itself is 10x (28 bytes a bar), held once
    small_peak, large_peak = _sampler_peak_bytes(small), _sampler_peak_bytes(large)
    # materialising windows would be ~101x the panel: 40 stocks x 500 windows x 101 bars x 24 B = 48 MB
    assert large_peak < 1.5 * small_peak, (small_peak, large_peak)
    assert large_peak < 2 * 2**20


def test_targets_from_keeps_windows_whose_future_bars_start_on_or_after_the_day():
    panel = _panel(3, days=60, lengths=[60, 60, 30])
    sampler = WindowSampler(panel, length=12, context=8, targets_from=40)
    # instrument 0: future bars start at p + 8 >= 40, p <= 48: starts 32 .. 48 (17 windows); 2 lists on day 30
    assert sampler.windows_per_instrument.tolist() == [17, 17, 17]
    _, start = sampler.locate(np.arange(len(sampler)))
    future_days = panel.days[start + 8]
    assert future_days.min() == 40 and panel.days[start].min() == 32  # the context reaches back before day 40
    whole = WindowSampler(panel, length=12, context=8)
    assert len(whole) == 49 + 49 + 19
