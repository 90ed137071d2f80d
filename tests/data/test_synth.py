"""The synthetic market: determinism, Qlib round trip and stylised facts, on the tiny config."""
from __future__ import annotations

import hashlib
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from kronos_quant.data import qlib_bin
from kronos_quant.data.synth import BENCHMARK, SynthConfig, generate_market, reversal_signal, write_synthetic_market


def _digest(provider) -> str:
    digest = hashlib.sha256()
    for path in sorted(provider.rglob("*")):
        if path.is_file() and path.name != "synth_config.json":
            digest.update(str(path.relative_to(provider)).encode() + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def market(tiny_market_config):
    return generate_market(tiny_market_config)


@pytest.fixture(scope="module")
def stocks(market):
    return [c for c in market.fields["close"].columns if c != BENCHMARK]


def test_same_seed_same_bytes_other_seed_differs(tiny_market, tiny_market_config, tmp_path):
    again = write_synthetic_market(tmp_path / "again", tiny_market_config)
    other = write_synthetic_market(tmp_path / "other", replace(tiny_market_config, seed=8))
    assert _digest(again) == _digest(tiny_market)
    assert _digest(other) != _digest(tiny_market)


def test_layout(tiny_market):
    assert (tiny_market / "calendars" / "day_future.txt").exists()
    future = qlib_bin.read_calendar(tiny_market, future=True)
    calendar = qlib_bin.read_calendar(tiny_market)
    assert len(future) > len(calendar) and future[: len(calendar)].equals(calendar)
    assert all(p.name == p.name.lower() for p in (tiny_market / "features").iterdir())
    industries = pd.read_csv(tiny_market / "meta" / "industries.csv")
    assert list(industries.columns) == ["instrument", "industry_code", "industry_name"]
    assert (tiny_market / "features" / BENCHMARK.lower() / "close.day.bin").exists()


def test_calendar_has_holidays(market):
    weekdays = pd.bdate_range(market.calendar[0], market.calendar[-1])
    assert len(weekdays) - len(market.calendar) >= 2 * 12  # >= ~12 holiday weekdays per year
    assert (market.calendar.weekday < 5).all()


def test_membership_spans(market):
    spans = market.universes["csi300"]
    per_day = pd.Series(0, index=market.calendar)
    for row in spans.itertuples():
        per_day[row.start:row.end] += 1
    assert per_day.max() <= 25 and per_day.median() >= 24
    assert spans.groupby("instrument").size().max() >= 2  # left and rejoined
    listing = market.universes["all"].set_index("instrument")
    assert (listing["start"] > market.calendar[0]).any()  # late listers
    assert (listing["end"] < market.calendar[-1]).any()  # delisted
    assert listing.loc[BENCHMARK, "start"] == market.calendar[0]


def test_ohlc_consistent_and_change_is_fraction(market, stocks):
    f = {k: v[stocks] for k, v in market.fields.items()}
    ok = f["close"].notna()
    assert ((f["low"] <= np.minimum(f["open"], f["close"]) + 1e-9) | ~ok).all().all()
    assert ((f["high"] >= np.maximum(f["open"], f["close"]) - 1e-9) | ~ok).all().all()
    change_from_close = f["close"] / f["close"].ffill().shift(1) - 1
    both = change_from_close.notna() & f["change"].notna()
    np.testing.assert_allclose(f["change"][both].stack(), change_from_close[both].stack(), atol=1e-9)
    assert f["change"].abs().stack().median() < 0.05


def test_suspensions_are_nan_in_every_field(market, stocks):
    close = market.fields["close"][stocks]
    listing = market.universes["all"].set_index("instrument")
    holes = 0
    for code in stocks:
        inside = close.loc[listing.loc[code, "start"]:listing.loc[code, "end"], code]
        missing = inside.isna()
        holes += int(missing.sum())
        for name in ("open", "volume", "amount", "factor", "change", "vwap"):
            column = market.fields[name].loc[inside.index, code]
            assert column.isna().equals(missing), name
    assert holes > 0


def test_limits_bind_and_are_never_exceeded(market, stocks):
    close = market.fields["close"][stocks].astype(np.float32)  # as stored on disk
    ret = (close / close.ffill().shift(1) - 1).stack().to_numpy()  # adjusted = vs ex-dividend reference
    assert np.abs(ret).max() <= 0.1 + 1e-5
    assert (ret >= 0.1 - 1e-5).sum() > 0 and (ret <= -0.1 + 1e-5).sum() > 0
    f = market.fields
    one_price = (f["open"] == f["high"]) & (f["high"] == f["low"]) & (f["low"] == f["close"])
    assert one_price[stocks].to_numpy().sum() > 0


def test_ex_dividend_factor_jumps(market, stocks):
    factor = market.fields["factor"][stocks].ffill()
    jumps = factor / factor.shift(1)
    assert ((jumps > 1.004) & (jumps < 1.04)).to_numpy().sum() > 10
    raw = market.fields["close"][stocks] / market.fields["factor"][stocks]
    ex_day = (jumps > 1.004).to_numpy() & raw.notna().to_numpy()
    raw_ret = (raw / raw.ffill().shift(1) - 1).to_numpy()[ex_day]
    adj_ret = market.fields["change"][stocks].to_numpy()[ex_day]
    assert (raw_ret < adj_ret - 0.003).all()  # raw price drops by the dividend


def test_stylised_facts(market, stocks):
    change = market.fields["change"][stocks]
    returns = change.stack().to_numpy()
    assert pd.Series(returns).kurt() > 1.0
    abs_acf = np.nanmean([change[c].abs().dropna().autocorr(1) for c in stocks])
    raw_acf = np.nanmean([change[c].dropna().autocorr(1) for c in stocks])
    assert abs_acf > 0.05 and abs_acf > abs(raw_acf) + 0.04
    volume = market.fields["volume"][stocks] * market.fields["factor"][stocks]
    corr = [pd.concat([np.log(volume[c]), change[c].abs()], axis=1).dropna().corr().iloc[0, 1] for c in stocks]
    assert np.nanmean(corr) > 0.1


def test_planted_reversal_rank_ic(market, stocks):
    close = market.fields["close"][stocks]
    label = close.shift(-2) / close.shift(-1) - 1  # Qlib's Ref($close,-2)/Ref($close,-1)-1
    signal = reversal_signal(close)
    rank_ic = signal.rank(axis=1).corrwith(label.rank(axis=1), axis=1).dropna()
    assert 0.02 <= rank_ic.mean() <= 0.10


def test_config_validation():
    with pytest.raises(ValueError, match="universe_size"):
        SynthConfig(n_instruments=10, universe_size=10)
    with pytest.raises(ValueError, match="n_industries"):
        SynthConfig(n_industries=99)
