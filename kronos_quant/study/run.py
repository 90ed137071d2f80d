"""Run a whole walk-forward study: signals -> aligned rows -> statistics -> backtests -> report.

``run_study(config)`` initialises Qlib on the study's provider (MLflow tracking in a sqlite store under
``output_dir``), builds every signal of ``config.signals`` (rolled ones through
:mod:`kronos_quant.study.rolling`, resumable), scores them on the same rows and writes the report.
"""
from __future__ import annotations

import logging
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from kronos_quant.study import compare
from kronos_quant.study.config import StudyConfig
from kronos_quant.study.registry import get_signal

logger = logging.getLogger(__name__)

KRONOS = "kronos"


@dataclass
class StudyResult:
    """Everything the report shows (frames indexed as documented in :mod:`kronos_quant.study.compare`)."""

    config: StudyConfig
    frame: pd.DataFrame  # aligned rows: signals + label
    ics: dict  # name -> daily IC/RankIC
    summary: pd.DataFrame  # rows = signals
    by_year: pd.DataFrame
    by_half: pd.DataFrame
    horizons: pd.DataFrame | None  # Kronos IC by forecast horizon
    incremental: pd.DataFrame | None  # daily IC of Kronos' residual
    cost_line: pd.DataFrame | None
    windows: dict = field(default_factory=dict)  # signal -> windows trained by this run
    overlap_periods: tuple = ()  # periods whose test days fall inside the official pretraining range
    wall_s: float = 0.0
    incremental_rank: pd.DataFrame | None = None  # daily IC of Kronos' residual, regressed on daily ranks
    regimes: pd.DataFrame | None = None  # rows (regime, state, signal): days, IC, RankIC, Top-K excess
    regime_definitions: dict = field(default_factory=dict)  # regime kind -> its definition
    model_sizes: dict = field(default_factory=dict)  # baseline -> DataFrame(window x trees / rounds / coefficients)


def init_qlib(config: StudyConfig) -> None:
    """qlib.init on the provider with a sqlite MLflow store under ``output_dir``, after the preflight checks
    (:mod:`kronos_quant.study.preflight`: provider files, a writable folder, the same settings as its earlier runs)."""
    from kronos_quant.qlib_ext.qlib_setup import init_qlib as init_qlib_session
    from kronos_quant.study.preflight import check_study_provider, claim_output_dir

    provider = Path(config.provider_uri).expanduser().resolve()
    check_study_provider(config)
    out = claim_output_dir(config)
    init_qlib_session(provider_uri=provider, tracking_uri=f"sqlite:///{out / 'mlflow.db'}",
                      default_experiment=config.name, artifact_root=out / "mlruns")  # not ./mlruns of the cwd


def check_span(config: StudyConfig) -> None:
    """A ValueError unless the test span ends at least 2 trading days before the provider's last day."""
    from qlib.data import D

    calendar = pd.DatetimeIndex(D.calendar(freq="day"))
    end = pd.Timestamp(config.windows.test_end)
    if len(calendar) < 3 or end > calendar[-3]:
        raise ValueError(f"windows.test_end {end:%Y-%m-%d} is too late: the label needs close[t+2], the provider "
                         f"ends {calendar[-1]:%Y-%m-%d}; end the test by {calendar[-3]:%Y-%m-%d}")
    if pd.Timestamp(config.windows.history_start) < calendar[0]:
        logger.info("history_start is before the provider's first day %s", f"{calendar[0]:%Y-%m-%d}")


def build_signals(config: StudyConfig) -> tuple[dict[str, pd.Series], dict[str, pd.Series], dict]:
    """(signals, diagnostics, trained windows): every configured signal over the test span."""
    from kronos_quant.study.factors import load_expressions, random_signal
    from kronos_quant.study.rolling import run_rolled_signal

    start, end = config.windows.test_start, config.windows.test_end
    signals, diagnostics, trained = {}, {}, {}
    specs = [get_signal(name) for name in config.signals]
    expressions = {spec.name: spec.expression for spec in specs if spec.kind == "expression"}
    factors = load_expressions(expressions, market=config.market, start=start, end=end)
    for spec in specs:
        if spec.kind == "rolled":
            pred, trained[spec.name] = run_rolled_signal(config, spec)
            signals[spec.name] = pred["score"]
            for column in pred.columns.drop("score"):
                diagnostics[f"{spec.name}_{column}"] = pred[column]
        elif spec.kind == "expression":
            signals[spec.name] = factors[spec.name]
    if any(spec.kind == "random" for spec in specs):
        index = pd.concat(signals.values(), axis=1, join="inner").index if signals else factors.index
        for spec in specs:
            if spec.kind == "random":
                signals[spec.name] = random_signal(index, config.random_seed)
    return signals, diagnostics, trained


def pretraining_overlap(config: StudyConfig, periods) -> tuple:
    """Periods (e.g. "2023") that start on or before the official pretraining cutoff, when official
    weights are used; a warning is logged and raised as a UserWarning for them."""
    if KRONOS not in config.signals or not config.kronos.official_weights():
        return ()
    cutoff = pd.Timestamp(config.pretrain_cutoff)
    overlapping = tuple(p for p in periods if pd.Timestamp(str(p).replace("H2", "-07").replace("H1", "-01")) <= cutoff)
    if overlapping:
        message = (f"official Kronos weights were pretrained on data up to ~{cutoff:%Y-%m-%d}; test periods "
                   f"{list(overlapping)} overlap it, so Kronos' numbers there may be in-sample (marked in the report)")
        logger.warning(message)
        warnings.warn(message, UserWarning, stacklevel=2)
    return overlapping


def load_realised(config: StudyConfig, horizons) -> dict[int, pd.Series]:
    """``{k: close[t+k]/close[t]-1}`` over the test span; NaN where t+k is past the provider's data or a bar
    among t .. t+k has volume 0 (a suspension)."""
    from kronos_quant.research.horizon_labels import realised_return_expression
    from kronos_quant.research.suspensions import mask_suspended, touched, zero_volume_expression
    from kronos_quant.study.factors import load_expressions

    names = {f"realised_{k}": realised_return_expression(k) for k in horizons}
    names.update({f"min_volume_{k}": zero_volume_expression(k) for k in horizons})
    frame = load_expressions(names, market=config.market, start=config.windows.test_start,
                             end=config.windows.test_end)
    return {k: mask_suspended(frame[f"realised_{k}"], touched(frame[f"min_volume_{k}"])) for k in horizons}


def horizon_table(frame: pd.DataFrame, diagnostics: dict, horizons,
                  realised: dict | None = None) -> pd.DataFrame | None:
    """IC/RankIC (mean, HAC t) of Kronos' forecast at each horizon on the aligned rows, against its own span's
    realised return (``realised``) and against the headline label (:mod:`kronos_quant.research.horizon_labels`)."""
    from kronos_quant.research.horizon_labels import horizon_table as score_horizons

    forecasts = {k: diagnostics[f"{KRONOS}_h{k}"] for k in horizons if f"{KRONOS}_h{k}" in diagnostics}
    if not forecasts or KRONOS not in frame:
        return None
    return score_horizons(frame[KRONOS], frame["label"], forecasts, realised or {})


def regime_statistics(config: StudyConfig, ics: dict, reports: dict) -> tuple[pd.DataFrame, dict]:
    """(table, definitions): every signal's IC, RankIC and Top-K excess (with cost) by benchmark regime,
    regimes point in time from the benchmark's closes since ``history_start``
    (:mod:`kronos_quant.research.regimes`, default settings)."""
    from qlib.data import D

    from kronos_quant.research.regimes import RegimeSettings, market_regimes, regime_table

    settings = RegimeSettings()
    close = D.features(
        [config.benchmark],
        ["$close"],
        start_time=config.windows.history_start,
        end_time=config.windows.test_end,
        freq="day",
    )
    if close.empty:
        raise ValueError(
            f"benchmark {config.benchmark!r} has no $close in the provider; set benchmark to an "
            "instrument of the provider"
        )
    close = close["$close"].droplevel("instrument")
    excess = {name: report["return"] - report["bench"] - report["cost"] for name, report in reports.items()}
    return regime_table(ics, excess, market_regimes(close, settings=settings)), settings.describe()


def baseline_sizes(config: StudyConfig) -> dict[str, pd.DataFrame]:
    """Per rolled baseline, its models' tree / round / coefficient counts per window (recorder tags)."""
    from kronos_quant.study.baselines import model_sizes

    sizes = {}
    for name in config.signals:
        if name != KRONOS and get_signal(name).kind == "rolled":
            table = model_sizes(config, name)
            if not table.empty:
                sizes[name] = table
    return sizes


def run_study(config: StudyConfig) -> StudyResult:
    """The whole study; see the module docstring. Writes the report under ``output_dir/report``."""
    from kronos_quant.research.suspensions import mask_suspended, removed_rows
    from kronos_quant.research.ties import tie_summary
    from kronos_quant.study.backtest import cost_line, topk_report, topk_summary
    from kronos_quant.study.factors import load_label, load_suspended
    from kronos_quant.study.report import write_study_report

    started = time.perf_counter()
    init_qlib(config)
    check_span(config)
    signals, diagnostics, trained = build_signals(config)
    label = load_label(market=config.market, start=config.windows.test_start, end=config.windows.test_end)
    suspended = load_suspended(
        market=config.market, start=config.windows.test_start, end=config.windows.test_end, label_days=2
    )  # t, t+1, t+2: the scored bar and the label's two closes
    removed = removed_rows(signals, label, suspended)
    frame = compare.align_signals(signals, mask_suspended(label, suspended))
    names = list(signals)
    ics = compare.daily_ics(frame, names)
    summary = compare.summary_table(ics)
    summary = summary.join(
        compare.long_short(frame, names, quantile=config.backtest.long_short_quantile, seed=config.random_seed)
    )
    summary = summary.join(compare.constant_days(frame, names))
    summary = summary.join(removed)
    incremental = incremental_rank = None
    if KRONOS in names and len(names) > 1:
        controls = [n for n in names if n not in (KRONOS, "random")]
        if controls:
            incremental = compare.incremental_ic(frame, KRONOS, controls)
            incremental_rank = compare.rank_incremental_ic(frame, KRONOS, controls)
    reports = {
        name: topk_report(frame[name], settings=config.backtest, benchmark=config.benchmark, seed=config.random_seed)
        for name in names
    }
    topk = {name: topk_summary(report, settings=config.backtest) for name, report in reports.items()}
    summary = summary.join(pd.DataFrame(topk).T)
    summary = summary.join(
        pd.DataFrame({name: tie_summary(frame[name], topk=config.backtest.topk) for name in names}).T
    )
    by_year = compare.by_period(ics, freq="year")
    realised = load_realised(config, config.kronos.horizons) if KRONOS in names else {}
    result = StudyResult(
        config=config,
        frame=frame,
        ics=ics,
        summary=summary,
        by_year=by_year,
        by_half=compare.by_period(ics, freq="half"),
        horizons=horizon_table(frame, diagnostics, config.kronos.horizons, realised),
        incremental=incremental,
        cost_line=cost_line(topk, config.backtest.cost_grid_bp),
        windows=trained,
        overlap_periods=pretraining_overlap(config, by_year.index),
    )
    result.incremental_rank = incremental_rank
    result.regimes, result.regime_definitions = regime_statistics(config, ics, reports)
    result.model_sizes = baseline_sizes(config)
    result.wall_s = time.perf_counter() - started
    write_study_report(result, Path(config.output_dir) / "report", portfolio=reports)
    return result
