"""Generated universes as training data: windows from generated days, the mix at a stated ratio, the config option."""
from __future__ import annotations

import numpy as np
import pytest

from kronos_quant.training.config import DataConfig
from kronos_quant.training.datasets import WindowArrays, mix_windows, save_window_arrays
from kronos_quant.universes.training_windows import generated_windows, windows_from_panel


def _expected_generated_windows(universes, universe: int, lookback: int, horizon: int) -> np.ndarray:
    """Recomputed from the history and the universe's paths: every member's traded bars, decision dates t0 and
    later, lookback + 1 context bars and the next ``horizon`` bars, z-scored on the context (population std,
    eps 1e-5, clip 5), in (date, instrument) order. (N, lookback + 1 + horizon, 6)."""
    history = universes.history
    windows = []  # (decision date position, member, window)
    for member, name in enumerate(universes.instruments):
        real = history.bars[:, history.instruments.index(name)].astype(np.float64)  # (D, 6)
        bars = np.concatenate([real, universes.paths[universe, member].astype(np.float64)])  # (D + H, 6)
        traded = np.flatnonzero(np.isfinite(bars).all(axis=1) & (bars[:, 4] > 0))
        for k in range(lookback, len(traded) - horizon):
            if traded[k] < len(history.dates) - 1:  # decision before t0: its targets would be real bars
                continue
            context, target = bars[traded[k - lookback:k + 1]], bars[traded[k + 1:k + 1 + horizon]]
            mean, std = context.mean(axis=0), context.std(axis=0)
            window = np.clip((np.concatenate([context, target]) - mean) / (std + 1e-5), -5, 5)
            windows.append((traded[k], member, window))
    windows.sort(key=lambda item: item[:2])
    return np.stack([window for _, _, window in windows])


def test_generated_windows_target_generated_days(tiny_universes):
    lookback, horizon = 20, 5
    windows = generated_windows(tiny_universes, lookback=lookback, horizon=horizon)
    per_universe = len(windows) // tiny_universes.n_universes
    assert len(windows) == per_universe * tiny_universes.n_universes > 0
    assert windows.bars.shape[1] == lookback + 1 + horizon and np.isfinite(windows.bars).all()
    blocks = windows.bars.reshape(tiny_universes.n_universes, per_universe, lookback + 1 + horizon, 6)
    for universe, block in enumerate(blocks):
        expected = _expected_generated_windows(tiny_universes, universe, lookback, horizon)
        assert expected.shape == block.shape
        np.testing.assert_allclose(block, expected, atol=2e-5, err_msg=f"universe {universe}")
    assert not np.allclose(blocks[0], blocks[1], atol=1e-3)  # each universe's own paths, not the first one's
    real = windows_from_panel(tiny_universes.history.bars, tiny_universes.history.dates, lookback=lookback,
                              horizon=horizon, target_end=tiny_universes.history.t0)
    assert not np.allclose(windows.bars[:len(real)].mean(), real.bars.mean())


def test_mix_ratio_and_errors():
    real = WindowArrays(np.zeros((10, 8, 6), np.float32), np.zeros((10, 8, 5), np.int64))
    generated = WindowArrays(np.ones((30, 8, 6), np.float32), np.ones((30, 8, 5), np.int64))
    mixed = mix_windows(real, generated, ratio=2.0, seed=1)
    assert len(mixed) == 30 and mixed.bars[10:].min() == 1 and mixed.bars[:10].max() == 0
    assert mix_windows(real, generated, ratio=0.0) is real
    with pytest.raises(ValueError, match="only 30 exist"):
        mix_windows(real, generated, ratio=4.0)
    with pytest.raises(ValueError, match="differ in length"):
        mix_windows(real, WindowArrays(np.ones((3, 9, 6)), np.ones((3, 9, 5))), ratio=0.1)


def test_training_config_mixes_generated_windows(tmp_path):
    from kronos_quant.cli.train import _load_data

    real = WindowArrays(np.zeros((10, 8, 6), np.float32), np.zeros((10, 8, 5), np.int64))
    generated = WindowArrays(np.ones((30, 8, 6), np.float32), np.ones((30, 8, 5), np.int64))
    save_window_arrays(tmp_path / "real.npz", real, real)
    save_window_arrays(tmp_path / "gen.npz", generated, generated)
    data = DataConfig(arrays_file=str(tmp_path / "real.npz"), generated_file=str(tmp_path / "gen.npz"),
                      generated_ratio=0.5)
    train, valid = _load_data(data)
    assert len(train) == 15 and len(valid) == 10 and valid.bars.max() == 0  # validation stays real
    with pytest.raises(ValueError, match="generated_ratio"):
        DataConfig(arrays_file="x.npz", generated_ratio=0.5)
    with pytest.raises(ValueError, match="generated_ratio"):
        DataConfig(arrays_file="x.npz", generated_file="g.npz", generated_ratio=-1)
