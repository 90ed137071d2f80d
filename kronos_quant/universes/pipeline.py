"""The whole stress test from one config: load history <= t0, calibrate rho, generate, stress, report.

Used by ``kronos-quant stress --config configs/stress_*.yaml``. For each t0:
1. the members' bars over ``history_days`` trading days up to t0 (nothing later);
2. rho: given, or calibrated (``rho: auto``) so that pilot universes match the average pairwise correlation of
   daily returns over the last ``validation_days`` of history; the rho = 0 pilot gives the independent-paths
   numbers shown beside the correlated ones;
3. ``n_universes`` universes of ``horizon`` days, every strategy run in each;
4. the realised future, when the provider has it, loaded only after generation, for the luck percentiles.
"""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from kronos_quant.model import Kronos, KronosTokenizer
from kronos_quant.universes.dependence import (
    DependenceStats,
    calibrate_rho,
    dependence_stats,
    mean_stats,
    order_monotonicity,
)
from kronos_quant.universes.generate import UniverseConfig, Universes, generate_universes
from kronos_quant.universes.history import MarketHistory, future_dates, load_history
from kronos_quant.universes.market import change_panel, equal_weight_returns
from kronos_quant.universes.simulator import ExchangeConfig
from kronos_quant.universes.stress import StrategySpec, StressResult, stress_strategy
from kronos_quant.universes.stress_checks import check_stress_inputs, check_stress_settings
from kronos_quant.universes.stress_report import write_stress_report
from kronos_quant.universes.tiny_model import TinyTraining, split_windows, train_tiny_kronos

logger = logging.getLogger(__name__)

# stated tolerances of the dependence validation (generated vs history over the validation window)
TOLERANCES = {"mean_pairwise_corr": ("abs", 0.07), "ew_index_vol": ("rel", 0.30), "dispersion": ("rel", 0.30)}


@dataclass(frozen=True)
class StressConfig:
    """A stress test (YAML keys = field names)."""

    provider: str
    t0: tuple[str, ...]
    strategies: tuple[StrategySpec, ...]
    universe: str = "csi300"
    benchmark: str | None = "SH000300"
    horizon: int = 60
    n_universes: int = 100
    rho: float | str = "auto"  # a number in [0, 1), or "auto" (calibrated per t0)
    rho_grid: tuple[float, ...] = (0.0, 0.5, 0.9)
    pilot_universes: int = 4
    history_days: int = 600  # trading days loaded up to t0 (model training, signals, validation)
    validation_days: int = 120  # the history window the dependence statistics are matched on
    seed: int = 0
    temperature: float = 1.0
    top_p: float = 0.9
    memory_budget_gb: float = 2.0
    tokenizer: str | None = None  # checkpoint dirs; when absent a tiny Kronos is trained (see ``training``)
    predictor: str | None = None
    training: TinyTraining = field(default_factory=TinyTraining)
    train_once: bool = True  # train one model before the first t0 and use it for every t0
    exchange: ExchangeConfig = field(default_factory=ExchangeConfig)
    out_dir: str = "reports/stress"

    def __post_init__(self) -> None:
        if int(self.n_universes) < 1:
            raise ValueError(f"n_universes must be >= 1, got {self.n_universes}")
        if not self.t0:
            raise ValueError("t0 needs at least one date")
        if not self.strategies:
            raise ValueError("strategies is empty: give at least one {name, signal, kind}")
        if self.rho != "auto" and not 0.0 <= float(self.rho) < 1.0:
            raise ValueError(f"rho must be 'auto' or a number in [0, 1), got {self.rho!r}")
        if (self.tokenizer is None) != (self.predictor is None):
            raise ValueError("give both tokenizer and predictor checkpoints, or neither (then a tiny model is trained)")
        check_stress_settings(self)

    @classmethod
    def from_yaml(cls, path) -> StressConfig:
        """Read and validate a stress YAML; every error names the file (and the key)."""
        path = Path(path)
        if not path.is_file():
            raise ValueError(f"stress config {path} not found; see configs/stress_synth.yaml for an example")
        try:
            raw = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f" line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
            raise ValueError(f"stress config {path}{where}: YAML syntax error "
                             f"({getattr(err, 'problem', None) or err})") from None
        if not isinstance(raw, dict):
            raise ValueError(f"stress config {path} must be a YAML mapping of the StressConfig keys")
        try:
            return cls._from_mapping(raw)
        except (ValueError, TypeError) as err:
            raise ValueError(f"stress config {path}: {err}") from None

    @classmethod
    def _from_mapping(cls, raw: dict) -> StressConfig:
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(raw) - known)
        if unknown:
            raise ValueError(f"unknown keys {unknown}; known: {sorted(known)}")
        raw = dict(raw)
        raw["t0"] = tuple(str(d) for d in np.atleast_1d(raw.get("t0", ())))
        strategies = raw.get("strategies", ())
        if not isinstance(strategies, (list, tuple)) or not all(isinstance(s, dict) for s in strategies):
            raise ValueError("strategies must be a list of mappings {name, signal, kind, topk, n_drop}")
        raw["strategies"] = tuple(_section(StrategySpec, s, f"strategies[{i}]") for i, s in enumerate(strategies))
        raw["rho_grid"] = tuple(raw.get("rho_grid", cls.rho_grid))
        raw["training"] = _section(TinyTraining, raw.get("training") or {}, "training")
        raw["exchange"] = _section(ExchangeConfig, raw.get("exchange") or {}, "exchange")
        return cls(**raw)


def _section(cls, values, where: str):
    """``cls(**values)`` with unknown keys and bad values named by ``where``."""
    if not isinstance(values, dict):
        raise ValueError(f"{where} must be a mapping, got {type(values).__name__}")
    unknown = sorted(set(values) - {f.name for f in fields(cls)})
    if unknown:
        raise ValueError(f"{where}: unknown keys {unknown}; known: {sorted(f.name for f in fields(cls))}")
    try:
        return cls(**values)
    except (ValueError, TypeError) as err:
        raise ValueError(f"{where}: {err}") from None


def _returns(close: np.ndarray) -> np.ndarray:
    return change_panel(np.asarray(close, dtype=np.float64))[..., 1:, :]


def generated_stats(universes: Universes) -> DependenceStats:
    """Mean over universes of the statistics of their generated daily returns; the benchmark is the derived
    equal-weight index (EWINDEX) of the generated members."""
    start = len(universes.history.dates) - 1  # include the first generated day's return
    panels = universes.close_panel().astype(np.float64)[:, start:]
    return mean_stats([dependence_stats(_returns(panel), equal_weight_returns(panel)[1:]) for panel in panels])


def order_spearman(universes: Universes) -> float:
    """Spearman correlation of the coarse sampling uniforms with the generated daily returns they drove."""
    start = len(universes.history.dates) - 1
    returns = _returns(universes.close_panel().astype(np.float64)[:, start:])  # (U, H, I)
    return order_monotonicity(universes.coarse_uniforms, np.transpose(returns, (2, 0, 1)))


def history_stats(history: MarketHistory, days: int) -> DependenceStats:
    bench = None
    if history.benchmark_close is not None:
        bench = np.diff(history.benchmark_close[-days - 1:]) / history.benchmark_close[-days - 1:-1]
    return dependence_stats(_returns(history.close[-days - 1:]), bench)


def dependence_table(history: DependenceStats, correlated: DependenceStats, independent: DependenceStats,
                     rho: float) -> pd.DataFrame:
    """Rows history / correlated / independent, plus a row saying which statistics are within tolerance."""
    frame = pd.DataFrame({"history": vars(history), f"correlated (rho={rho:.2f})": vars(correlated),
                          "independent (rho=0)": vars(independent)}).T
    within = {}
    for name, (kind, tol) in TOLERANCES.items():
        gap = abs(getattr(correlated, name) - getattr(history, name))
        within[name] = f"{'yes' if gap <= (tol if kind == 'abs' else tol * abs(getattr(history, name))) else 'no'}" \
                       f" (tol {'+-' if kind == 'abs' else ''}{tol:g}{'' if kind == 'abs' else ' rel'})"
    frame.loc["correlated within tolerance"] = pd.Series(within)
    return frame


def _load_models(config: StressConfig, history: MarketHistory, out_dir: Path) -> tuple[KronosTokenizer, Kronos, dict]:
    if config.tokenizer is not None:
        tokenizer = KronosTokenizer.from_pretrained(config.tokenizer).eval()
        return tokenizer, Kronos.from_pretrained(config.predictor).eval(), {"model": config.predictor}
    train, valid = split_windows(history, config.training)
    tokenizer, model, summary = train_tiny_kronos(train, valid, out_dir / "model", config.training)
    summary["trained_before"] = f"{history.t0:%Y-%m-%d}"
    return tokenizer, model, summary


def run_t0(config: StressConfig, t0: str, tokenizer: KronosTokenizer, model: Kronos, *, out_dir: Path,
           notes: dict, history: MarketHistory | None = None) -> tuple[list[StressResult], pd.DataFrame]:
    """Everything for one t0; writes out_dir/stress_report.html."""
    started = time.time()
    history = history or load_history(config.provider, universe=config.universe, t0=t0, days=config.history_days,
                                      benchmark=config.benchmark)
    dates = future_dates(config.provider, history.t0, config.horizon)
    base = dict(horizon=config.horizon, lookback=config.training.lookback, temperature=config.temperature,
                top_p=config.top_p, seed=config.seed, memory_budget_gb=config.memory_budget_gb)
    target = history_stats(history, config.validation_days)
    pilots: dict[float, DependenceStats] = {}

    def measure(rho: float) -> float:
        pilot = generate_universes(tokenizer, model, history, dates,
                                   UniverseConfig(n_universes=config.pilot_universes, rho=rho, **base))
        pilots[rho] = generated_stats(pilot)
        return pilots[rho].mean_pairwise_corr

    if config.rho == "auto":
        rho, measured = calibrate_rho(target.mean_pairwise_corr, measure, grid=config.rho_grid)
    else:
        rho, measured = float(config.rho), {0.0: measure(0.0)}
    universes = generate_universes(tokenizer, model, history, dates,
                                   UniverseConfig(n_universes=config.n_universes, rho=rho, **base), progress=True)
    generated_at = time.time()
    table = dependence_table(target, generated_stats(universes), pilots[0.0], rho)
    realised = _realised_history(config, history, dates)
    results = [stress_strategy(universes, spec, exchange=config.exchange, realised_history=realised)
               for spec in config.strategies]
    notes = {**notes, "t0": f"{history.t0:%Y-%m-%d}", "members": len(universes.instruments), "rho": round(rho, 4),
             "rho_pilots": {f"{k:g}": round(v, 4) for k, v in measured.items()}, "horizon": config.horizon,
             "n_universes": config.n_universes, "order_spearman": round(order_spearman(universes), 3),
             "generation_s": round(generated_at - started, 1),
             "total_s": round(time.time() - started, 1), "realised_known": realised is not None}
    write_stress_report(results, out_dir, title=f"Stress test from t0 = {history.t0:%Y-%m-%d}", dependence=table,
                        notes=notes)
    return results, table


def _realised_history(config: StressConfig, history: MarketHistory, dates: pd.DatetimeIndex) -> MarketHistory | None:
    """The members' real bars through the last generated day, if the provider has them (read after generating)."""
    from kronos_quant.data.qlib_bin import read_calendar

    calendar = read_calendar(config.provider)
    if not dates.isin(calendar).all():
        return None
    return load_history(config.provider, universe=config.universe, t0=dates[-1],
                        days=len(history.dates) + len(dates), instruments=list(history.instruments))


def run_stress(config: StressConfig) -> dict[str, list[StressResult]]:
    """Run every t0 of the config; reports land in out_dir/<t0>/. Every t0 is checked before the first trains."""
    check_stress_inputs(config)
    out_root = Path(config.out_dir)
    everything, models = {}, None
    for t0 in config.t0:
        history = load_history(config.provider, universe=config.universe, t0=t0, days=config.history_days,
                               benchmark=config.benchmark)
        if models is None or not config.train_once:
            models = _load_models(config, history, out_root / f"{history.t0:%Y-%m-%d}")
        tokenizer, model, model_notes = models
        results, _ = run_t0(config, t0, tokenizer, model, out_dir=out_root / f"{history.t0:%Y-%m-%d}",
                            notes=model_notes, history=history)
        everything[f"{history.t0:%Y-%m-%d}"] = results
    return everything
