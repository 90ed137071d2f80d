"""VolatilityRecord: Kronos volatility forecasts and calibration scored on the test segment, logged to MLflow.

::

    record:
      - class: VolatilityRecord
        module_path: kronos_quant.qlib_ext.volatility_record
        kwargs: {model: <MODEL>, dataset: <DATASET>, horizons: [1, 5, 10, 20], every: 5}

It samples paths (``KronosModel.forecast_rows``) on every ``every``-th date of the calibration segment
(``valid``) and of the test segment, fits the spread scale on the calibration paths only, and scores the
test paths against realised volatility and the point-in-time baselines
(:mod:`kronos_quant.research.vol_evaluation`). The model's ``sample_count`` must be >= 2 and its horizon
>= max(horizons). Logged: headline metrics (``vol_h<h>_<model>_qlike``, ``vol_h<h>_dm_<loss>_vs_<baseline>``,
``cal_h<h>_<forecaster>_<metric>``, ``spread_scale_h<h>``), the tables as ``volatility/<table>.pkl`` and
``volatility/report.html``. Settings are public attributes (Qlib's ``Serializable`` drops ``_`` names).
"""
from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import pandas as pd
from qlib.data import D
from qlib.workflow.record_temp import RecordTemp

from kronos_quant.qlib_ext.volatility_study import evaluate_forecasts, forecast_segment, load_bars
from kronos_quant.research.vol_baselines import BaselineConfig
from kronos_quant.research.vol_evaluation import VolEvalConfig, headline_metrics
from kronos_quant.research.vol_report import write_vol_report

logger = logging.getLogger(__name__)

ARTIFACT_DIR = "volatility"
TABLES = ("losses", "dm", "mz", "calibration", "pit_counts", "reliability", "rows")
HISTORY_DAYS = 1600  # calendar days of bars before the calibration segment (GARCH/HAR windows of 1000 bars)


class VolatilityRecord(RecordTemp):
    """See the module docstring.

    Args:
        model, dataset: the task's KronosModel and KronosDataset.
        horizons: bars (each <= the model's forecast horizon).
        calibrate_segment: where the spread scale is fitted; test_segment: what is scored.
        every: forecast every n-th date of both segments (1 = all).
        refit_every: bars between GARCH/HAR refits; garch: include GARCH and the Gaussian yardstick.
    """

    artifact_path = ARTIFACT_DIR  # RecordTemp.save puts the tables under volatility/

    def __init__(self, model=None, dataset=None, recorder=None, *, horizons=(1, 5, 10, 20),
                 calibrate_segment: str = "valid", test_segment: str = "test", every: int = 1,
                 refit_every: int = 20, garch: bool = True):
        super().__init__(recorder=recorder)
        self.model, self.dataset = model, dataset
        self.horizons = tuple(int(h) for h in horizons)
        self.calibrate_segment, self.test_segment = calibrate_segment, test_segment
        self.every, self.refit_every, self.garch = int(every), int(refit_every), bool(garch)
        self.config()  # validate now, not after the forecasts

    def config(self) -> VolEvalConfig:
        return VolEvalConfig(horizons=self.horizons, baselines=BaselineConfig(refit_every=self.refit_every),
                             garch=self.garch)

    def check(self) -> None:
        """Clear errors before any forecast: a fitted model and dataset, >= 2 paths, a long enough horizon."""
        if self.model is None or self.dataset is None:
            raise ValueError("VolatilityRecord needs model: <MODEL> and dataset: <DATASET> in its kwargs")
        settings = self.model.forecast_settings
        if int(settings.sample_count) < 2:
            raise ValueError("VolatilityRecord scores the spread of the paths: set the model's sample_count >= 2")
        if max(self.horizons) > int(settings.horizon):
            raise ValueError(f"horizons {self.horizons} are longer than the forecast ({settings.horizon} bars); "
                             f"set the model's and the dataset's horizon >= {max(self.horizons)}")
        for segment in (self.calibrate_segment, self.test_segment):
            if segment not in self.dataset.segments:
                raise ValueError(f"segment {segment!r} is not in the dataset's segments {list(self.dataset.segments)}")

    def generate(self, **kwargs):
        self.check()
        valid = forecast_segment(self.model, self.dataset, self.calibrate_segment, every=self.every)
        test = forecast_segment(self.model, self.dataset, self.test_segment, every=self.every)
        instruments = sorted(set(valid[0].get_level_values("instrument")) | set(test[0].get_level_values("instrument")))
        start = pd.Timestamp(self.dataset.segments[self.calibrate_segment][0]) - pd.Timedelta(days=HISTORY_DAYS)
        end = D.calendar(freq="day")[-1]
        bars = load_bars(instruments, f"{start:%Y-%m-%d}", f"{pd.Timestamp(end):%Y-%m-%d}")
        tables, scales = evaluate_forecasts(valid, test, bars, self.config())
        metrics = dict(headline_metrics(tables), **{f"spread_scale_h{h}": s.scale for h, s in scales.items()})
        self.recorder.log_metrics(**metrics)
        self.save(**{f"{name}.pkl": tables[name] for name in TABLES})
        with tempfile.TemporaryDirectory() as tmp:
            path = write_vol_report(tables, Path(tmp) / "report.html", title="Kronos volatility forecasts",
                                    spread_scales={h: s.scale for h, s in scales.items()})
            self.recorder.log_artifact(str(path), ARTIFACT_DIR)
        logger.info("VolatilityRecord: %d test rows scored at horizons %s", len(test[0]), self.horizons)
        return tables

    def list(self):
        return [self.get_path(f"{name}.pkl") for name in TABLES] + [self.get_path("report.html")]
