"""The embedded synthetic A-share market, written in Qlib's binary format.

Offline, deterministic for a seed, and a few seconds for the default size. It imitates what each
pipeline stage meets in real CN data:

* Calendar: weekdays minus China-like holidays (New Year, a Spring-Festival week, 1-3 May, 1-7
  October); ``day_future.txt`` adds ``n_future_days`` trading days after the end.
* Listings: some stocks IPO mid-sample, some delist (their data ends). Suspensions are runs of
  NaN bars in every price/volume field.
* ``csi300``: the ``universe_size`` largest seasoned stocks by (noisy) average market cap,
  re-selected every June and December; names near the cut leave and rejoin (several spans).
  ``all``: every stock's listing span plus the benchmark ``SH000300`` (also in ``index.txt``),
  a cap-weighted index of the current members (factor 1).
* Dynamics: returns = beta x market + industry factor + size and value styles + idiosyncratic,
  with log-AR(1) stochastic volatility (clustering) and Student-t(4) shocks (fat tails); volume
  rises with |return| / volatility. Daily limits: close, open, high and low stay within ±10% of
  the previous (ex-dividend) close, and big overshoots give one-price bars (O=H=L=C at the limit).
  Ex-dividend days: raw prices drop by the dividend, ``factor`` steps up, adjusted prices stay
  continuous.
* **Planted, modest predictability** (the only alpha in the market): every stock's return on day
  s carries a drift ``-reversal x (sum of its idiosyncratic returns over days s-6 .. s-2)``, a
  short-term reversal realised with a one-day delay (default ``reversal`` 0.03). The simple signal
  ``signal_t = -(5-day return up to t, demeaned across stocks)`` (``reversal_signal``) has a mean
  daily RankIC of about 0.03-0.08 against Qlib's label ``Ref($close,-2)/Ref($close,-1)-1``.

Fields follow Qlib: open/high/low/close/vwap adjusted (raw x factor), volume = raw shares / factor,
amount = raw vwap x raw shares (currency), change = close / previous close - 1 as a fraction.
Exposures are features too: ``$industry`` (integer code as float), ``$shares`` (shares outstanding)
and ``$mktcap`` (raw close x shares); ``meta/industries.csv`` names the industries.
"""
from __future__ import annotations

import json
import logging
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from kronos_quant.data import qlib_bin
from kronos_quant.data.synth_calendar import (
    index_membership,
    listing_days,
    mask_to_spans,
    suspension_mask,
    trading_calendar,
)
from kronos_quant.data.synth_prices import ReturnParams, build_bars, build_volume, dividend_factor, simulate_returns

logger = logging.getLogger(__name__)

BENCHMARK = "SH000300"
UNIVERSE = "csi300"
DEFAULT_DIR = Path("qlib_data") / "cn_synth"
INDUSTRY_NAMES = (
    "Banks", "Non-bank Financials", "Real Estate", "Construction", "Building Materials", "Steel",
    "Nonferrous Metals", "Mining", "Chemicals", "Utilities", "Transportation", "Automobiles",
    "Household Appliances", "Food & Beverage", "Textiles", "Light Manufacturing", "Pharmaceuticals",
    "Retail", "Leisure Services", "Agriculture", "Electrical Equipment", "Machinery", "Defense",
    "Electronics", "Computers", "Media", "Telecom", "Conglomerates",
)
PRICE_FIELDS = ("open", "high", "low", "close", "vwap")


@dataclass(frozen=True)
class SynthConfig:
    """What to generate. Sizes are in instruments and trading days; rates per stock-year."""

    seed: int = 42
    n_instruments: int = 400  # stocks; the index holds universe_size of them
    universe_size: int = 300
    start: str = "2015-01-05"
    end: str = "2023-12-29"
    n_industries: int = 24  # at most len(INDUSTRY_NAMES)
    n_future_days: int = 30  # extra trading days in calendars/day_future.txt
    late_listing_fraction: float = 0.15  # stocks that IPO mid-sample
    delisting_fraction: float = 0.06  # stocks whose data ends early
    suspension_runs_per_year: float = 0.6
    suspension_mean_length: float = 4.0  # trading days
    membership_noise: float = 0.3  # lognormal noise of the index ranking score
    returns: ReturnParams = field(default_factory=ReturnParams)

    def __post_init__(self) -> None:
        if self.n_instruments < 5:
            raise ValueError(f"n_instruments must be >= 5, got {self.n_instruments}")
        if not 0 < self.universe_size < self.n_instruments:
            raise ValueError(f"universe_size must be in (0, n_instruments={self.n_instruments}), "
                             f"got {self.universe_size}")
        if not 1 <= self.n_industries <= len(INDUSTRY_NAMES):
            raise ValueError(f"n_industries must be in [1, {len(INDUSTRY_NAMES)}], got {self.n_industries}")
        if pd.Timestamp(self.end) - pd.Timestamp(self.start) < pd.Timedelta(days=120):
            raise ValueError(f"need at least ~4 months between start ({self.start}) and end ({self.end})")


@dataclass(frozen=True)
class SynthMarket:
    """A generated market held in memory.

    fields: Qlib field name -> DataFrame (D days, N stocks + benchmark), NaN where not traded.
    universes: universe name -> spans (instrument, start, end).
    industries: one row per stock (instrument, industry_code, industry_name).
    """

    calendar: pd.DatetimeIndex
    future_calendar: pd.DatetimeIndex
    fields: dict
    universes: dict
    industries: pd.DataFrame


def instrument_codes(n_instruments: int) -> list[str]:
    """Deterministic A-share-like codes, alternating Shanghai (SH60xxxx) and Shenzhen (SZ00xxxx)."""
    return [f"SH{600000 + 3 * (i // 2):06d}" if i % 2 == 0 else f"SZ{1 + 3 * (i // 2):06d}"
            for i in range(n_instruments)]


def reversal_signal(close: pd.DataFrame, window: int = 5) -> pd.DataFrame:
    """The planted effect's simple signal: -(``window``-day return), demeaned across stocks per day.

    Args:
        close: (D, N) adjusted closes. Returns (D, N); NaN where the return is unknown.
    """
    past = close.ffill().pct_change(window, fill_method=None)
    return -past.sub(past.mean(axis=1), axis=0)


def _static_exposures(rng: np.random.Generator, config: SynthConfig) -> dict[str, np.ndarray]:
    """Industry codes, shares outstanding, first raw close and size exposure of each stock."""
    n = config.n_instruments
    industry = rng.integers(0, config.n_industries, size=n)
    first_close = np.exp(rng.normal(np.log(12.0), 0.7, size=n))
    first_cap = np.exp(rng.normal(np.log(2e10), 1.0, size=n))
    shares = np.round(first_cap / first_close, -4)
    log_cap = np.log(shares * first_close)
    size_exposure = -(log_cap - log_cap.mean()) / log_cap.std()
    return {"industry": industry, "shares": shares, "first_close": first_close, "size": size_exposure}


def _stock_fields(rng: np.random.Generator, config: SynthConfig, calendar: pd.DatetimeIndex,
                  static: dict, traded: np.ndarray) -> dict[str, np.ndarray]:
    """All stock fields as (D, N) arrays, NaN where not traded."""
    params = config.returns
    simulated = simulate_returns(rng, static["industry"], static["size"], ~traded, params)
    bars = build_bars(rng, simulated["ret"], simulated["unclipped"], simulated["sigma"],
                      static["first_close"], params)
    factor = dividend_factor(rng, calendar.month.to_numpy(), config.n_instruments)
    shares = np.broadcast_to(static["shares"], traded.shape)
    raw_volume = build_volume(rng, simulated["ret"], simulated["sigma"], shares, bars["one_price"], params)
    raw_close = bars["close"] / factor
    raw_vwap = (bars["open"] + bars["high"] + bars["low"] + 2.0 * bars["close"]) / 5.0 / factor
    out = {name: bars[name] for name in ("open", "high", "low", "close")}
    out.update(vwap=raw_vwap * factor, volume=raw_volume / factor, amount=raw_vwap * raw_volume,
               factor=factor, change=simulated["ret"], industry=np.broadcast_to(static["industry"], traded.shape),
               shares=shares, mktcap=raw_close * shares)
    return {name: np.where(traded, values, np.nan) for name, values in out.items()}


def _benchmark(fields: dict[str, np.ndarray], member: np.ndarray, first_level: float = 1000.0) -> dict:
    """Cap-weighted index of the current members: dict field -> (D,) array."""
    cap = np.nan_to_num(fields["mktcap"])
    prev_cap = np.vstack([cap[:1], cap[:-1]])
    weight = np.where(member, prev_cap, 0.0)
    weight = weight / np.maximum(weight.sum(axis=1, keepdims=True), 1e-12)
    ret = (weight * np.nan_to_num(fields["change"])).sum(axis=1)
    prev_close = np.nan_to_num(fields["close"] / (1.0 + fields["change"]))
    open_ret = (weight * np.nan_to_num(fields["open"] / np.where(prev_close > 0, prev_close, np.nan) - 1)).sum(axis=1)
    close = first_level * np.cumprod(1.0 + ret)
    prev_level = np.r_[first_level, close[:-1]]
    open_ = prev_level * (1.0 + open_ret)
    spread = 0.3 * np.abs(ret) + 0.002
    volume = np.where(member, np.nan_to_num(fields["volume"] * fields["factor"]), 0.0).sum(axis=1)
    amount = np.where(member, np.nan_to_num(fields["amount"]), 0.0).sum(axis=1)
    return {"open": open_, "high": np.maximum(open_, close) * (1 + spread),
            "low": np.minimum(open_, close) * (1 - spread), "close": close, "vwap": (open_ + close) / 2,
            "volume": volume, "amount": amount, "factor": np.ones_like(close), "change": ret}


def generate_market(config: SynthConfig = SynthConfig()) -> SynthMarket:
    """Generate the market in memory (deterministic for ``config.seed``)."""
    rng = np.random.default_rng(config.seed)
    calendar, future_calendar = trading_calendar(config.start, config.end, config.n_future_days)
    n_days, n = len(calendar), config.n_instruments
    codes = instrument_codes(n)
    static = _static_exposures(rng, config)
    list_index, delist_index = listing_days(rng, n_days, n, config.late_listing_fraction,
                                            config.delisting_fraction)
    day = np.arange(n_days)[:, None]
    listed = (day >= list_index) & (day < delist_index)
    suspended = suspension_mask(rng, n_days, n, config.suspension_runs_per_year, config.suspension_mean_length)
    suspended &= (day != list_index) & (day != delist_index - 1)  # first and last listed day trade
    traded = listed & ~suspended
    arrays = _stock_fields(rng, config, calendar, static, traded)
    member = index_membership(rng, arrays["mktcap"], list_index, delist_index, calendar,
                              config.universe_size, config.membership_noise)
    benchmark = _benchmark(arrays, member)
    fields = {}
    for name, values in arrays.items():
        frame = pd.DataFrame(values, index=calendar, columns=codes)
        frame[BENCHMARK] = benchmark.get(name, np.nan)
        fields[name] = frame
    listing = mask_to_spans(listed, calendar, codes)
    bench_span = pd.DataFrame({"instrument": [BENCHMARK], "start": [calendar[0]], "end": [calendar[-1]]})
    universes = {"all": pd.concat([listing, bench_span], ignore_index=True),
                 UNIVERSE: mask_to_spans(member, calendar, codes), "index": bench_span}
    industries = pd.DataFrame({"instrument": codes, "industry_code": static["industry"],
                               "industry_name": [INDUSTRY_NAMES[c] for c in static["industry"]]})
    return SynthMarket(calendar, future_calendar, fields, universes, industries)


def write_synthetic_market(out_dir: str | Path = DEFAULT_DIR, config: SynthConfig = SynthConfig()) -> Path:
    """Generate and write a Qlib provider directory at ``out_dir`` (replaced if it exists)."""
    out_dir = Path(out_dir)
    market = generate_market(config)
    staging = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    qlib_bin.write_provider(staging, market.calendar, market.fields, market.universes,
                            future_calendar=market.future_calendar)
    (staging / "meta").mkdir(parents=True, exist_ok=True)
    market.industries.to_csv(staging / "meta" / "industries.csv", index=False)
    (staging / "meta" / "synth_config.json").write_text(json.dumps(asdict(config), indent=2))
    shutil.rmtree(out_dir, ignore_errors=True)
    staging.rename(out_dir)
    logger.info("synthetic market (seed %d, %d stocks, %d days) written to %s",
                config.seed, config.n_instruments, len(market.calendar), out_dir)
    return out_dir


def ensure_synthetic_market(out_dir: str | Path = DEFAULT_DIR, config: SynthConfig = SynthConfig()) -> Path:
    """Return ``out_dir``, generating the market first if it is missing (relative paths: from the CWD)."""
    out_dir = Path(out_dir)
    if (out_dir / "meta" / "synth_config.json").exists():
        logger.info("using existing synthetic market at %s", out_dir)
        return out_dir
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    return write_synthetic_market(out_dir, config)
