"""Synthetic market, part 2: return dynamics and daily bars (vectorised numpy).

Returns follow a factor model with stochastic (log-AR(1)) volatility and Student-t shocks; the
planted reversal and the price limits are applied here. Bars are built from the clipped returns.
All arrays are (D days, N instruments); prices are *adjusted* unless named ``raw_``.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

TRADING_DAYS = 244


@dataclass(frozen=True)
class ReturnParams:
    """Knobs of the return process (daily units)."""

    market_drift: float = 0.0005  # daily mean market return (offsets the volatility drag)
    market_vol: float = 0.013  # market factor volatility
    industry_vol: float = 0.008  # each industry factor's volatility
    style_vol: float = 0.004  # size and value factor volatility
    idio_vol_range: tuple[float, float] = (0.010, 0.024)  # per-stock idiosyncratic vol
    vol_persistence: float = 0.97  # AR(1) coefficient of log-volatility (clustering)
    vol_of_vol: float = 0.09  # innovation std of log-volatility
    t_dof: float = 4.0  # Student-t degrees of freedom of the shocks (fat tails)
    reversal: float = 0.03  # planted: drift = -reversal * (5-day idio return ending 2 days earlier)
    limit: float = 0.10  # daily price limit, fraction of the previous (ex-dividend) close


def _stochastic_vol(rng: np.random.Generator, shape: tuple[int, int], params: ReturnParams) -> np.ndarray:
    """Multiplier exp(h) with h an AR(1) along axis 0, normalised to mean 1. Shape ``shape``."""
    eta = params.vol_of_vol * rng.standard_normal(shape)
    log_vol = lfilter([1.0], [1.0, -params.vol_persistence], eta, axis=0)
    multiplier = np.exp(log_vol)
    return multiplier / multiplier.mean()


def _t_shocks(rng: np.random.Generator, shape: tuple[int, int], dof: float) -> np.ndarray:
    """Student-t shocks rescaled to unit variance."""
    return rng.standard_t(dof, size=shape) / np.sqrt(dof / (dof - 2.0))


def _rolling_sum(values: np.ndarray, window: int) -> np.ndarray:
    """Sum over the last ``window`` rows (inclusive) along axis 0; shorter at the start."""
    cumulative = np.cumsum(values, axis=0)
    shifted = np.zeros_like(cumulative)
    shifted[window:] = cumulative[:-window]
    return cumulative - shifted


def simulate_returns(rng: np.random.Generator, industry: np.ndarray, size_exposure: np.ndarray,
                     suspended: np.ndarray, params: ReturnParams) -> dict[str, np.ndarray]:
    """Daily close-to-close returns (D, N), limit-clipped, zero on suspended days.

    Args:
        industry: int (N,) industry code of each stock.
        size_exposure: (N,) standardised -log(market cap): small caps load positively.
        suspended: bool (D, N).

    Returns:
        dict with ``ret`` (clipped simple return), ``unclipped``, ``sigma`` (D, N) conditional
        volatility and ``idio`` (idiosyncratic shocks, the reversal's input).
    """
    n_days, n_stocks = suspended.shape
    n_industries = int(industry.max()) + 1
    common_vol = _stochastic_vol(rng, (n_days, 1), params)
    market = params.market_drift + params.market_vol * common_vol * _t_shocks(rng, (n_days, 1), params.t_dof)
    industry_returns = params.industry_vol * _stochastic_vol(rng, (n_days, n_industries), params) \
        * _t_shocks(rng, (n_days, n_industries), params.t_dof)
    styles = params.style_vol * common_vol * rng.standard_normal((n_days, 2))
    beta = rng.uniform(0.7, 1.3, size=n_stocks)
    industry_loading = rng.uniform(0.6, 1.2, size=n_stocks)
    value_exposure = rng.standard_normal(n_stocks)
    idio_vol = rng.uniform(*params.idio_vol_range, size=n_stocks) * np.exp(0.15 * size_exposure)
    sigma_idio = idio_vol * _stochastic_vol(rng, (n_days, n_stocks), params) * np.sqrt(common_vol)
    idio = np.where(suspended, 0.0, sigma_idio * _t_shocks(rng, (n_days, n_stocks), params.t_dof))
    # planted effect: reversal of the 5-day idiosyncratic return, realised with a one-day delay
    five_day = _rolling_sum(idio, 5)
    drift = np.zeros_like(idio)
    drift[2:] = -params.reversal * five_day[:-2]
    unclipped = (beta * market + industry_loading * industry_returns[:, industry]
                 + size_exposure * styles[:, :1] + value_exposure * styles[:, 1:] + idio + drift)
    unclipped = np.where(suspended, 0.0, unclipped)
    ret = np.clip(unclipped, -params.limit, params.limit)
    sigma = np.sqrt((beta * params.market_vol * common_vol) ** 2 + sigma_idio ** 2
                    + (industry_loading * params.industry_vol) ** 2)
    return {"ret": ret, "unclipped": unclipped, "sigma": sigma, "idio": idio}


def dividend_factor(rng: np.random.Generator, month: np.ndarray, n_stocks: int,
                    pay_probability: float = 0.6) -> np.ndarray:
    """Cumulative adjustment factor (D, N): steps up on ex-dividend days, starts at 1.

    Each stock may go ex-dividend once a year on a random trading day in June or July with a
    yield of 0.5%-3%; the factor divides by (1 - yield) so adjusted prices stay continuous while
    raw prices drop by the dividend.
    """
    n_days = month.shape[0]
    summer = np.flatnonzero((month == 6) | (month == 7))
    jump = np.zeros((n_days, n_stocks))
    if summer.size:
        years = np.cumsum(np.r_[1, np.diff(summer) > 1])  # blocks of consecutive summer days
        for block in np.unique(years):
            days = summer[years == block]
            ex_day = rng.choice(days, size=n_stocks)
            pays = rng.random(n_stocks) < pay_probability
            dividend_yield = rng.uniform(0.005, 0.03, size=n_stocks)
            jump[ex_day[pays], np.flatnonzero(pays)] = -np.log1p(-dividend_yield[pays])
    return np.exp(np.cumsum(jump, axis=0))


def build_bars(rng: np.random.Generator, ret: np.ndarray, unclipped: np.ndarray, sigma: np.ndarray,
               first_close: np.ndarray, params: ReturnParams) -> dict[str, np.ndarray]:
    """Adjusted open/high/low/close (D, N) from returns, respecting the daily limits.

    On limit days whose unclipped move overshoots the limit by > 3 points the bar is a
    "one-price" bar: open = high = low = close at the limit.
    """
    close = first_close * np.cumprod(1.0 + ret, axis=0)
    prev_close = np.vstack([np.broadcast_to(first_close, ret[:1].shape), close[:-1]])  # close[0] = first * (1 + ret[0])
    lo, hi = prev_close * (1 - params.limit), prev_close * (1 + params.limit)
    gap = 0.35 * ret + 0.4 * sigma * rng.standard_normal(ret.shape)
    open_ = np.clip(prev_close * (1.0 + gap), lo, hi)
    wick = 0.5 * sigma * np.abs(rng.standard_normal((2,) + ret.shape))
    top, bottom = np.maximum(open_, close), np.minimum(open_, close)
    high = np.maximum(np.minimum(top * (1.0 + wick[0]), hi), top)  # outer max: float round-off at the limit
    low = np.minimum(np.maximum(bottom * (1.0 - wick[1]), lo), bottom)
    one_price = np.abs(unclipped) > params.limit + 0.03
    for array in (open_, high, low):
        array[one_price] = close[one_price]
    return {"open": open_, "high": high, "low": low, "close": close, "one_price": one_price}


def build_volume(rng: np.random.Generator, ret: np.ndarray, sigma: np.ndarray, shares: np.ndarray,
                 one_price: np.ndarray, params: ReturnParams) -> np.ndarray:
    """Raw traded shares (D, N): base turnover x exp(0.6 |ret| / sigma) x persistent noise.

    One-price limit bars trade little (x 0.15): nobody sells at limit-up.
    """
    n_days, n_stocks = ret.shape
    base_turnover = np.exp(rng.normal(np.log(0.01), 0.5, size=n_stocks))
    noise = lfilter([1.0], [1.0, -0.8], 0.2 * rng.standard_normal((n_days, n_stocks)), axis=0)
    turnover = base_turnover * np.exp(0.6 * np.minimum(np.abs(ret) / sigma, 5.0) + noise)
    turnover = np.where(one_price, 0.15 * turnover, turnover)
    return np.round(np.minimum(turnover, 0.5) * shares)
