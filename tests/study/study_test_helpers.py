"""Helpers for the study tests: a tiny study config on the tiny synthetic market."""
from __future__ import annotations

TINY_KRONOS = {
    "lookback": 20, "horizons": [1, 2, 5], "warm_start": True, "predict_chunk_days": 30,
    "model": {
        "mode": "scratch",
        "tokenizer": dict(d_in=6, d_model=16, n_heads=2, ff_dim=32, n_enc_layers=1, n_dec_layers=1, s1_bits=4,
                          s2_bits=4, group_size=4),
        "predictor": dict(s1_bits=4, s2_bits=4, n_layers=1, d_model=16, n_heads=2, ff_dim=32),
        "train_config": {
            network: dict(lr=3e-3, warmup_steps=1, batch_size=32, epochs=1, windows_per_epoch=64, valid_windows=32,
                          eval_every=2, seed=7, device="cpu", log_every=2)
            for network in ("tokenizer", "predictor")},
        "forecast": {"lookback": 20, "T": 0.6, "top_p": 0.9, "sample_count": 2, "seed": 0},
        "runtime": {"device": "cpu", "memory_budget_gb": 0.5},
    },
    "warm_train_config": {"tokenizer": None,
                          "predictor": dict(lr=1e-3, warmup_steps=1, batch_size=32, epochs=1, windows_per_epoch=32,
                                            valid_windows=32, eval_every=2, seed=7, device="cpu", log_every=2)},
}


def study_dict(provider, output_dir, signals=("kronos", "reversal_5d", "random"), **windows) -> dict:
    """A study mapping on the tiny market (2020-01-02 .. 2022-06-30): two quarterly windows in 2022H1."""
    window = {
        "history_start": "2020-01-02",
        "train": ["2020-03-02", "2021-03-31"],
        "valid": ["2021-04-01", "2021-12-24"],
        "test_start": "2022-01-04",
        "test_end": "2022-06-24",
        "roll_step": "quarterly",
        "rolling": "sliding",
    }
    window.update(windows)
    return {
        "name": "tiny_study",
        "provider_uri": str(provider),
        "output_dir": str(output_dir),
        "market": "csi300",
        "benchmark": "SH000300",
        "signals": list(signals),
        "windows": window,
        "kronos": TINY_KRONOS,
        "lightgbm": {
            "num_threads": 1,
            "num_boost_round": 20,
            "early_stopping_rounds": 5,
            "lambda_l1": 0.0,
            "lambda_l2": 1.0,
            "num_leaves": 8,
            "max_depth": 3,
        },
        "backtest": {"topk": 5, "n_drop": 1, "cost_bp": 20, "cost_grid_bp": [0, 10, 20, 40]},
    }
