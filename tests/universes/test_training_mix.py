"""Generated universes as training data: windows from generated days, the mix at a stated ratio, the config option."""
from __future__ import annotations

import numpy as np
import pytest

from kronos_quant.training.config import DataConfig
from kronos_quant.training.datasets import WindowArrays, mix_windows, save_window_arrays
from kronos_quant.universes.training_windows import generated_windows, windows_from_panel


def test_generated_windows_target_generated_days(tiny_universes):
    windows = generated_windows(tiny_universes, lookback=20, horizon=5)
    per_universe = len(windows) // tiny_universes.n_universes
    assert len(windows) == per_universe * tiny_universes.n_universes > 0
    assert windows.bars.shape[1] == 20 + 1 + 5 and np.isfinite(windows.bars).all()
    real = windows_from_panel(tiny_universes.history.bars, tiny_universes.history.dates, lookback=20, horizon=5,
                              target_end=tiny_universes.history.t0)
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
