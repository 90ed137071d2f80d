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
``pred_raw.pkl`` is present, states the handler's label (read from the dataset) and plots the IC
decay over label horizons of 1..``decay_horizons`` days (closes read from the provider). All
settings are public attributes (Qlib's ``Serializable`` drops names starting with ``_``).
"""
from __future__ import annotations

import dataclasses
import logging
import pickle
import tempfile
from pathlib import Path

import pandas as pd
from qlib.utils.exceptions import LoadObjectError
from qlib.workflow.record_temp import RecordTemp, SignalRecord

from kronos_quant.qlib_ext.decay_labels import decay_labels
from kronos_quant.qlib_ext.exposures_provider import BUFFER_DAYS, DEFAULT_BENCHMARK, load_exposures
from kronos_quant.research.neutralize import exposure_report, neutralize
from kronos_quant.research.report_data import SignalResult, raw_signal_name
from kronos_quant.research.report_html import write_report
from kronos_quant.safe_pickle import ObjectUnpickler, RestrictedUnpickler

logger = logging.getLogger(__name__)

RAW_PRED = "pred_raw.pkl"
EXPOSURE_REPORT = "exposures_before_after"
DECAY_MAX_HORIZON = 20  # IC decay over label horizons 1..20 days by default


def flush_async_log(recorder) -> None:
    """Wait for metrics queued by earlier records (``log_metrics`` is asynchronous in a running
    ``MLflowRecorder``); reading artifacts while MLflow's file store writes a metric fails with
    "Metric ... is malformed". The queue is restarted so later records can still log."""
    pending = getattr(recorder, "async_log", None)
    if pending is not None:
        from qlib.utils.paral import AsyncCaller

        pending.wait()
        recorder.async_log = AsyncCaller()


def try_load(recorder, name: str, unpickler=RestrictedUnpickler):
    """The artifact ``name`` through ``unpickler`` (data only: never runs code), or None when it is absent."""
    try:
        return recorder.load_object(name, unpickler=unpickler)
    except LoadObjectError as err:
        if isinstance(err.__cause__, pickle.UnpicklingError):
            raise ValueError(f"artifact {name} of recorder {recorder.id}: {err.__cause__}") from None
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


def label_expression(dataset) -> str | None:
    """The label of a ``DatasetH``'s handler (its ``QlibDataLoader``'s ``fields["label"]``), or None.

    Works on a live dataset and on the one ``task_train`` saves in the recorder (``"dataset"``).
    """
    loader = getattr(getattr(dataset, "handler", None), "data_loader", None)
    fields = getattr(loader, "fields", None)
    if not isinstance(fields, dict) or "label" not in fields:
        return None
    exprs = fields["label"][0] if isinstance(fields["label"], (tuple, list)) and fields["label"] else None
    if isinstance(exprs, (tuple, list)) and exprs and isinstance(exprs[0], str):
        return exprs[0]
    return exprs if isinstance(exprs, str) else None


def recorded_label(recorder) -> str | None:
    """The label expression of the dataset ``task_train`` saved in ``recorder`` (None if absent)."""
    try:
        dataset = try_load(recorder, "dataset", ObjectUnpickler)  # qlib objects rebuilt, never called
    except Exception as err:  # an unpicklable dataset must not stop a report; say why
        logger.warning("could not read the dataset saved in recorder %s (%s); the label is not stated",
                       recorder.id, err)
        return None
    return label_expression(dataset)


def load_signal_result(recorder, name: str, *, pred_name: str = "pred.pkl", freq: str = "1day",
                       label: str | None = None) -> SignalResult:
    """Build a :class:`SignalResult` from a recorder's ``pred``/``label``/``portfolio_analysis`` artifacts.

    ``label``: the label expression; default: read from the recorder's saved dataset.
    """
    pred = recorder.load_object(pred_name, unpickler=RestrictedUnpickler)
    labels = try_load(recorder, "label.pkl")
    if labels is None:
        raise ValueError(f"recorder {recorder.id} has no label.pkl; run SignalRecord with a DatasetH first")
    return SignalResult(
        name=name,
        pred=pred,
        label=labels.iloc[:, 0] if isinstance(labels, pd.DataFrame) else labels,
        portfolio_report=try_load(recorder, f"portfolio_analysis/report_normal_{freq}.pkl"),
        risk_tables=try_load(recorder, f"portfolio_analysis/port_analysis_{freq}.pkl"),
        label_expression=recorded_label(recorder) if label is None else label,
    )


def signal_results(recorder, name: str, *, label: str | None = None) -> list[SignalResult]:
    """The recorder's signal as ``name`` and, when ``pred_raw.pkl`` exists, its raw version as ``<name>_raw``.

    The raw signal carries IC metrics only: the backtest ran on the neutralized ``pred.pkl``.
    """
    main = load_signal_result(recorder, name, label=label)
    raw = try_load(recorder, RAW_PRED)
    if raw is None:
        return [main]
    return [main, SignalResult(name=raw_signal_name(name), pred=raw, label=main.label,
                               label_expression=main.label_expression, label_horizon=main.label_horizon)]


def with_decay_labels(results: list[SignalResult], max_horizon: int = DECAY_MAX_HORIZON) -> list[SignalResult]:
    """``results`` with IC-decay labels of horizons ``1..max_horizon`` days (``qlib.init`` with a provider).

    Signals on the same rows (a signal and its ``_raw`` version) share one load.
    """
    if max_horizon < 1:
        raise ValueError(f"max_horizon must be >= 1 day; got {max_horizon}")
    loaded: list[tuple[pd.Index, dict]] = []
    out = []
    for result in results:
        labels = next((labels for index, labels in loaded if index.equals(result.pred.index)), None)
        if labels is None:
            labels = decay_labels(result.pred, range(1, max_horizon + 1))
            loaded.append((result.pred.index, labels))
        out.append(dataclasses.replace(result, decay_labels=labels))
    return out


class ReportRecord(RecordTemp):
    """Write the offline HTML report of this recorder under the ``report/`` artifact folder.

    Reads ``pred.pkl``, ``label.pkl`` and, when present, ``portfolio_analysis/*_1day.pkl``; if
    ``pred_raw.pkl`` exists (see :class:`NeutralizeSignalRecord`) the raw signal is added as
    ``<name>_raw`` (IC metrics only -- the backtest ran on the neutralized ``pred.pkl``). The label
    is read from ``dataset`` (qrun passes it) or the recorder's saved dataset; ``decay_horizons``
    (days, 0 = off) sets the IC-decay range, its closes read from the provider qlib runs on.
    """

    artifact_path = "report"
    depend_cls = SignalRecord

    def __init__(
        self, recorder=None, *, name: str = "kronos", n_quantiles: int = 5, rolling_window: int = 20,
        decay_horizons: int = DECAY_MAX_HORIZON, model=None, dataset=None,
    ):
        super().__init__(recorder=recorder)
        if int(decay_horizons) < 0:
            raise ValueError(f"decay_horizons must be >= 0 days (0 turns IC decay off); got {decay_horizons}")
        self.name = name
        self.n_quantiles = n_quantiles
        self.rolling_window = rolling_window
        self.decay_horizons = int(decay_horizons)
        self.label = None if dataset is None else label_expression(dataset)

    def results(self) -> list[SignalResult]:
        results = signal_results(self.recorder, self.name, label=self.label)
        return with_decay_labels(results, self.decay_horizons) if self.decay_horizons else results

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
        # not the temporary folder it was written in: that one is gone now
        logger.info("report written to %s/%s/report.html", self.recorder.get_artifact_uri(), self.artifact_path)

    def list(self):
        return ["report.html", "metrics.json"]
