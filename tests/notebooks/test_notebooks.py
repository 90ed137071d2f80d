"""The research notebooks: built from their sources, small, importing only declared packages, and executed.

CI executes every notebook in its fast setting (``KRONOS_NOTEBOOK_FAST=1``: tiny market, tiny model, short
period) and checks the named values each one prints on its ``KEY_OUTPUTS`` line, not just that it ran: the
test appends one cell that saves the notebook's inputs (scores, labels, paths, bars), and recomputes the
printed numbers from them here with numpy/scipy, labels straight from the provider's ``.day.bin`` files.
"""
from __future__ import annotations

import ast
import importlib.util
import math
import sys
from pathlib import Path

import nbformat
import pandas as pd
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO_ROOT / "notebooks"))
import build_notebooks  # noqa: E402
import notebook_recompute  # noqa: E402  (tests/notebooks, beside this file)

SOURCES = build_notebooks.sources([])
MAX_NOTEBOOK_KIB = 400  # committed size cap, outputs included
# what a notebook may import: the package, the standard library and the declared dependencies
DECLARED = {"kronos_quant", "qlib", "torch", "numpy", "pandas", "scipy", "statsmodels", "matplotlib",
            "safetensors", "huggingface_hub", "tqdm", "yaml", "arch", "exchange_calendars", "scoringrules",
            "lightgbm"}


def _notebook_path(source: Path) -> Path:
    return build_notebooks.NOTEBOOK_DIR / (source.stem + ".ipynb")


def _ids(sources):
    return [source.stem for source in sources]


def test_there_are_six_notebooks():
    assert len(SOURCES) == 6, [source.name for source in SOURCES]
    numbers = {source.stem[:2] for source in SOURCES}  # each one's key outputs are recomputed by the test
    assert set(notebook_recompute.DUMPS) == set(notebook_recompute.CHECKS) == numbers


@pytest.mark.parametrize("source", SOURCES, ids=_ids(SOURCES))
def test_committed_notebook_matches_its_source_and_is_small(source):
    committed = _notebook_path(source)
    assert committed.is_file(), f"run: python notebooks/build_notebooks.py --execute {source.stem[:2]}"
    assert committed.stat().st_size <= MAX_NOTEBOOK_KIB * 1024, f"{committed.name} exceeds {MAX_NOTEBOOK_KIB} KiB"
    built = build_notebooks.build_notebook(source)
    notebook = nbformat.read(committed, as_version=4)
    assert [(c.cell_type, c.source) for c in notebook.cells] == [(c.cell_type, c.source) for c in built.cells]
    executed = [c for c in notebook.cells if c.cell_type == "code" and c.get("outputs")]
    assert executed, f"{committed.name} was committed without outputs"
    build_notebooks.key_outputs(notebook)  # the committed run printed its key outputs


@pytest.mark.parametrize("source", SOURCES, ids=_ids(SOURCES))
def test_notebook_imports_only_the_package_stdlib_and_declared_dependencies(source):
    for kind, text in build_notebooks.parse_cells(source.read_text()):
        if kind != "code":
            continue
        for node in ast.walk(ast.parse(text)):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) else []
            for name in names:
                top = name.split(".")[0]
                assert top in DECLARED or top in sys.stdlib_module_names, f"{source.name} imports {name}"
                assert importlib.util.find_spec(top) is not None


def test_parse_cells_rejects_code_before_the_first_marker():
    with pytest.raises(ValueError, match="before the first"):
        build_notebooks.parse_cells("x = 1\n# %%\ny = 2\n")


EXPECTED = {  # key -> check on the fast run's value (what CHECKS cannot recompute: sizes, flags, thresholds)
    "01": {"official": lambda v: v == "absent", "paths_shape": lambda v: v == [1, 40, 20, 6],
           "n_test_days": lambda v: v > 40},
    "02": {"n_rows": lambda v: v > 1000, "n_years": lambda v: v >= 1,
           "signals": lambda v: {"kronos", "lightgbm_alpha158", "reversal_5d", "random"} <= set(v)},
    "03": {"max_abs_corr_after": lambda v: v < 0.05, "max_abs_corr_before": lambda v: v > 0.05},
    "04": {"n_rows": lambda v: v > 1000, "n_kronos_features": lambda v: v == 8, "n_folds": lambda v: v == 2,
           "coverage": lambda v: v > 0.9, "handler_matches_cache": lambda v: v is True,
           "cache_identical": lambda v: v is True, "best_kronos_rank": lambda v: 1 <= v <= 166},
    "05": {"universes": lambda v: v == 16, "corr_history": lambda v: 0.05 < v < 1.0,
           "corr_independent": lambda v: abs(v) < 0.1},  # independent paths barely co-move
    "06": {"n_scored": lambda v: v > 100, "dm_qlike_vs_garch": math.isfinite},
}
RELATIONS = {  # number -> {what: check on the whole key-output dict} (inequalities the method guarantees)
    "02": {"the synthetic market's planted reversal shows a positive RankIC":
               lambda o: o["data"] != "synthetic" or o["rank_ic"]["reversal_5d"] > 0},
    "04": {"every fold model's last seen bar is at least the embargo before its first scored row":
               lambda o: o["min_gap_days"] >= o["embargo_days"],
           "a second load of the same features is a cache hit (faster than the cold first load)":
               lambda o: not o["cold_first_load"] or o["second_load_seconds"] < o["first_load_seconds"] / 2},
    "05": {"correlated paths closer to history's pairwise correlation than independent ones": lambda o: abs(
               o["corr_correlated"] - o["corr_history"]) < abs(o["corr_independent"] - o["corr_history"])},
    "06": {"the validation-fitted spread scale does not raise validation CRPS (scale 1 is on the grid)":
               lambda o: o["valid_crps_after"] <= o["valid_crps_before"] + 1e-12,
           "the fitted temperature is one of the candidates": lambda o: o["temperature"] in o["temperatures"]},
}


@pytest.mark.slow
@pytest.mark.parametrize("source", SOURCES, ids=_ids(SOURCES))
def test_notebook_executes_in_the_fast_setting(source, tmp_path_factory, tmp_path, monkeypatch):
    work = tmp_path_factory.getbasetemp() / "notebook_work"  # shared: the synthetic market is generated once
    monkeypatch.setenv("KRONOS_NOTEBOOK_FAST", "1")
    monkeypatch.setenv("KRONOS_NOTEBOOK_WORKDIR", str(work))
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    number = source.stem[:2]
    notebook = build_notebooks.build_notebook(source)
    saved_path = tmp_path / f"{number}_saved.pkl"  # what the notebook computed its key outputs from
    notebook.cells.append(nbformat.v4.new_code_cell(notebook_recompute.dump_cell(notebook_recompute.DUMPS[number],
                                                                                 saved_path)))
    notebook = build_notebooks.execute(notebook, timeout=900)
    outputs = build_notebooks.key_outputs(notebook)
    notebook_recompute.CHECKS[number](outputs, pd.read_pickle(saved_path))  # recomputed here, independently
    checks = EXPECTED.get(number, {})
    assert checks, f"no key-output checks for {source.name}"
    for key, check in checks.items():
        assert key in outputs, f"{source.name} did not report {key}"
        assert check(outputs[key]), f"{source.name}: {key} = {outputs[key]!r}"
    for what, relation in RELATIONS.get(number, {}).items():
        assert relation(outputs), f"{source.name}: not {what}: {outputs}"
