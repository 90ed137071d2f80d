# %% [markdown]
# # 2. The CSI300 walk-forward study: does Kronos add alpha out of sample?
#
# **Question.** On A-shares, out of sample, after costs: does a Kronos signal beat cheap factors, and does it add
# anything beyond what LightGBM on Alpha158 already gives?
#
# The walk-forward study answers this in one call. Qlib's `RollingGen` cuts the span into roll windows; `TrainerR`
# trains every signal on each window's past (early stopping on its validation year) and predicts the next period;
# the out-of-sample predictions are merged and every signal is scored on exactly the same (date, stock) rows.
#
# *Data.* With the real CSI300 provider present (`../shared/data/qlib_cn_csi300`) the full setting runs
# `studies/csi300.yaml` (yearly rolls, 2021-01 → 2024-06). A finished run in its output folder is resumed, so the
# windows are not trained again and only the statistics are recomputed. Without the provider, and in the fast
# setting (`KRONOS_NOTEBOOK_FAST=1`), it runs `studies/synth_short.yaml` on the synthetic market instead.

# %%
import contextlib
import io
import json
import os
import time
import warnings
from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd

FAST = os.environ.get("KRONOS_NOTEBOOK_FAST", "0") == "1"
WORK = Path(os.environ.get("KRONOS_NOTEBOOK_WORKDIR", "outputs/notebooks")) / ("fast" if FAST else "full")
REAL = Path(os.environ.get("KRONOS_SHARED_DIR", "../shared")) / "data" / "qlib_cn_csi300"
USE_REAL = REAL.is_dir() and not FAST
plt.rcParams.update({"figure.dpi": 72, "figure.figsize": (9, 3.4)})
os.environ.setdefault("TQDM_DISABLE", "1")  # no progress bars in the committed outputs
warnings.filterwarnings("ignore")
started = time.perf_counter()
print(f"setting: {'fast' if FAST else 'full'}; data: {'real CSI300' if USE_REAL else 'synthetic market'}")

# %%
from kronos_quant.study.config import load_study_config
from kronos_quant.study.run import run_study

if USE_REAL:
    os.environ["KRONOS_PROVIDER_URI"] = str(REAL.resolve())
    config = load_study_config("studies/csi300.yaml")
else:
    from kronos_quant.data.synth import ensure_synthetic_market
    from kronos_quant.qlib_ext.quickstart import market_and_segments

    market, _ = market_and_segments(fast=True)  # the short study's windows fit the small market
    os.environ["KRONOS_PROVIDER_URI"] = str(ensure_synthetic_market(WORK / "cn_synth", market).resolve())
    os.environ["KRONOS_STUDY_DIR"] = str((WORK / "study_synth_short").resolve())
    config = load_study_config("studies/synth_short.yaml")
print(config.name, "|", config.windows.test_start, "->", config.windows.test_end, "| rolls:",
      config.windows.roll_step, "| signals:", ", ".join(config.signals))
chatter = io.StringIO()  # Qlib's, LightGBM's and MLflow's running commentary; the report keeps what matters
with contextlib.redirect_stdout(chatter), contextlib.redirect_stderr(chatter):
    result = run_study(config)
print(f"study wall time {result.wall_s:.0f} s; {len(result.frame):,} aligned rows; report: "
      f"{Path(config.output_dir) / 'report' / 'study.html'}")

# %% [markdown]
# ## The headline: every signal on the same rows
# IC and RankIC are daily cross-sectional correlations with the label close(t+1) → close(t+2). The t-statistic is
# Newey–West (HAC), so overlapping information does not inflate it. The Top-K columns come from Qlib's own
# backtest with price limits and costs.

# %%
summary = result.summary
summary.T.round(4)  # one column per signal

# %% [markdown]
# ## RankIC by year, and cumulative RankIC
# A signal that works in one regime and fails in the next shows it here. The year table is the one to read before
# any average.

# %%
result.by_year.round(4)

# %%
curves = pd.DataFrame({name: daily["RankIC"].cumsum() for name, daily in result.ics.items()})
curves.plot(title="cumulative daily RankIC, out of sample")
plt.show()

# %% [markdown]
# ## What Kronos adds beyond the baselines
# Date by date, Kronos' score is regressed on LightGBM/Alpha158's prediction and the naive factors; the IC of the
# residual is what Kronos knows that they do not. The horizon table says which forecast step carries the signal.

# %%
from kronos_quant.research.ic_analysis import ic_stats

incremental = ic_stats(result.incremental["RankIC"]) if result.incremental is not None else None
if incremental is not None:
    print(f"incremental RankIC of Kronos: mean {incremental.mean:+.4f}, HAC t {incremental.t_stat:.2f}, "
          f"{incremental.n_days} days")
result.horizons.round(4) if result.horizons is not None else None

# %% [markdown]
# ## Cost sensitivity
# Annualised Top-K excess return at 0, 10, 20 and 40 bp round trip. A signal whose edge disappears at 20 bp is not
# tradeable at A-share costs.

# %%
result.cost_line.round(4) if result.cost_line is not None else None

# %% [markdown]
# **What the numbers support, and what they do not.** Read the headline together with the year table and the HAC
# t-statistics. On the real data, this CPU preset is a *tiny* Kronos trained from scratch on CSI300 alone, not the
# official pretrained weights: a weak Kronos here says little about Kronos-base, and a strong one would need a GPU
# preset to confirm. A signal that loses to 5-day reversal is reported as such (RESULTS.md keeps the full run).
# The synthetic fallback only demonstrates the machinery: its market plants a reversal, so reversal is expected
# to win there.

# %%
rank_ic = {name: float(value) for name, value in summary["RankIC"].items()}
key = {"data": "real" if USE_REAL else "synthetic", "signals": sorted(rank_ic), "rank_ic": rank_ic,
       "n_rows": int(len(result.frame)),
       "incremental_rank_ic": None if incremental is None else float(incremental.mean),
       "n_years": int(len(result.by_year)), "seconds": round(time.perf_counter() - started, 1)}
print("KEY_OUTPUTS " + json.dumps(key))
