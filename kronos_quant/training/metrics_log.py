"""Per-step metrics: to MLflow through Qlib's recorder when one is active, else to ``metrics.csv``.

qlib is never imported here: if the caller has not imported it, no recorder can be active, so
``sys.modules`` is checked first. Only the master rank should construct a writing logger.
"""
from __future__ import annotations

import csv
import logging
import math
import sys
from pathlib import Path

from kronos_quant.io_utils import atomic_write

logger = logging.getLogger(__name__)


def active_qlib_recorder():
    """Qlib's active recorder (``R.get_recorder()``), or None when qlib is not loaded / none is active."""
    if "qlib.workflow" not in sys.modules:
        return None
    from qlib.workflow import R

    try:
        experiment = R.exp_manager.active_experiment
        return None if experiment is None else experiment.active_recorder
    except Exception:  # noqa: BLE001 - qlib not initialised: no recorder
        return None


class MetricsLogger:
    """``log(step, {"train/loss": ...})`` to the active Qlib recorder, else append to a CSV.

    The CSV has columns ``step, name, value`` (long format, so new metric names need no header change).
    ``enabled=False`` (non-master ranks) makes every call a no-op.
    """

    def __init__(self, out_dir: str | Path, *, enabled: bool = True, use_recorder: bool = True):
        self.enabled = enabled
        self.recorder = active_qlib_recorder() if (enabled and use_recorder) else None
        self.csv_path = Path(out_dir) / "metrics.csv"
        if enabled and self.recorder is None:
            self.csv_path.parent.mkdir(parents=True, exist_ok=True)
            if not self.csv_path.exists():
                with open(self.csv_path, "w", newline="", encoding="utf-8") as handle:
                    csv.writer(handle).writerow(["step", "name", "value"])
        if enabled:
            where = "the active Qlib recorder (MLflow)" if self.recorder is not None else str(self.csv_path)
            logger.info("metrics -> %s", where)

    def log(self, step: int, metrics: dict[str, float]) -> None:
        if not self.enabled or not metrics:
            return
        clean = {name: float(value) for name, value in metrics.items()}
        if self.recorder is not None:
            finite = {name.replace("/", "."): value for name, value in clean.items() if math.isfinite(value)}
            self.recorder.log_metrics(step=step, **finite)
            return
        with open(self.csv_path, "a", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            for name, value in clean.items():
                writer.writerow([step, name, repr(value)])


    def forget_after(self, step: int) -> None:
        """Drop CSV rows of steps after ``step``: a run resumed from ``step`` logs them again.

        ``step`` 0 empties the file (a fresh run in an old ``out_dir``). MLflow keeps what it was sent.
        """
        if not self.enabled or self.recorder is not None or not self.csv_path.exists():
            return
        with open(self.csv_path, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        kept = [rows[0]] + [row for row in rows[1:] if int(row[0]) <= step]
        if len(kept) == len(rows):
            return
        atomic_write(self.csv_path, lambda temporary: _write_rows(temporary, kept))


def _write_rows(path: str, rows: list[list[str]]) -> None:
    with open(path, "w", newline="", encoding="utf-8") as handle:
        csv.writer(handle).writerows(rows)


def read_metrics_csv(path: str | Path) -> dict[str, list[tuple[int, float]]]:
    """``{name: [(step, value), ...]}`` from a metrics.csv (for tests and quick plots)."""
    series: dict[str, list[tuple[int, float]]] = {}
    with open(path, newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            series.setdefault(row["name"], []).append((int(row["step"]), float(row["value"])))
    return series
