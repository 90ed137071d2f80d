"""Qlib record templates for qrun ``record:`` lists: risk neutralization and the HTML report.

Order them after ``SignalRecord`` (which writes ``pred.pkl`` / ``label.pkl``)::

    record:
      - class: SignalRecord
        module_path: qlib.workflow.record_temp
        kwargs: {model: <MODEL>, dataset: <DATASET>}
      - class: NeutralizeSignalRecord          # pred.pkl <- pure alpha, pred_raw.pkl <- original
        module_path: kronos_quant.qlib_ext.records
        kwargs: {weight_col: mktcap}
      - class: SigAnaRecord                    # now evaluates the neutralized signal
        module_path: qlib.workflow.record_temp
      - class: PortAnaRecord
        module_path: qlib.workflow.record_temp
        kwargs: {config: <PORT_ANALYSIS_CONFIG>}
      - class: ReportRecord                    # report/report.html (+ figures, metrics.json)
        module_path: kronos_quant.qlib_ext.records
        kwargs: {name: kronos}

Design: ``NeutralizeSignalRecord`` *replaces* ``pred.pkl`` in the same recorder after saving
the original as ``pred_raw.pkl``. Qlib 0.9.7's ``SigAnaRecord`` / ``PortAnaRecord`` always read
``pred.pkl`` of their recorder, so this is the one layout that makes them evaluate the pure alpha
without subclassing them. Re-running it is idempotent: when ``pred_raw.pkl`` already exists it is
the input. ``ReportRecord`` shows the raw signal's IC next to the neutral one when
``pred_raw.pkl`` is present. All settings are public attributes (Qlib's ``Serializable`` drops
names starting with ``_``).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd
from qlib.utils.exceptions import LoadObjectError
from qlib.workflow.record_temp import RecordTemp, SignalRecord

from kronos_quant.qlib_ext.exposures_provider import BUFFER_DAYS, DEFAULT_BENCHMARK, load_exposures
from kronos_quant.research.neutralize import exposure_report, neutralize
from kronos_quant.research.report_data import SignalResult
from kronos_quant.research.report_html import write_report

logger = logging.getLogger(__name__)

RAW_PRED = "pred_raw.pkl"
EXPOSURE_REPORT = "exposures_before_after"


def flush_async_log(recorder) -> None:
    """Wait for metrics queued by earlier records (``log_metrics`` is asynchronous in a running
    ``MLflowRecorder``); reading artifacts while MLflow's file store writes a metric fails with
    "Metric ... is malformed". The queue is restarted so later records can still log."""
    pending = getattr(recorder, "async_log", None)
    if pending is not None:
        from qlib.utils.paral import AsyncCaller

        pending.wait()
        recorder.async_log = AsyncCaller()


def try_load(recorder, name: str):
    """``recorder.load_object(name)`` or ``None`` when the artifact does not exist."""
    try:
        return recorder.load_object(name)
    except LoadObjectError:
        return None


class NeutralizeSignalRecord(RecordTemp):
    """Neutralize ``pred.pkl`` against provider exposures; keep the original as ``pred_raw.pkl``.

    Artifacts: ``pred.pkl`` (neutralized, column ``score``), ``pred_raw.pkl``,
    ``exposures_before_after.pkl`` / ``.csv`` (see ``exposure_report``). Needs ``qlib.init`` with
    a provider holding the signal's instruments, ``$close``, ``$amount`` and the benchmark.
    """

    depend_cls = SignalRecord

    def __init__(
        self,
        recorder=None,
        *,
        exposures=None,  # columns to neutralize against; None = all loaded (except mktcap)
        weight_col: str | None = None,  # "mktcap" -> WLS with sqrt(market cap) weights
        winsorize_method: str | None = "mad",
        zscore_before: bool = True,
        zscore_after: bool = True,
        nan_exposure: str = "median",
        benchmark: str = DEFAULT_BENCHMARK,
        buffer_days: int = BUFFER_DAYS,
        industry_csv: str | None = None,
        model=None,  # qrun offers model/dataset via try_kwargs; unused here
        dataset=None,
    ):
        super().__init__(recorder=recorder)
        self.exposures = None if exposures is None else list(exposures)
        self.weight_col = weight_col
        self.winsorize_method = winsorize_method
        self.zscore_before = zscore_before
        self.zscore_after = zscore_after
        self.nan_exposure = nan_exposure
        self.benchmark = benchmark
        self.buffer_days = buffer_days
        self.industry_csv = industry_csv

    def _select(self, frame: pd.DataFrame) -> pd.DataFrame:
        columns = [c for c in frame.columns if c != "mktcap"] if self.exposures is None else list(self.exposures)
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise ValueError(f"exposures {missing} not available; choose from {list(frame.columns)}")
        if self.weight_col is not None and self.weight_col not in frame.columns:
            raise ValueError(f"weight_col {self.weight_col!r} not available (provider has no $mktcap?)")
        keep = columns + ([self.weight_col] if self.weight_col and self.weight_col not in columns else [])
        return frame[keep]

    def generate(self, **kwargs):
        flush_async_log(self.recorder)
        raw = try_load(self.recorder, RAW_PRED)
        if raw is None:
            raw = self.load("pred.pkl")
            self.save(**{RAW_PRED: raw})
        signal = raw.iloc[:, 0] if isinstance(raw, pd.DataFrame) else raw
        dates = signal.index.get_level_values("datetime")
        instruments = sorted(signal.index.get_level_values("instrument").unique())
        loaded = load_exposures(
            instruments, dates.min(), dates.max(), benchmark=self.benchmark,
            buffer_days=self.buffer_days, industry_csv=self.industry_csv,
        )
        exposures = self._select(loaded)
        industry_col = "industry" if "industry" in exposures.columns else None
        options = dict(industry_col=industry_col, weight_col=self.weight_col)
        neutral = neutralize(
            signal, exposures, winsorize_method=self.winsorize_method, zscore_before=self.zscore_before,
            zscore_after=self.zscore_after, nan_exposure=self.nan_exposure, **options,
        )
        report = exposure_report(signal, exposures, neutralized=neutral, **options)
        self.save(**{"pred.pkl": neutral.to_frame("score"), f"{EXPOSURE_REPORT}.pkl": report})
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / f"{EXPOSURE_REPORT}.csv"
            report.to_csv(path)
            self.recorder.log_artifact(str(path))
        logger.info("neutralized pred.pkl (%d rows) against %s", neutral.notna().sum(), list(exposures.columns))
        return neutral

    def list(self):
        return ["pred.pkl", RAW_PRED, f"{EXPOSURE_REPORT}.pkl", f"{EXPOSURE_REPORT}.csv"]


def load_signal_result(recorder, name: str, *, pred_name: str = "pred.pkl", freq: str = "1day") -> SignalResult:
    """Build a :class:`SignalResult` from a recorder's ``pred``/``label``/``portfolio_analysis`` artifacts."""
    pred = recorder.load_object(pred_name)
    label = try_load(recorder, "label.pkl")
    if label is None:
        raise ValueError(f"recorder {recorder.id} has no label.pkl; run SignalRecord with a DatasetH first")
    return SignalResult(
        name=name,
        pred=pred,
        label=label.iloc[:, 0] if isinstance(label, pd.DataFrame) else label,
        portfolio_report=try_load(recorder, f"portfolio_analysis/report_normal_{freq}.pkl"),
        risk_tables=try_load(recorder, f"portfolio_analysis/port_analysis_{freq}.pkl"),
    )


class ReportRecord(RecordTemp):
    """Write the offline HTML report of this recorder under the ``report/`` artifact folder.

    Reads ``pred.pkl``, ``label.pkl`` and, when present, ``portfolio_analysis/*_1day.pkl``; if
    ``pred_raw.pkl`` exists (see :class:`NeutralizeSignalRecord`) the raw signal is added as
    ``<name>_raw`` (IC metrics only -- the backtest ran on the neutralized ``pred.pkl``).
    """

    artifact_path = "report"
    depend_cls = SignalRecord

    def __init__(
        self, recorder=None, *, name: str = "kronos", n_quantiles: int = 5, rolling_window: int = 20, model=None, dataset=None
    ):
        super().__init__(recorder=recorder)
        self.name = name
        self.n_quantiles = n_quantiles
        self.rolling_window = rolling_window

    def results(self) -> list[SignalResult]:
        main = load_signal_result(self.recorder, self.name)
        raw = try_load(self.recorder, RAW_PRED)
        if raw is None:
            return [main]
        return [main, SignalResult(name=f"{self.name}_raw", pred=raw, label=main.label)]

    def generate(self, **kwargs):
        flush_async_log(self.recorder)
        with tempfile.TemporaryDirectory() as tmp:
            path = write_report(self.results(), tmp, n_quantiles=self.n_quantiles, rolling_window=self.rolling_window)
            self.recorder.log_artifact(str(path), self.artifact_path)
            for extra in sorted(Path(tmp).glob("*.*")):
                if extra.name != path.name:
                    self.recorder.log_artifact(str(extra), self.artifact_path)
            for figure in sorted((Path(tmp) / "figures").glob("*.png")):
                self.recorder.log_artifact(str(figure), f"{self.artifact_path}/figures")
        logger.info("report written to the recorder artifacts under %s/", self.artifact_path)

    def list(self):
        return ["report.html", "metrics.json"]
