"""benchmarks/gpu_suite.sh --device cpu: the smoke version of the GPU suite, so the script cannot rot."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = ["generation_c", "bf16_agreement", "training", "pytest_gpu", "csi300_year"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if shutil.which("bash") is None or shutil.which("timeout") is None:
        pytest.skip("needs bash and coreutils timeout")
    out = tmp_path_factory.mktemp("gpu_suite") / "figures.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_suite.sh"), "--device", "cpu", "--out", str(out),
                           "--budget-s", "120"], cwd=REPO, env=env, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return json.loads(out.read_text())


def test_every_step_reports_figures(smoke):
    steps = smoke["steps"]
    assert list(steps) == STEPS and smoke["meta"]["smoke"] is True
    assert all(steps[name]["status"] == "ok" for name in STEPS)
    assert steps["generation_c"]["cached"]["forecasts_per_s"] > 0 and steps["generation_c"]["speed_up"] > 0
    assert steps["training"]["trainer"]["tokens_per_s"] > 0 and steps["training"]["trainer"]["mfu"] is None  # cpu
    assert 0 <= steps["bf16_agreement"]["greedy_bars_equal_share"] <= 1
    assert 0 < steps["bf16_agreement"]["trunk_logits_max_rel_error"] < 0.1
    assert steps["csi300_year"]["windows_done"] == steps["csi300_year"]["windows"]
    assert "tests/inference/test_gpu.py" in steps["pytest_gpu"]["files"]


def test_a_spent_budget_skips_steps_with_a_note(tmp_path):
    out = tmp_path / "figures.json"
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import gpu_suite as s; "
            "s.SIZES['smoke']['needs'] = {name: 10**6 for name, _ in s.STEPS if name != 'bf16_agreement'}; "
            f"sys.exit(s.main(['--device', 'cpu', '--out', {str(out)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=200,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    steps = json.loads(out.read_text())["steps"]
    assert steps["training"]["status"] == "skipped" and "over budget" in steps["training"]["note"]
    assert [name for name, entry in steps.items() if entry["status"] == "ok"] == ["bf16_agreement"]
