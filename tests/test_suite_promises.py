"""What the suite itself promises: hard dependencies error instead of skipping, ../shared is marked and whole."""
from __future__ import annotations

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


def _collected(marker: str) -> list[str]:
    done = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           "-m", marker, *SHARED_MODULES], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 5), done.stdout[-2000:] + done.stderr[-2000:]  # 5: nothing collected
    return [line for line in done.stdout.splitlines() if "::" in line]


def test_every_test_that_reads_shared_carries_the_marker():
    shared, other = _collected("shared"), _collected("not shared")
    functions = {line.split("[")[0] for line in shared}
    assert functions == {"tests/model/test_parity.py::" + name for name in (
        "test_token_ids_match_exactly", "test_tokenizer_reconstructions", "test_predictor_logits_and_context",
        "test_greedy_forecast")} | {"tests/model/test_official_shapes.py::test_state_dict_names_and_shapes",
                                    "tests/model/test_official_shapes.py::test_presets_equal_official_configs",
                                    "tests/data/test_checks.py::test_shared_csi300_passes_with_warnings"}
    assert len(shared) == 18, shared  # 4 greedy-forecast and 5 + 5 official-checkpoint parametrizations
    assert other and not set(shared) & set(other)
    assert "tests/model/test_official_shapes.py::test_large_preset_matches_published_size" in other  # no ../shared
