"""benchmarks/gpu_suite.sh --device cpu: the smoke version of the GPU suite, so the script cannot rot."""
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
STEPS = ["ceilings", "generation", "chunk_sweep", "profile_chunk", "csi300_year", "generation_compiled", "trainer",
         "resume", "token_agreement", "pytest_gpu"]


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    if shutil.which("bash") is None or shutil.which("timeout") is None:
        pytest.skip("needs bash and coreutils timeout")
    out = tmp_path_factory.mktemp("gpu_suite") / "gpu_suite.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHON": sys.executable, "OUT": str(out.parent)}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_suite.sh"), "--device", "cpu", "--out", str(out),
                           "--budget-s", "120"], cwd=REPO, env=env, capture_output=True, text=True, timeout=200)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    return {**json.loads(out.read_text()), "out_dir": str(out.parent)}


def test_every_step_reports_figures(smoke):
    steps = smoke["steps"]
    assert list(steps) == STEPS and smoke["meta"]["smoke"] is True
    assert all(steps[name]["status"] == "ok" for name in STEPS), {name: steps[name]["status"] for name in STEPS}
    generation = steps["generation"]
    assert set(generation) == {"a", "b", "c", "study", "status", "wall_s"}
    for case in (generation[name] for name in ("a", "b", "c", "study")):  # same-precision pairs, series x paths
        for precision in ("bf16", "fp32"):
            cached, recompute = case[f"cached/{precision}"], case[f"recompute/{precision}"]
            assert len(cached["runs_s"]) == 2 and min(cached["runs_s"]) <= cached["median_s"] <= max(cached["runs_s"])
            assert cached["forecasts_per_s"] == pytest.approx(case["series"] * case["paths"] / cached["median_s"],
                                                              rel=1e-3)
            assert case[f"speed_up_same_precision_{precision}"] == pytest.approx(
                recompute["median_s"] / cached["median_s"], abs=0.01)
    trainer = steps["trainer"]
    assert trainer["window_tokens"] == 100 and trainer["runs"][0]["train_flops_per_step"] > 0
    assert trainer["runs"][0]["mfu_bf16"] is None  # no peak on the CPU: no made-up MFU
    assert steps["resume"]["exact"] is True
    for mode in ("greedy", "sampled"):
        assert 0 <= steps["token_agreement"][mode]["s1_equal_share"] <= 1
    assert steps["csi300_year"]["chunks"] >= 1 and steps["csi300_year"]["forecasts_per_s"] > 0
    assert steps["profile_chunk"]["per_decode_step"]["top_level"] > 0
    assert "tests/inference/test_gpu.py" in steps["pytest_gpu"]["files"] and steps["pytest_gpu"]["cap_s"] <= 120


def test_everything_lands_under_out(smoke):
    out = Path(smoke["out_dir"])
    assert {"gpu_suite.json", "gpu_suite.log", "profile_chunk.txt", "pytest_gpu.log", "environment.txt"} <= {
        path.name for path in out.iterdir()}


def test_the_device_is_driven_with_python3():
    script = (REPO / "benchmarks" / "gpu_suite.sh").read_text()
    assert 'PYTHON="${PYTHON:-python3}"' in script and " python " not in script


def test_a_spent_budget_skips_steps_with_a_note(tmp_path):
    out = tmp_path / "figures.json"
    code = ("import sys; sys.path.insert(0, 'benchmarks'); import gpu_suite as s; "
            "s.SIZES['smoke']['needs'] = {name: 10**6 for name, _ in s.STEPS if name != 'ceilings'}; "
            f"sys.exit(s.main(['--device', 'cpu', '--out', {str(out)!r}]))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=200,
                          env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(REPO)})
    assert done.returncode == 0, done.stderr[-2000:]
    steps = json.loads(out.read_text())["steps"]
    assert steps["trainer"]["status"] == "skipped" and "over budget" in steps["trainer"]["note"]
    assert [name for name, entry in steps.items() if entry["status"] == "ok"] == ["ceilings"]
