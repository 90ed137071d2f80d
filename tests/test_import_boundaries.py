"""Layering: only kronos_quant.qlib_ext imports qlib."""
import subprocess
import sys

QLIB_FREE = ["kronos_quant", "kronos_quant.model", "kronos_quant.inference", "kronos_quant.data.synth",
             "kronos_quant.data.windows", "kronos_quant.data.checks", "kronos_quant.data.csv_import",
             "kronos_quant.training", "kronos_quant.research.signals", "kronos_quant.research.ic_analysis",
             "kronos_quant.research.neutralize", "kronos_quant.research.report_html", "kronos_quant.cli"]

PROBE = """
import importlib, sys
for name in {modules!r}:
    importlib.import_module(name)
    if any(m == "qlib" or m.startswith("qlib.") for m in sys.modules):
        print(name)
        sys.exit(1)
"""


def test_library_layers_do_not_import_qlib():
    completed = subprocess.run([sys.executable, "-c", PROBE.format(modules=QLIB_FREE)], capture_output=True,
                               text=True, timeout=300)
    assert completed.returncode == 0, f"{completed.stdout.strip()} imports qlib {completed.stderr[-500:]}"
