"""One evaluation of Kronos volatility and return-distribution forecasts on a set of rows (no qlib).

Inputs: sample paths ``(N, P, H, 6)`` with ``last_close (N,)`` on rows indexed (datetime, instrument),
the daily bars of the same instruments (for the realised outcome and the point-in-time baselines of
:mod:`kronos_quant.research.vol_baselines`). Outputs: long tables, one row per (horizon, model, ...):

- ``losses``: mean QLIKE and MSE of log vol per model, on the rows every model can score;
- ``dm``: Diebold-Mariano tests of Kronos against each baseline (QLIKE and MSE of log vol);
- ``mz``: Mincer-Zarnowitz regressions (variance and log space), Driscoll-Kraay errors;
- ``calibration``: CRPS, PIT uniformity, interval coverage, Brier score of P(up) for Kronos' horizon
  returns (raw and, when a scale is given, spread-scaled) and for the Gaussian-GARCH yardstick;
- ``pit_counts`` and ``reliability``: the histogram / diagram data behind the report's figures;
- ``points``: forecast and realised volatility per row (for scatter plots).
"""
from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
from scipy import stats

from kronos_quant.research import calibration as cal
from kronos_quant.research.forecast_scoring import LOSSES, common_rows, dm_table, loss_table, mincer_zarnowitz
from kronos_quant.research.signals import CLOSE_INDEX
from kronos_quant.research.vol_baselines import BaselineConfig, Baselines, baseline_forecasts
from kronos_quant.research.volatility import (
    HORIZONS,
    check_horizons,
    horizon_returns,
    horizon_volatility,
    realised_volatility,
    traded_series,
)

logger = logging.getLogger(__name__)

KRONOS = "kronos"


@dataclass(frozen=True)
class VolEvalConfig:
    """What to evaluate."""

    horizons: tuple[int, ...] = HORIZONS  # bars; each <= the paths' H
    levels: tuple[float, ...] = cal.LEVELS  # central interval coverages
    baselines: BaselineConfig = field(default_factory=BaselineConfig)
    garch: bool = True  # GARCH(1,1) baseline and Gaussian yardstick (the slowest part)
    pit_bins: int = 10
    seed: int = 0  # randomised PIT
    date_step: int = 1  # trading days between consecutive scored dates (forecasts every n-th day)

    def __post_init__(self) -> None:
        check_horizons(self.horizons, max(self.horizons))
        if int(self.date_step) < 1:
            raise ValueError(f"date_step must be >= 1 trading day, got {self.date_step}")

    def overlap(self, horizon: int) -> int:
        """Scored dates whose h-bar outcomes overlap: the DM / MZ HAC lags are at least this."""
        return max(1, math.ceil(int(horizon) / int(self.date_step)))


def infer_date_step(dates, calendar) -> int:
    """Median gap, in trading days of ``calendar``, between consecutive distinct ``dates`` (1 if < 2 dates)."""
    positions = np.unique(pd.DatetimeIndex(calendar).get_indexer(pd.DatetimeIndex(pd.unique(dates))))
    positions = positions[positions >= 0]
    return int(max(1, np.median(np.diff(positions)))) if len(positions) > 1 else 1


class KronosForecasts(NamedTuple):
    """Kronos' forecasts on rows ``index``: per-bar vol (N, len(horizons)) and h-bar log returns {h: (N, P)}."""

    index: pd.MultiIndex
    vol: pd.DataFrame
    returns: dict[int, np.ndarray]
    dropped: int = 0  # rows left out because a path's close was <= 0 (no log return)


def kronos_forecasts(paths, last_close, index: pd.MultiIndex, horizons: Sequence[int] = HORIZONS) -> KronosForecasts:
    """Volatility and horizon returns from the paths; a ValueError for a horizon beyond the paths' H.

    Kronos denormalises linearly (mean + z * std of the lookback), so a sampled close can be <= 0. Such a
    row has no log return on that path; it is dropped (counted in ``dropped`` and logged), and every
    model is then scored on the remaining rows only.
    """
    paths, last_close = np.asarray(paths), np.asarray(last_close, dtype=np.float64)
    if len(index) != len(paths):
        raise ValueError(f"index has {len(index)} rows but paths has {len(paths)}")
    usable = (paths[..., CLOSE_INDEX] > 0).all(axis=(1, 2)) & (last_close > 0)
    if not usable.all():
        logger.warning("%d of %d rows have a sampled close <= 0 on some path; they are left out", (~usable).sum(),
                       len(usable))
    paths, last_close, index = paths[usable], last_close[usable], index[usable]
    vol = pd.DataFrame(horizon_volatility(paths, last_close, horizons), index=index, columns=list(horizons))
    returns = {int(h): horizon_returns(paths, last_close, h) for h in horizons}
    return KronosForecasts(index, vol, returns, int((~usable).sum()))


class Outcomes(NamedTuple):
    """Realised vol and h-bar returns (columns ("rv", h), ("ret", h)) and the baselines on the same rows."""

    realised: pd.DataFrame
    baselines: Baselines


def outcomes(bars: pd.DataFrame, index: pd.MultiIndex, config: VolEvalConfig) -> Outcomes:
    """Realised outcomes and point-in-time baselines for rows ``index`` from daily ``bars``."""
    series = traded_series(bars)
    realised = realised_volatility(series, index, config.horizons)
    baselines = baseline_forecasts(series, index, horizons=config.horizons, config=config.baselines,
                                   garch=config.garch)
    return Outcomes(realised, baselines)


def fit_spread_scales(kronos: KronosForecasts, realised: pd.DataFrame) -> dict[int, cal.SpreadScale]:
    """Per horizon, the CRPS-optimal spread scale on these (validation) rows."""
    out = {}
    for h, samples in kronos.returns.items():
        obs = realised[("ret", h)].to_numpy()
        ok = np.isfinite(obs)
        out[h] = cal.fit_spread_scale(samples[ok], obs[ok])
        logger.info("h=%d: spread scale %.3g (validation CRPS %.5g -> %.5g, %d rows)", h, out[h].scale,
                    out[h].crps_before, out[h].crps_after, out[h].n)
    return out


def _summary_row(h: int, forecaster: str, summary: dict) -> dict:
    row = {"horizon": h, "forecaster": forecaster, "crps": summary["crps"], "pit_ks": summary["pit"].ks,
           "pit_ks_p": summary["pit"].ks_p, "pit_chi2_p": summary["pit"].chi2_p, "brier": summary["brier"],
           "n": summary["n"]}
    row.update({f"coverage_{int(round(100 * level))}": value for level, value in summary["coverage"].items()})
    return row


def _calibration(h: int, kronos: KronosForecasts, out: Outcomes, config: VolEvalConfig,
                 scale: float | None) -> tuple[list[dict], list[pd.DataFrame], list[pd.DataFrame]]:
    obs = out.realised[("ret", h)].to_numpy()
    garch_vol = out.baselines.vol[("garch", h)].to_numpy() if config.garch else np.full(len(obs), np.nan)
    ok = np.isfinite(obs) & (np.isfinite(garch_vol) if config.garch else True)
    samples, obs, up = kronos.returns[h][ok], obs[ok], (obs[ok] > 0).astype(float)
    candidates = {KRONOS: samples}
    if scale is not None:
        candidates[f"{KRONOS}_scaled"] = cal.scale_spread(samples, scale)
    rows, pits, reliabilities = [], [], []
    for name, ensemble in candidates.items():
        summary = cal.calibration_summary(ensemble, obs, levels=config.levels, seed=config.seed)
        rows.append(_summary_row(h, name, summary))
        pits.append(_tagged(pd.DataFrame({"count": summary["pit"].counts}), h, name))
        reliabilities.append(_tagged(cal.reliability((ensemble > 0).mean(axis=1), up), h, name))
    if config.garch:
        mu = out.baselines.garch_mu.to_numpy()[ok] * h
        sigma = garch_vol[ok] * np.sqrt(h)
        summary = cal.gaussian_summary(mu, sigma, obs, levels=config.levels)
        rows.append(_summary_row(h, "gaussian_garch", summary))
        pits.append(_tagged(pd.DataFrame({"count": summary["pit"].counts}), h, "gaussian_garch"))
        reliabilities.append(_tagged(cal.reliability(stats.norm.sf(-mu / sigma), up), h, "gaussian_garch"))
    return rows, pits, reliabilities


def _tagged(frame: pd.DataFrame, h: int, name: str) -> pd.DataFrame:
    frame = frame.reset_index().rename(columns={"index": "bin"})
    frame.insert(0, "forecaster", name)
    frame.insert(0, "horizon", h)
    return frame


def _vol_tables(h: int, forecasts: pd.DataFrame, realised: pd.Series, overlap: int) -> tuple[pd.DataFrame, list, list]:
    losses = loss_table(forecasts, realised).reset_index()
    losses.insert(0, "horizon", h)
    dms = []
    for loss in LOSSES:
        table = dm_table(forecasts, realised, reference=KRONOS, horizon=overlap, loss=loss).reset_index()
        table.insert(0, "loss", loss)
        table.insert(0, "horizon", h)
        dms.append(table)
    mask = common_rows(forecasts, realised)
    mz = [dict(horizon=h, model=m, space=space,
               **mincer_zarnowitz(forecasts.loc[mask, m], realised[mask], space=space, lags=overlap)._asdict())
          for m in forecasts.columns for space in ("variance", "log")]
    return losses, dms, mz


def evaluate(kronos: KronosForecasts, out: Outcomes, config: VolEvalConfig, *,
             spread_scales: Mapping[int, float] | None = None) -> dict[str, pd.DataFrame]:
    """All tables (see the module docstring) on ``kronos.index``; ``spread_scales`` {h: s} from validation."""
    losses, dms, mzs, calibration, pits, reliabilities, points = [], [], [], [], [], [], []
    for h in config.horizons:
        if h not in kronos.returns:
            raise ValueError(f"horizon {h} was not forecast; have {sorted(kronos.returns)}")
        forecasts = pd.concat({KRONOS: kronos.vol[h]}, axis=1).join(out.baselines.vol.xs(h, axis=1, level="horizon"))
        realised = out.realised[("rv", h)]
        loss, dm, mz = _vol_tables(h, forecasts, realised, config.overlap(h))
        losses.append(loss), dms.extend(dm), mzs.extend(mz)
        scale = None if spread_scales is None else float(spread_scales[h])
        rows, pit, rel = _calibration(h, kronos, out, config, scale)
        calibration.extend(rows), pits.extend(pit), reliabilities.extend(rel)
        points.append(forecasts.assign(realised=realised, horizon=h).reset_index())
    return {
        "losses": pd.concat(losses, ignore_index=True),
        "dm": pd.concat(dms, ignore_index=True),
        "mz": pd.DataFrame(mzs),
        "calibration": pd.DataFrame(calibration),
        "pit_counts": pd.concat(pits, ignore_index=True),
        "reliability": pd.concat(reliabilities, ignore_index=True),
        "points": pd.concat(points, ignore_index=True),
    }


def headline_metrics(tables: dict[str, pd.DataFrame]) -> dict[str, float]:
    """Flat {name: value} for MLflow: per horizon, Kronos' QLIKE and its DM statistic vs each baseline,
    and calibration numbers per forecaster."""
    metrics = {}
    for row in tables["losses"].itertuples():
        metrics[f"vol_h{row.horizon}_{row.model}_qlike"] = float(row.qlike)
        metrics[f"vol_h{row.horizon}_{row.model}_mse_log_vol"] = float(row.mse_log_vol)
    for row in tables["dm"].itertuples():
        metrics[f"vol_h{row.horizon}_dm_{row.loss}_vs_{row.baseline}"] = float(row.stat)
    for row in tables["calibration"].to_dict("records"):
        for key in ("crps", "pit_ks", "brier", *[k for k in row if k.startswith("coverage_")]):
            metrics[f"cal_h{row['horizon']}_{row['forecaster']}_{key}"] = float(row[key])
    return metrics
