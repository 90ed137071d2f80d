"""Checks of a stress config: its settings when built, its provider files and dates before anything trains.

:func:`check_stress_settings` (called by ``StressConfig.__post_init__``) needs no files: dates, history
length against the tiny model's windows and the signals' look-back, horizons, sampling settings, the
strategies' Top-K and their Qlib expressions (parentheses and the fields a generated universe has).
:func:`check_stress_inputs` (called by ``run_stress`` first) reads the provider: the calendar, the
universe and benchmark files, and every t0's history and members, so that a bad third t0 fails in
seconds, not after the first two t0s have generated their universes. No qlib here.
"""
from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from kronos_quant.io_utils import check_writable_dir
from kronos_quant.universes.market import check_signal
from kronos_quant.universes.qlib_signals import expression_of, is_expression

# fields of a generated universe's provider (kronos_quant.universes.provider), all a Qlib signal can read
UNIVERSE_FIELDS = ("open", "high", "low", "close", "volume", "amount", "change", "factor")
_FIELD = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


def _whole(config, name: str, minimum: int) -> int:
    value = getattr(config, name)
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be a whole number >= {minimum}, got {value!r}")
    return value


def check_expression(signal: str) -> str:
    """The Qlib expression of a ``qlib:`` signal, checked for balanced parentheses and known ``$fields``."""
    expression = expression_of(signal)
    depth = 0
    for char in expression:
        depth += {"(": 1, ")": -1}.get(char, 0)
        if depth < 0:
            break
    if depth != 0:
        raise ValueError(f"signal {signal!r}: unbalanced parentheses in the Qlib expression")
    used = _FIELD.findall(expression)
    if not used:
        raise ValueError(f"signal {signal!r} reads no $field; write e.g. 'qlib:$close/Ref($close, 5)'")
    unknown = sorted(set(used) - set(UNIVERSE_FIELDS))
    if unknown:
        raise ValueError(f"signal {signal!r} reads {['$' + f for f in unknown]}, which generated universes do not "
                         f"have; use {['$' + f for f in UNIVERSE_FIELDS]}")
    return expression


def signal_days(signal: str) -> int:
    """Bars a naive factor looks back (reversal_5 -> 5); 0 for a Qlib expression (Qlib pads with NaN)."""
    return 0 if is_expression(signal) else check_signal(signal)[1]


def check_stress_settings(config) -> None:
    """ValueErrors naming the key for settings that cannot run (see the module docstring)."""
    dates = []
    for position, value in enumerate(config.t0):
        try:
            dates.append(pd.Timestamp(str(value)))
        except (ValueError, TypeError):
            raise ValueError(f"t0[{position}]: {value!r} is not a date; write YYYY-MM-DD") from None
    if len(set(dates)) != len(dates):
        raise ValueError(f"t0 lists a date twice: {list(config.t0)}")
    for name, minimum in (("horizon", 1), ("n_universes", 1), ("pilot_universes", 1), ("history_days", 2),
                          ("validation_days", 2), ("seed", 0)):
        _whole(config, name, minimum)
    if config.validation_days > config.history_days:
        raise ValueError(f"validation_days {config.validation_days} exceeds history_days {config.history_days}; "
                         "lower validation_days or load more history")
    training = config.training
    if config.history_days < training.lookback:
        raise ValueError(f"history_days {config.history_days} < training.lookback {training.lookback}: generation "
                         "needs a full lookback of history at t0")
    if config.tokenizer is None:
        needed = training.valid_days + training.lookback + training.horizon + 2
        if config.history_days < needed:
            raise ValueError(f"history_days {config.history_days} is too short to train the tiny model: it needs "
                             f">= training.valid_days + lookback + horizon + 2 = {needed}; raise history_days or "
                             "shrink the training windows")
    longest = max(signal_days(spec.signal) for spec in config.strategies)
    if longest >= config.history_days:
        raise ValueError(f"a strategy's signal looks back {longest} days but history_days is "
                         f"{config.history_days}; raise history_days")
    names = [spec.name for spec in config.strategies]
    if len(set(names)) != len(names):
        raise ValueError(f"strategy names must be distinct (they name report sections), got {names}")
    if not float(config.temperature) > 0 or not 0 < float(config.top_p) <= 1:
        raise ValueError(f"need temperature > 0 and 0 < top_p <= 1, got {config.temperature}, {config.top_p}")
    if config.rho == "auto":
        grid = tuple(config.rho_grid)
        if not grid or any(not 0.0 <= float(r) < 1.0 for r in grid):
            raise ValueError(f"rho_grid must be a non-empty list of rho values in [0, 1), got {list(grid)}")
    if not float(config.memory_budget_gb) > 0:
        raise ValueError(f"memory_budget_gb must be > 0, got {config.memory_budget_gb}")


def check_stress_inputs(config) -> None:
    """ValueErrors naming the file or t0 when the provider cannot serve the config (module docstring)."""
    from kronos_quant.data.qlib_bin import read_calendar
    from kronos_quant.universes.history import members_at, resolve_t0

    provider = Path(config.provider).expanduser()
    if not (provider / "calendars" / "day.txt").is_file():
        raise ValueError(f"provider {provider} is not a Qlib data dir (no calendars/day.txt); set provider")
    universe_file = provider / "instruments" / f"{config.universe.lower()}.txt"
    if not universe_file.is_file():
        known = sorted(p.stem for p in (provider / "instruments").glob("*.txt"))
        raise ValueError(f"universe {config.universe!r}: {universe_file} does not exist; set universe to one of "
                         f"{known}")
    if config.benchmark is not None:
        benchmark_file = provider / "features" / config.benchmark.lower() / "close.day.bin"
        if not benchmark_file.is_file():
            raise ValueError(f"benchmark {config.benchmark!r}: {benchmark_file} does not exist; set benchmark to an "
                             "instrument of the provider, or null")
    calendar = read_calendar(provider)
    for position, t0 in enumerate(config.t0):
        try:
            day = resolve_t0(calendar, t0, int(config.history_days))
        except ValueError as err:
            raise ValueError(f"t0[{position}] {t0}: {err}") from None
        members = members_at(provider, config.universe, day)
        if not members:
            raise ValueError(f"t0[{position}] {t0}: {universe_file} lists no member on {day:%Y-%m-%d}")
        for spec in config.strategies:
            if spec.topk >= len(members):
                raise ValueError(f"strategy {spec.name!r}: topk {spec.topk} >= the {len(members)} members on "
                                 f"{day:%Y-%m-%d}, so it would hold the whole universe; lower topk")
    check_writable_dir(config.out_dir, setting="out_dir", fix="set out_dir (or --out-dir)")
