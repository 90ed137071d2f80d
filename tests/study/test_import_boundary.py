"""The study's config, registry, statistics and report import without qlib (only rolling/kronos_model need it)."""
import subprocess
import sys

QLIB_FREE = ["kronos_quant.study", "kronos_quant.study.config", "kronos_quant.study.registry",
             "kronos_quant.study.tasks", "kronos_quant.study.compare", "kronos_quant.study.report",
             "kronos_quant.study.run", "kronos_quant.study.factors", "kronos_quant.study.backtest",
             "kronos_quant.cli.study"]

PROBE = """
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
from kronos_quant.study.registry import registered_signals
registered_signals()
bad = [m for m in sys.modules if m == "qlib" or m.startswith("qlib.")]
sys.exit(1 if bad else 0)
"""


def test_study_library_does_not_import_qlib():
    done = subprocess.run([sys.executable, "-c", PROBE.format(modules=QLIB_FREE)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-800:]
