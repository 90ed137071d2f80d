"""Point-in-time volatility baselines: historical, EWMA (RiskMetrics), GARCH(1,1) and HAR-RV.

Every forecast made at a row's date t uses the instrument's traded bars <= t only. Inputs are the
per-instrument frames of :func:`kronos_quant.research.volatility.traded_series` (close log return
``ret``, OHLC); outputs are per-bar volatilities (fractions, daily for daily bars) at horizons h, defined as
``sqrt(mean of the forecast variances of bars t+1..t+h)`` to match
:func:`kronos_quant.research.volatility.realised_volatility`.

- ``hist20``/``hist60``: sample std (ddof=1) of the last 20/60 returns, flat over the horizon.
- ``ewma``: RiskMetrics, ``s2_{t+1} = 0.94 s2_t + 0.06 r_t^2`` (pandas ``ewm(adjust=False)``), flat.
- ``garch``: GARCH(1,1) with a constant mean and normal errors from the ``arch`` package, refitted
  every ``refit_every`` bars on the last ``window`` returns <= the refit date; between refits the
  fixed parameters filter the new returns (``arch_model(...).fix(params).forecast``), so a forecast at t
  still uses the returns up to t. Cost: one maximum-likelihood fit per instrument per ``refit_every``
  bars, ~0.1 s each on one busy core (each refit starts from the previous parameters).
- ``har``: HAR-RV (Corsi 2009) direct h-step regression of ``mean(r_{t+1..t+h}^2)`` on the daily,
  weekly (5) and monthly (22) means of a variance proxy (squared returns, Parkinson or Garman-Klass,
  :mod:`kronos_quant.research.volatility`), refitted on the same schedule on rows whose target is
  known at the refit date. Fitted with ``numpy.linalg.lstsq``: thousands of 4-coefficient fits, where a
  statsmodels model object per fit would only add overhead.
"""
from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd

from kronos_quant.research.volatility import (
    HORIZONS,
    check_horizons,
    garman_klass_variance,
    parkinson_variance,
    rows_by_instrument,
)

logger = logging.getLogger(__name__)

PERCENT = 100.0  # arch fits returns in percent (its optimiser is tuned for that scale)
HAR_LAGS = (1, 5, 22)  # daily, weekly, monthly means of the proxy
HAR_PROXIES = ("squared", "parkinson", "garman_klass")


@dataclass(frozen=True)
class BaselineConfig:
    """Which baselines to compute and their schedules."""

    hist_windows: tuple[int, ...] = (20, 60)  # bars
    ewma_lambda: float = 0.94  # RiskMetrics daily decay
    min_history: int = 20  # returns needed before hist/EWMA forecast
    refit_every: int = 20  # bars between GARCH / HAR refits
    window: int = 1000  # bars of history in each GARCH / HAR fit
    garch_min_obs: int = 250  # returns needed before the first GARCH fit
    har_proxy: str = "squared"  # one of HAR_PROXIES
    har_min_obs: int = 100  # regression rows needed before the first HAR fit

    def __post_init__(self) -> None:
        if not 0 < self.ewma_lambda < 1:
            raise ValueError(f"ewma_lambda must be in (0, 1), got {self.ewma_lambda}")
        if self.har_proxy not in HAR_PROXIES:
            raise ValueError(f"har_proxy must be one of {HAR_PROXIES}, got {self.har_proxy!r}")
        for name in ("min_history", "refit_every", "window", "garch_min_obs", "har_min_obs"):
            if int(getattr(self, name)) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if min(self.hist_windows, default=2) < 2:
            raise ValueError(f"hist_windows must be >= 2 bars, got {self.hist_windows}")


class Baselines(NamedTuple):
    """vol: frame on the rows' index with columns (model, horizon); garch_mu: GARCH mean return per bar."""

    vol: pd.DataFrame
    garch_mu: pd.Series


def schedule_blocks(origins: np.ndarray, every: int) -> list[np.ndarray]:
    """Split sorted origin positions into blocks; a new block (refit) starts ``every`` bars after the last."""
    blocks, start = [], 0
    for i in range(1, len(origins) + 1):
        if i == len(origins) or origins[i] - origins[start] >= every:
            blocks.append(origins[start:i])
            start = i
    return blocks


def flat_forecasts(returns: np.ndarray, origins: np.ndarray, config: BaselineConfig) -> dict[str, np.ndarray]:
    """{"hist20": (n,), ..., "ewma": (n,)} per-bar vol at ``origins`` (positions into ``returns``)."""
    series = pd.Series(returns)
    out = {}
    for window in config.hist_windows:
        out[f"hist{window}"] = series.rolling(window, min_periods=window).std(ddof=1).to_numpy()[origins]
    ewma = (series ** 2).ewm(alpha=1.0 - config.ewma_lambda, adjust=False, ignore_na=True).mean()
    enough = series.notna().cumsum().to_numpy() >= config.min_history
    out["ewma"] = np.sqrt(np.where(enough, ewma.to_numpy(), np.nan))[origins]
    return out


def garch_forecasts(returns: np.ndarray, origins: np.ndarray, horizons: Sequence[int],
                    config: BaselineConfig) -> tuple[np.ndarray, np.ndarray]:
    """GARCH(1,1) per-bar vol ``(n, len(horizons))`` and mean return ``(n,)`` at sorted ``origins``."""
    from arch import arch_model

    vol = np.full((len(origins), len(horizons)), np.nan)
    mu = np.full(len(origins), np.nan)
    offset, previous = 0, None
    for block in schedule_blocks(origins, config.refit_every):
        rows = slice(offset, offset + len(block))
        offset += len(block)
        first = int(block[0])
        start = max(first - config.window + 1, 1)
        fit_data = returns[start:first + 1]
        if np.isnan(fit_data).any():  # only returns[0] is NaN; guard anyway
            start += int(np.flatnonzero(np.isnan(fit_data))[-1]) + 1
            fit_data = returns[start:first + 1]
        if len(fit_data) < config.garch_min_obs:
            continue
        model = arch_model(PERCENT * fit_data, mean="Constant", vol="GARCH", p=1, q=1, dist="normal", rescale=False)
        with warnings.catch_warnings():  # arch warns when a warm start is not stationary; it then starts afresh
            warnings.simplefilter("ignore", UserWarning)
            params = model.fit(disp="off", show_warning=False, starting_values=previous).params
        previous = params.to_numpy()  # warm start of the next refit (same optimum, fewer iterations)
        fixed = arch_model(PERCENT * returns[start:int(block[-1]) + 1], mean="Constant", vol="GARCH", p=1, q=1,
                           dist="normal", rescale=False).fix(params)
        forecast = fixed.forecast(horizon=max(horizons), start=first - start, reindex=False)
        variance = forecast.variance.to_numpy()[block - first]  # (len(block), H) in percent^2
        cumulative = np.cumsum(variance, axis=1)
        vol[rows] = np.sqrt(np.stack([cumulative[:, h - 1] / h for h in horizons], axis=1)) / PERCENT
        mu[rows] = float(params["mu"]) / PERCENT
    return vol, mu


def har_proxy(frame: pd.DataFrame, proxy: str) -> np.ndarray:
    """Per-bar variance proxy (T,) of one instrument's traded bars."""
    if proxy == "squared":
        return frame["ret"].to_numpy() ** 2
    if proxy == "parkinson":
        return parkinson_variance(frame["high"], frame["low"])
    return garman_klass_variance(frame["open"], frame["high"], frame["low"], frame["close"])


def har_design(proxy: np.ndarray) -> np.ndarray:
    """(T, 4) rows [1, proxy_t, mean over 5 bars, mean over 22 bars] ending at each t (NaN before enough)."""
    series = pd.Series(proxy)
    columns = [np.ones(len(proxy))]
    columns += [series.rolling(lag, min_periods=lag).mean().to_numpy() for lag in HAR_LAGS]
    return np.stack(columns, axis=1)


def har_forecasts(frame: pd.DataFrame, origins: np.ndarray, horizons: Sequence[int],
                  config: BaselineConfig) -> np.ndarray:
    """HAR-RV per-bar vol ``(n, len(horizons))`` at sorted ``origins``; fits use targets known at the refit."""
    squared = frame["ret"].to_numpy() ** 2
    design = har_design(har_proxy(frame, config.har_proxy))
    out = np.full((len(origins), len(horizons)), np.nan)
    for k, h in enumerate(horizons):
        # target_s = mean(r^2_{s+1..s+h}), known once bar s + h is in
        target = pd.Series(squared).rolling(h, min_periods=h).mean().shift(-h).to_numpy()
        offset = 0
        for block in schedule_blocks(origins, config.refit_every):
            rows = slice(offset, offset + len(block))
            offset += len(block)
            last_row = int(block[0]) - h  # its target ends at the refit date
            first_row = max(last_row - config.window + 1, 0)
            x, y = design[first_row:last_row + 1], target[first_row:last_row + 1]
            ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
            if ok.sum() < config.har_min_obs:
                continue
            beta = np.linalg.lstsq(x[ok], y[ok], rcond=None)[0]
            floor = 1e-3 * float(y[ok].mean())  # a negative fitted variance is floored, not dropped
            out[rows, k] = np.sqrt(np.maximum(design[block] @ beta, floor))
    return out


def instrument_baselines(frame: pd.DataFrame, origins: np.ndarray, horizons: Sequence[int],
                         config: BaselineConfig, *, garch: bool = True) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """{model: (n, len(horizons))} per-bar vol and the GARCH mean (n,) for one instrument's sorted origins."""
    returns = frame["ret"].to_numpy()
    flat = flat_forecasts(returns, origins, config)
    out = {name: np.repeat(values[:, None], len(horizons), axis=1) for name, values in flat.items()}
    mu = np.full(len(origins), np.nan)
    if garch:
        out["garch"], mu = garch_forecasts(returns, origins, horizons, config)
    out["har"] = har_forecasts(frame, origins, horizons, config)
    return out, mu


def baseline_forecasts(series: dict[str, pd.DataFrame], index: pd.MultiIndex, *,
                       horizons: Sequence[int] = HORIZONS, config: BaselineConfig | None = None,
                       garch: bool = True) -> Baselines:
    """All baselines on the rows ``index`` (datetime, instrument); NaN where the instrument did not trade
    on the date or lacks history. ``series``: :func:`kronos_quant.research.volatility.traded_series`."""
    config = config or BaselineConfig()
    horizons = check_horizons(horizons, max(horizons))
    names = [f"hist{w}" for w in config.hist_windows] + ["ewma"] + (["garch"] if garch else []) + ["har"]
    values = {name: np.full((len(index), len(horizons)), np.nan) for name in names}
    mu = np.full(len(index), np.nan)
    for frame, rows, where in rows_by_instrument(series, index):
        traded = where >= 0
        order = np.argsort(where[traded], kind="stable")
        origins, targets = where[traded][order], rows[traded][order]
        if len(origins) == 0:
            continue
        forecasts, garch_mu = instrument_baselines(frame, origins, horizons, config, garch=garch)
        for name, block in forecasts.items():
            values[name][targets] = block
        mu[targets] = garch_mu
    columns = pd.MultiIndex.from_product([names, list(horizons)], names=["model", "horizon"])
    frame = pd.DataFrame(np.concatenate([values[n] for n in names], axis=1), index=index, columns=columns)
    return Baselines(frame, pd.Series(mu, index=index, name="garch_mu"))
