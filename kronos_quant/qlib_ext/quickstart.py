"""A tiny Kronos on the embedded synthetic market in one call, for notebooks and first experiments.

::

    from kronos_quant.qlib_ext.quickstart import synthetic_setup
    setup = synthetic_setup("outputs/notebooks", fast=True)   # market + qlib.init + KronosDataset + fitted model
    score = setup.model.predict(setup.dataset, "test")

``fast=True`` is the setting CI executes notebooks in: 40 stocks over 2.5 years and a model trained for a few
dozen steps. ``fast=False`` is the setting the committed notebook outputs come from: 200 stocks over 5.5 years
and a few hundred steps. Both train from random weights (the official checkpoints are not needed), and the
trained checkpoints are kept under ``<work_dir>/<fast|full>/model``.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from kronos_quant.data.synth import SynthConfig, ensure_synthetic_market
from kronos_quant.qlib_ext.dataset import KronosDataset
from kronos_quant.qlib_ext.model import KronosModel
from kronos_quant.qlib_ext.qlib_setup import PROVIDER_DEFAULTS, init_qlib

logger = logging.getLogger(__name__)

TINY_TOKENIZER = dict(d_in=6, d_model=32, n_heads=4, ff_dim=64, n_enc_layers=2, n_dec_layers=2, s1_bits=6,
                      s2_bits=6, group_size=4)
TINY_PREDICTOR = dict(s1_bits=6, s2_bits=6, n_layers=2, d_model=32, n_heads=4, ff_dim=64)


@dataclass(frozen=True)
class QuickstartSetup:
    """What :func:`synthetic_setup` builds: everything a first experiment needs."""

    provider: Path  # the Qlib data dir (qlib is initialised on it)
    market: SynthConfig
    segments: dict  # name -> (start, end) decision dates
    dataset: KronosDataset  # csi300 windows of the segments
    model: KronosModel  # fitted (trained from scratch) unless train=False


def market_and_segments(fast: bool) -> tuple[SynthConfig, dict]:
    """The synthetic market and train/valid/test decision dates of each setting."""
    if fast:
        market = SynthConfig(seed=7, n_instruments=40, universe_size=25, start="2020-01-02", end="2022-06-30",
                             n_industries=8)
        return market, {"train": ("2020-06-01", "2021-06-30"), "valid": ("2021-07-01", "2021-12-31"),
                        "test": ("2022-01-01", "2022-03-31")}
    market = SynthConfig(seed=42, n_instruments=200, universe_size=150, start="2018-01-02", end="2023-06-30")
    return market, {"train": ("2018-06-01", "2021-06-30"), "valid": ("2021-07-01", "2021-12-31"),
                    "test": ("2022-01-01", "2023-06-30")}


def synthetic_setup(work_dir, *, fast: bool, lookback: int = 30, horizon: int = 5, sample_count: int = 8,
                    train: bool = True) -> QuickstartSetup:
    """Generate (or reuse) the market, initialise qlib on it, build the dataset and fit a tiny KronosModel.

    Args:
        work_dir: parent folder; the market and checkpoints go to ``<work_dir>/<fast|full>/``.
        fast: the CI setting (see module doc).
        lookback, horizon: bars per window (the model's forecast horizon too).
        sample_count: sample paths per window at prediction time.
        train: False returns an unfitted model.
    """
    root = Path(work_dir) / ("fast" if fast else "full")
    market, segments = market_and_segments(fast)
    provider = ensure_synthetic_market(root / "cn_synth", market)
    init_qlib({**PROVIDER_DEFAULTS, "logging_level": "WARNING"}, provider_uri=provider, reuse=True)
    handler = {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
               "kwargs": {"instruments": "csi300", "start_time": market.start, "end_time": market.end}}
    dataset = KronosDataset(handler=handler, segments=segments, lookback=lookback, horizon=horizon)
    steps = dict(epochs=1, windows_per_epoch=256, valid_windows=128, eval_every=4) if fast else \
        dict(epochs=3, windows_per_epoch=4096, valid_windows=1024, eval_every=32)
    train_config = dict(lr=3e-3, warmup_steps=5, batch_size=64, patience=4, seed=7, device="cpu", log_every=8,
                        **steps)
    model = KronosModel(tokenizer=dict(TINY_TOKENIZER), predictor=dict(TINY_PREDICTOR), mode="scratch",
                        train_config={"tokenizer": train_config, "predictor": train_config},
                        output_dir=str(root / "model"),
                        forecast=dict(lookback=lookback, horizon=horizon, T=0.6, top_p=0.9,
                                      sample_count=sample_count, seed=0),
                        runtime=dict(device="cpu", memory_budget_gb=2))
    if train:
        model.fit(dataset)
    return QuickstartSetup(provider=provider, market=market, segments=segments, dataset=dataset, model=model)


# ``kronos-quant demo --fast``: the demo's pipeline with a smaller budget (CI runs it, then the printed next steps)
FAST_DEMO_TRAINING = dict(epochs=1, windows_per_epoch=512, valid_windows=256, eval_every=8, log_every=8)
FAST_DEMO_TEST = ("2022-01-01", "2022-03-31")  # one quarter instead of 18 months
FAST_DEMO_SAMPLE_COUNT = 2


def fast_demo_config(config: dict) -> dict:
    """A copy of the demo workflow with a smaller training budget, 2 sample paths and a one-quarter test.

    Every record still runs; the backtest is cut to the shortened test segment. Its figures are not the
    demo's (the README quotes the full run).
    """
    import copy

    config = copy.deepcopy(config)
    task = config["task"]
    for network in ("tokenizer", "predictor"):
        task["model"]["kwargs"]["train_config"][network].update(FAST_DEMO_TRAINING)
    task["model"]["kwargs"]["forecast"]["sample_count"] = FAST_DEMO_SAMPLE_COUNT
    task["dataset"]["kwargs"]["segments"]["test"] = list(FAST_DEMO_TEST)
    for record in task.get("record", []):
        backtest = ((record.get("kwargs") or {}).get("config") or {}).get("backtest")
        if isinstance(backtest, dict):
            backtest["start_time"] = max(str(backtest["start_time"]), FAST_DEMO_TEST[0])
            backtest["end_time"] = FAST_DEMO_TEST[1]
    return config

