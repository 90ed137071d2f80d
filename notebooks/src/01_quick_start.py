# %% [markdown]
# # 1. Quick start: from a market to a forecast, a signal and its IC
#
# **Question.** What does Kronos give a researcher, and how do you get from raw daily bars to a
# cross-sectional signal with an IC?
#
# This notebook generates the toolkit's embedded synthetic A-share market (the product's default data), trains a
# tiny Kronos on it from scratch (the official weights cannot be downloaded here; the last section shows how they
# load from a local folder), forecasts one stock with sample paths and quantile bands, then scores a whole
# cross-section and measures its IC against Qlib's usual label.
#
# *Settings.* `KRONOS_NOTEBOOK_FAST=1` runs a tiny market, a tiny model and a short period (what CI executes).
# The committed outputs come from the full setting, recorded in the next cell's printout.

# %%
import json
import os
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

FAST = os.environ.get("KRONOS_NOTEBOOK_FAST", "0") == "1"
WORK = Path(os.environ.get("KRONOS_NOTEBOOK_WORKDIR", "outputs/notebooks")) / ("fast" if FAST else "full")
plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (9, 3.6)})
os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars in the committed outputs
warnings.filterwarnings("ignore")  # keep library deprecation chatter out of the committed outputs
started = time.perf_counter()
print(f"setting: {'fast' if FAST else 'full'}; work dir: {WORK}")

# %% [markdown]
# ## The market
# The synthetic market imitates what Qlib users meet in CN data: a trading calendar with holidays, IPOs and
# delistings, suspensions, ±10% price limits, dividends, a CSI300-like universe and its benchmark `SH000300`.
# It plants one modest effect, a short-term reversal whose oracle daily RankIC is about 0.05, so a good model
# should find some of it and no more.

# %%
from kronos_quant.data.synth import ensure_synthetic_market
from kronos_quant.qlib_ext.qlib_setup import PROVIDER_DEFAULTS, init_qlib
from kronos_quant.qlib_ext.quickstart import market_and_segments

market, segments = market_and_segments(fast=FAST)  # the market's size and the train/valid/test dates
provider = ensure_synthetic_market(WORK / "cn_synth", market)
init_qlib({**PROVIDER_DEFAULTS, "logging_level": "WARNING"}, provider_uri=provider, reuse=True)
print(provider, "|", market.n_instruments, "stocks,", market.start, "->", market.end)

# %% [markdown]
# ## A tiny Kronos, trained from scratch
# `KronosModel` is a Qlib `Model`: `fit` trains the BSQ tokenizer, then the autoregressive predictor, on windows
# of the `train` segment, with early stopping on `valid`. Each window is normalised over its own lookback only.

# %%
from kronos_quant.qlib_ext.dataset import KronosDataset
from kronos_quant.qlib_ext.model import KronosModel

LOOKBACK, HORIZON = 30, 5
handler = {"class": "KronosHandler", "module_path": "kronos_quant.qlib_ext.handler",
           "kwargs": {"instruments": "csi300", "start_time": market.start, "end_time": market.end}}
dataset = KronosDataset(handler=handler, segments=segments, lookback=LOOKBACK, horizon=HORIZON)
train = dict(lr=3e-3, warmup_steps=5, batch_size=64, epochs=1 if FAST else 3,
             windows_per_epoch=256 if FAST else 4096, valid_windows=128 if FAST else 1024,
             eval_every=4 if FAST else 32, patience=4, seed=7, device="cpu", log_every=8)
model = KronosModel(
    tokenizer=dict(d_in=6, d_model=32, n_heads=4, ff_dim=64, n_enc_layers=2, n_dec_layers=2, s1_bits=6,
                   s2_bits=6, group_size=4),  # a tiny architecture; presets: "tokenizer-base", "small"
    predictor=dict(s1_bits=6, s2_bits=6, n_layers=2, d_model=32, n_heads=4, ff_dim=64),
    mode="scratch", train_config={"tokenizer": train, "predictor": train}, output_dir=str(WORK / "model"),
    forecast=dict(lookback=LOOKBACK, horizon=HORIZON, T=0.6, top_p=0.9, sample_count=8, seed=0),
    runtime=dict(device="cpu", memory_budget_gb=2))
model.fit(dataset)
pd.DataFrame(model.train_summary).T[["steps", "best_val_loss"]]

# %% [markdown]
# ## One stock: sample paths and quantile bands
# `KronosPredictor` is the DataFrame API with the official signatures. `predict_paths` returns every sample path
# in price units; below, 40 paths of the next 20 bars against what really happened.

# %%
from qlib.data import D

from kronos_quant import Kronos, KronosPredictor, KronosTokenizer

predictor = KronosPredictor(Kronos.from_pretrained(model.predictor_path),
                            KronosTokenizer.from_pretrained(model.tokenizer_path), device="cpu", max_context=512)
stock = D.list_instruments(D.instruments("csi300"), start_time=segments["test"][0], end_time=segments["test"][0],
                           as_list=True)[0]
fields = ["$open", "$high", "$low", "$close", "$volume", "$amount"]
bars = D.features([stock], fields, start_time=market.start, end_time=market.end).droplevel("instrument")
bars.columns = ["open", "high", "low", "close", "volume", "amount"]
bars = bars.dropna()
cut = bars.index.searchsorted(pd.Timestamp(segments["test"][0]))
history, future = bars.iloc[cut - 120:cut], bars.iloc[cut:cut + 20]
result = predictor.predict_paths([history], [history.index.to_series()], [future.index.to_series()],
                                 pred_len=len(future), T=1.0, top_p=0.9, sample_count=40, seed=0)
bands = result.quantiles((0.05, 0.25, 0.5, 0.75, 0.95))[0]["close"]
fig, ax = plt.subplots()
ax.plot(history.index[-60:], history["close"].iloc[-60:], color="black", label="history")
ax.plot(future.index, future["close"], color="black", linestyle="--", label="realised")
for lo, hi, alpha in ((0.05, 0.95, 0.2), (0.25, 0.75, 0.35)):
    ax.fill_between(future.index, bands[lo], bands[hi], color="tab:blue", alpha=alpha,
                    label=f"{int(lo * 100)}-{int(hi * 100)}% band")
ax.plot(future.index, bands[0.5], color="tab:blue", label="median path")
ax.set_title(f"{stock}: 40 Kronos sample paths, close")
ax.legend(loc="upper left", fontsize=8)
fig.autofmt_xdate()
plt.show()
inside_90 = float(((future["close"] >= bands[0.05]) & (future["close"] <= bands[0.95])).mean())
print(f"paths {result.paths.shape} (series, paths, bars, fields); realised closes inside the 90% band: "
      f"{inside_90:.0%}")

# %% [markdown]
# ## A cross-section: one score per stock and day, and its IC
# `KronosModel.predict` turns the paths of every member on every day of the test segment into one score (here the
# expected 5-day return). The IC is the daily cross-sectional correlation with Qlib's label
# `Ref($close, -2) / Ref($close, -1) - 1`: the signal known at the close of *t*, traded at *t+1*.

# %%
from kronos_quant.research.ic_analysis import ic_series, ic_stats

score = model.predict(dataset, segment="test")
label = D.features(D.instruments("csi300"), ["Ref($close, -2) / Ref($close, -1) - 1"],
                   start_time=segments["test"][0], end_time=segments["test"][1]).iloc[:, 0]
label = label.swaplevel().sort_index().rename_axis(["datetime", "instrument"])
daily = ic_series(score, label)
first_day = daily.index[0]
stats = ic_stats(daily["RankIC"])
print(f"{first_day:%Y-%m-%d}: {score.loc[first_day].size} stocks, IC {daily.loc[first_day, 'IC']:+.3f}")
print(f"test segment: {len(daily)} days, mean RankIC {stats.mean:+.4f}, ICIR {stats.icir:.3f}, "
      f"HAC t {stats.t_stat:.2f}")
daily["RankIC"].cumsum().plot(title="cumulative daily RankIC, test segment")
plt.show()

# %% [markdown]
# ## The official checkpoints
# With internet, `Kronos.from_pretrained("NeoQuasar/Kronos-small")` reads the Hugging Face cache or downloads.
# Offline, point it at a local folder holding `config.json` + `model.safetensors`. A missing checkpoint is an
# error that says what to do; the toolkit never falls back to random weights.

# %%
try:
    Kronos.from_pretrained("./checkpoints/Kronos-small")  # a local folder: config.json + model.safetensors
    official = "loaded"
except (FileNotFoundError, ValueError) as error:
    official = "absent"
    print(type(error).__name__, "->", error)

# %% [markdown]
# **What this shows.** A tiny model trained for a few minutes on a synthetic market produces sample paths whose
# spread can be read, and a cross-sectional score whose IC can be measured with the same tools as any Qlib signal.
# It does not show that Kronos adds alpha on real data: that is the walk-forward study's question (notebook 2).

# %%
key = {"paths_shape": list(result.paths.shape), "inside_90": inside_90, "n_test_days": int(len(daily)),
       "mean_rank_ic": float(stats.mean), "first_day_ic": float(daily.loc[first_day, "IC"]),
       "official": official, "seconds": round(time.perf_counter() - started, 1)}
print("KEY_OUTPUTS " + json.dumps(key))
