"""runtime.threads fixes torch's CPU threads while KronosModel trains and forecasts.

The demo's figures depended on OMP_NUM_THREADS (1 vs 2 threads: trained predictor weights up to 1e-3
apart after 128 steps, and different backtest figures), because a matmul's sums are split by thread.
"""
from __future__ import annotations

import numpy as np
import pytest
import torch


def test_torch_threads_sets_and_restores():
    from kronos_quant.device import torch_threads

    before = torch.get_num_threads()
    with torch_threads(1):
        assert torch.get_num_threads() == 1
    assert torch.get_num_threads() == before
    with torch_threads(None):
        assert torch.get_num_threads() == before


@pytest.mark.parametrize("threads", [0, 1.5, True, "2"])
def test_bad_threads_fail_at_construction(threads, tiny_checkpoints):
    from kronos_quant.qlib_ext.model import KronosModel

    with pytest.raises(ValueError, match="threads must be a whole number >= 1"):
        KronosModel(str(tiny_checkpoints[0]), str(tiny_checkpoints[1]), device="cpu", threads=threads)


def test_training_and_forecasts_run_on_the_configured_threads(tiny_market, init_qlib, kronos_setup, tmp_path,
                                                               monkeypatch):
    """Whatever torch's thread setting outside, fit and forecast run on runtime.threads, and the same
    scratch-trained model forecasts identically from a 1-thread and a 2-thread caller."""
    import kronos_quant.inference.forecast as forecast_module
    import kronos_quant.training as training
    from kronos_quant.qlib_ext.model import KronosModel

    init_qlib(tiny_market)
    dataset = kronos_setup.dataset(segments={**kronos_setup.segments, "test": ("2022-01-03", "2022-01-14")})
    seen = []
    for name in ("fit_tokenizer", "fit_predictor"):
        original = getattr(training, name)

        def spy(*args, _original=original, **kwargs):
            seen.append(torch.get_num_threads())
            return _original(*args, **kwargs)

        monkeypatch.setattr(training, name, spy)
    original_forecast = forecast_module.forecast_windows

    def forecast_spy(*args, **kwargs):
        seen.append(torch.get_num_threads())
        return original_forecast(*args, **kwargs)

    monkeypatch.setattr("kronos_quant.qlib_ext.model.forecast_windows", forecast_spy)
    model = KronosModel(mode="scratch", tokenizer=kronos_setup.tokenizer, predictor=kronos_setup.predictor,
                        train_config={"tokenizer": kronos_setup.train, "predictor": kronos_setup.train},
                        output_dir=str(tmp_path / "model"), lookback=30, horizon=5, sample_count=2, seed=0,
                        device="cpu", threads=1)
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        model.fit(dataset)
        two = model.predict(dataset)
        torch.set_num_threads(1)
        one = model.predict(dataset)
    finally:
        torch.set_num_threads(before)
    assert seen == [1, 1, 1, 1]  # tokenizer, predictor, and both forecasts ran on one thread
    np.testing.assert_array_equal(one.to_numpy(), two.to_numpy())
    assert len(one) > 50 and np.isfinite(one).all()
