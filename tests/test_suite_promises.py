"""What the suite itself promises: hard dependencies error instead of skipping, ../shared is marked and whole."""
from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from kronos_test_helpers import shared_subfolder

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent
# distribution name -> the module it installs (when they differ)
IMPORT_NAMES = {"pyqlib": "qlib", "pyyaml": "yaml"}
SHARED_MODULES = ("tests/model/test_parity.py", "tests/model/test_official_shapes.py", "tests/data/test_checks.py")


def _hard_dependencies() -> set[str]:
    """Top-level module names of pyproject's [project] dependencies (not the extras)."""
    block = re.search(r"^dependencies = \[(.*?)^\]", (REPO / "pyproject.toml").read_text(), flags=re.M | re.S)
    names = re.findall(r'^\s*"([A-Za-z0-9_.\-]+)', block.group(1), flags=re.M)
    return {IMPORT_NAMES.get(name.lower(), name.lower().replace("-", "_")).split(".")[0] for name in names}


def test_no_test_skips_when_a_hard_dependency_is_missing():
    hard = _hard_dependencies()
    assert {"qlib", "statsmodels", "torch", "scipy"} <= hard
    offenders = []
    for path in sorted(TESTS.rglob("test_*.py")):
        for module in re.findall(r"importorskip\(\s*[\"']([\w.]+)", path.read_text()):
            if module.split(".")[0] in hard:
                offenders.append(f"{path.relative_to(REPO)}: importorskip({module!r})")
    assert not offenders, f"declared dependencies must be imported plainly (a broken install is an error): {offenders}"


def test_a_missing_subfolder_of_shared_fails_and_names_it(tmp_path):
    (tmp_path / "fixtures" / "kronos_parity").mkdir(parents=True)
    assert shared_subfolder(tmp_path, "fixtures/kronos_parity") == tmp_path / "fixtures" / "kronos_parity"
    with pytest.raises(pytest.fail.Exception, match=r"lacks data/qlib_cn_csi300/"):
        shared_subfolder(tmp_path, "data/qlib_cn_csi300")


MARKS_PLUGIN = """
def pytest_collection_finish(session):
    for item in session.items:
        uses = "shared_dir" in getattr(item, "fixturenames", ())
        print("MARKED" if item.get_closest_marker("shared") else "UNMARKED", "USES" if uses else "-", item.nodeid)
"""


def _collected(tmp_path) -> tuple[list[str], list[str]]:
    """(node ids marked ``shared``, the others) among the tests of SHARED_MODULES, as a plain run collects them.

    Collecting the whole suite takes ~25 s here; these modules hold every test that reads ../shared today, and
    the conftest hook marks any later one from its ``shared_dir`` fixture.
    """
    (tmp_path / "report_marks.py").write_text(MARKS_PLUGIN)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(tmp_path), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-p", "report_marks", *SHARED_MODULES], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    lines = [line.split(" ", 2) for line in done.stdout.splitlines() if line.startswith(("MARKED ", "UNMARKED "))]
    assert all((mark == "MARKED") == (uses == "USES") for mark, uses, _ in lines), lines  # marked iff it reads it
    return [node for mark, _, node in lines if mark == "MARKED"], [node for mark, _, node in lines if mark != "MARKED"]


def test_every_test_that_reads_shared_carries_the_marker(tmp_path):
    shared, other = _collected(tmp_path)
    functions = {line.split("[")[0] for line in shared}
    assert functions == {"tests/model/test_parity.py::" + name for name in (
        "test_token_ids_match_exactly", "test_tokenizer_reconstructions", "test_predictor_logits_and_context",
        "test_greedy_forecast")} | {"tests/model/test_official_shapes.py::test_state_dict_names_and_shapes",
                                    "tests/model/test_official_shapes.py::test_presets_equal_official_configs",
                                    "tests/data/test_checks.py::test_shared_csi300_passes_with_warnings"}
    assert len(shared) == 18, shared  # 4 greedy-forecast and 5 + 5 official-checkpoint parametrizations
    assert other and not set(shared) & set(other)
    assert "tests/model/test_official_shapes.py::test_large_preset_matches_published_size" in other  # no ../shared
