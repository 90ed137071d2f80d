"""Measured comparison: a tiny Kronos predictor trained on real windows only vs real + generated windows.

``python -m kronos_quant.universes.mix_study --provider qlib_data/cn_mix --t0 2021-06-30 --out /tmp/mix``

1. History up to t0 (nothing later). Tokenizer + predictor A trained on its windows; the last ``valid_days``
   are held out (split by time) as the real validation set.
2. Generated universes from the training cut-off (before the validation period), by predictor A.
3. Predictor B: the same tokenizer, the same steps and seed, trained on real + generated windows
   (``ratio`` generated per real window).
4. Both are scored on the real validation windows (loss) and by RankIC after t0: at every ``every``-th day,
   each member's expected ``score_horizon``-day return over ``score_paths`` sample paths vs the realised
   return (Spearman per day, mean and HAC t-stat).
"""
from __future__ import annotations

import argparse
import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

from kronos_quant.data.qlib_bin import read_calendar
from kronos_quant.model import Kronos, KronosTokenizer
from kronos_quant.research.hac import hac_mean
from kronos_quant.training import TrainConfig, fit_predictor
from kronos_quant.training.datasets import mix_windows
from kronos_quant.universes.generate import UniverseConfig, generate_universes
from kronos_quant.universes.history import MarketHistory, future_dates, load_history, members_at
from kronos_quant.universes.tiny_model import TinyTraining, split_windows, train_tiny_kronos
from kronos_quant.universes.training_windows import generated_windows

logger = logging.getLogger(__name__)


def rank_ic(tokenizer: KronosTokenizer, model: Kronos, provider, *, universe: str, t0, days: int, lookback: int,
            horizon: int, paths: int, every: int, seed: int = 0) -> pd.Series:
    """Daily RankIC of the expected ``horizon``-day return after t0 (decision days every ``every`` days)."""
    calendar = read_calendar(provider)
    start = int(calendar.searchsorted(pd.Timestamp(t0), side="right")) - 1
    stop = min(start + days + horizon, len(calendar) - 1)
    members = members_at(provider, universe, calendar[start])
    full = load_history(provider, universe=universe, t0=calendar[stop], days=stop - start + lookback + 20,
                        instruments=members)  # realised bars after t0: scoring only, never model input
    decisions = full.dates[full.dates > calendar[start]][:days][::every]
    values = {}
    for day in decisions:
        end = int(full.dates.get_loc(day))
        if end + horizon >= len(full.dates):
            break
        window = MarketHistory(dates=full.dates[:end + 1], instruments=full.instruments, bars=full.bars[:end + 1],
                               benchmark_close=None, benchmark=None)
        config = UniverseConfig(n_universes=paths, horizon=horizon, lookback=lookback, rho=0.0,
                                ordered_tokens=False, seed=seed, limit=None)
        generated = generate_universes(tokenizer, model, window, full.dates[end + 1:end + 1 + horizon], config)
        columns = [full.instruments.index(name) for name in generated.instruments]
        last = full.close[end, columns].astype(np.float64)
        predicted = generated.paths[..., -1, 3].mean(axis=0) / last - 1
        realised = full.close[end + horizon, columns] / last - 1
        keep = np.isfinite(realised)
        if keep.sum() > 5:
            values[day] = spearmanr(predicted[keep], realised[keep]).statistic
    return pd.Series(values, name="rank_ic")


def run_study(provider: str, t0: str, out_dir: str, *, universe: str = "csi300", history_days: int = 300,
              n_universes: int = 10, ratio: float = 1.0, steps: int = 150, rho: float = 0.5,
              score_days: int = 120, every: int = 5) -> dict:
    out = Path(out_dir)
    training = TinyTraining(steps=steps, stride=2, valid_days=60)
    history = load_history(provider, universe=universe, t0=t0, days=history_days)
    train, valid = split_windows(history, training)
    tokenizer, model_a, summary_a = train_tiny_kronos(train, valid, out / "real_only", training)
    cut = history.dates[-training.valid_days - 1]  # training targets end here; validation comes after
    before_cut = load_history(provider, universe=universe, t0=cut, days=history_days - training.valid_days)
    horizon = training.valid_days
    universes = generate_universes(tokenizer, model_a, before_cut, future_dates(provider, cut, horizon),
                                   UniverseConfig(n_universes=n_universes, horizon=horizon,
                                                  lookback=training.lookback, rho=rho, seed=1))
    generated = generated_windows(universes, lookback=training.lookback, horizon=training.horizon,
                                  stride=training.stride)
    mixed = mix_windows(train, generated, ratio=min(ratio, len(generated) / len(train)), seed=0)
    pred_b = fit_predictor(TrainConfig(model=dict(training.predictor), tokenizer=summary_a["tokenizer_dir"],
                                       out_dir=str(out / "with_generated" / "predictor"),
                                       **_common(training, len(mixed), len(valid))), mixed, valid)
    model_b = Kronos.from_pretrained(pred_b.best_dir).eval()
    results = {"t0": f"{history.t0:%Y-%m-%d}", "real_train_windows": len(train), "valid_windows": len(valid),
               "generated_windows_used": len(mixed) - len(train), "generated_from": f"{cut:%Y-%m-%d}",
               "n_universes": n_universes, "rho": rho, "steps": steps}
    for name, model, loss in (("real_only", model_a, summary_a["predictor_valid_loss"]),
                              ("with_generated", model_b, pred_b.best_val_loss)):
        ic = rank_ic(tokenizer, model, provider, universe=universe, t0=history.t0, days=score_days,
                     lookback=training.lookback, horizon=5, paths=8, every=every)
        hac = hac_mean(ic.to_numpy(), label_horizon=5)
        results[name] = {"valid_loss": float(loss), "rank_ic_mean": float(ic.mean()),
                         "rank_ic_t_hac": float(hac.t_stat),
                         "ic_days": int(len(ic))}
    (out / "mix_study.json").write_text(json.dumps(results, indent=2))
    return results


def _common(training: TinyTraining, n_train: int, n_valid: int) -> dict:
    return dict(lr=training.lr, warmup_steps=max(1, training.steps // 20), batch_size=training.batch_size,
                epochs=math.ceil(training.steps * training.batch_size / n_train), max_steps=training.steps,
                valid_windows=min(n_valid, 2048), eval_every=max(1, training.steps // 5), seed=training.seed,
                device="cpu", log_every=max(1, training.steps // 10))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--provider", required=True)
    parser.add_argument("--t0", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--n-universes", type=int, default=10)
    parser.add_argument("--ratio", type=float, default=1.0)
    parser.add_argument("--steps", type=int, default=150)
    parser.add_argument("--history-days", type=int, default=300)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    run_study(args.provider, args.t0, args.out, n_universes=args.n_universes, ratio=args.ratio, steps=args.steps,
              history_days=args.history_days)
    logger.info("results: %s", Path(args.out) / "mix_study.json")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
