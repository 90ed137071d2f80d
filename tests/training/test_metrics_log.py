"""Metrics go to the active Qlib recorder (MLflow) when there is one, else to out_dir/metrics.csv."""
from __future__ import annotations

import math

from kronos_quant.training.metrics_log import MetricsLogger, read_metrics_csv


def test_csv_without_recorder(tmp_path):
    logger = MetricsLogger(tmp_path)
    logger.log(1, {"train/loss": 2.5, "train/lr": 1e-3})
    logger.log(2, {"train/loss": float("nan")})
    MetricsLogger(tmp_path / "other", enabled=False).log(1, {"x": 1.0})  # non-master: no file
    rows = read_metrics_csv(tmp_path / "metrics.csv")
    assert rows["train/loss"][0] == (1, 2.5) and math.isnan(rows["train/loss"][1][1])
    assert not (tmp_path / "other").exists()


def test_active_qlib_recorder_receives_metrics(tiny_market, init_qlib, tmp_path):
    init_qlib(tiny_market)
    from qlib.workflow import R

    with R.start(experiment_name="kq_training_metrics", uri=f"file:{tmp_path / 'mlruns'}"):
        logger = MetricsLogger(tmp_path / "run")
        logger.log(3, {"val/loss": 0.75})
        recorder = R.get_recorder()
    assert recorder.list_metrics() == {"val.loss": 0.75}  # qlib logs asynchronously: read after the run ends
    assert not (tmp_path / "run" / "metrics.csv").exists()
