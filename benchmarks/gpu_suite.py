"""Every GPU measurement in one run planned for about 8 minutes (driven by ``benchmarks/gpu_suite.sh``; no
qlib, synthetic data).

Steps, in order; each checks the time left first and is skipped, with a note, when it would not fit:

1. ``ceilings``: the device's own: a large bf16 matmul (TFLOP/s) and a device-to-device copy (GB/s).
2. ``generation``: cases (a), (b), (c) of bench_generation.py and the study's 16-path setting, each with the
   cached and the recompute engine at the SAME precision, in bf16 and in float32 (TF32 off), in
   forecasts = series x paths per second.
3. ``chunk_sweep``: forecasts/s of 4,096 windows x 5 paths at several chunk sizes.
4. ``profile_chunk``: torch.profiler over one chunk: GPU busy share, kernels and aten calls per decode step.
5. ``csi300_year``: 300 x 250 windows x 5 paths in chunks sized by the memory estimator.
5b. ``generation_compiled``: cases (b) and (c) with the one-token step under torch.compile.
6. ``trainer``: the real trainer (fit_tokenizer, then fit_predictor at batch 64 / 256 / 1024, eager and
   compiled, 100-token windows) with MFU from FlopCounterMode against the bf16 dense peak.
7. ``resume``: exact resume of fit_predictor on CUDA (CUDA RNG, fused AdamW state).
8. ``token_agreement``: bf16 against float32 token ids with trained weights: a pretraining run's
   (``--pretrained RUN_DIR``, carried in an ignored folder), else those step 6 trained.
9. ``pytest_gpu``: ``pytest -m gpu``, last, capped at 2 minutes.

Every timing warms up at the full shape first, synchronises around each run and reports the median of
several runs. Figures go to one JSON file (``--out``), rewritten after every step, so a run cut short keeps
what it measured. ``--device cpu`` runs a tiny smoke version of every step (tests/test_gpu_suite.py).
Generation weights are random (speed does not depend on them); step 8 uses trained ones.
"""
from __future__ import annotations

import argparse
import json
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_generation import make_series  # noqa: E402
from gpu_suite_training import step_resume, step_token_agreement, step_trainer  # noqa: E402

from kronos_quant import Kronos, KronosConfig, KronosTokenizer, TokenizerConfig  # noqa: E402
from kronos_quant.inference.batching import estimate_series_bytes  # noqa: E402
from kronos_quant.inference.forecast import forecast_windows  # noqa: E402
from kronos_quant.inference.generation_config import GenerationConfig  # noqa: E402
from kronos_quant.inference.op_count import ops_per_decode_step  # noqa: E402
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms  # noqa: E402
from kronos_quant.io_utils import atomic_write  # noqa: E402
from kronos_quant.model.presets import predictor_config, tokenizer_config  # noqa: E402

TINY_TOKENIZER = TokenizerConfig(d_in=6, d_model=32, n_heads=4, ff_dim=64, n_enc_layers=2, n_dec_layers=2,
                                 s1_bits=6, s2_bits=6, group_size=4)
TINY_PREDICTOR = KronosConfig(s1_bits=6, s2_bits=6, n_layers=2, d_model=32, n_heads=4, ff_dim=64)
SAMPLING = SamplingConfig(temperature=0.6, top_p=0.9)
# generation cases: (series, paths, lookback, horizon); "study" is csi300_gpu.yaml's forecast (16 paths)
FULL_CASES = {"a": (50, 5, 90, 10), "b": (1, 1, 400, 120), "c": (300, 5, 90, 10), "study": (300, 16, 90, 10)}
SMOKE_CASES = {"a": (4, 2, 20, 3), "b": (1, 1, 40, 6), "c": (6, 2, 20, 3), "study": (6, 4, 20, 3)}
SIZES = {
    "full": dict(cases=FULL_CASES, repeats=3, matmul=8192, copy_bytes=2**31, sweep=(4096, (256, 1024, 2048, 4096)),
                 profile_series=2048, year=(75_000, 5, 90, 10), agreement=(256, 5, 10), resume=(64, 12, 7),
                 trainer={"tokenizer": (256, 150), "predictor": ((64, 300), (256, 200), (1024, 100)),
                          "compile": (False, True), "needs_per_run": 25},
                 needs={"ceilings": 10, "generation": 90, "chunk_sweep": 30, "profile_chunk": 15, "csi300_year": 30,
                        "generation_compiled": 60, "trainer": 120, "resume": 20, "token_agreement": 10,
                        "pytest_gpu": 30}),
    "smoke": dict(cases=SMOKE_CASES, repeats=2, matmul=128, copy_bytes=2**20, sweep=(24, (8, 24)), profile_series=6,
                  year=(40, 2, 20, 3), agreement=(4, 2, 3), resume=(4, 4, 3),
                  trainer={"tokenizer": (4, 3), "predictor": ((4, 3),), "compile": (False,), "needs_per_run": 0},
                  needs={}),
}
PYTEST_CAP_S = 120


class Suite:
    """Shared state of one run: networks, sizes, the clock and the figures written so far."""

    def __init__(self, args):
        self.device = torch.device(args.device)
        self.smoke = args.smoke or self.device.type == "cpu"
        self.sizes = SIZES["smoke" if self.smoke else "full"]
        self.budget_s, self.out = args.budget_s, Path(args.out)
        self.started = time.monotonic()
        torch.backends.cuda.matmul.allow_tf32 = False  # float32 means float32: no TF32 in the fp32 figures
        torch.backends.cudnn.allow_tf32 = False
        torch.manual_seed(0)
        tok_config = TINY_TOKENIZER if self.smoke else tokenizer_config("tokenizer-base")
        self.predictor_config = TINY_PREDICTOR if self.smoke else predictor_config("small")
        self.tokenizer_spec = tok_config.to_dict() if self.smoke else "tokenizer-base"
        self.predictor_spec = self.predictor_config.to_dict() if self.smoke else "small"
        self.tokenizer = KronosTokenizer(tok_config).to(self.device).eval()
        self.model = Kronos(self.predictor_config).to(self.device).eval()
        self.trained: dict = {}  # checkpoint dirs the trainer step wrote
        self.pretrained = args.pretrained
        self.scratch: list[Path] = []  # temporary checkpoint folders, removed at the end
        self.figures = {"meta": self.meta(), "steps": {}}

    def meta(self) -> dict:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else platform.processor()
        return {"device": str(self.device), "device_name": name or platform.machine(), "torch": torch.__version__,
                "smoke": self.smoke, "budget_s": self.budget_s, "tf32": False,
                "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "threads": torch.get_num_threads()}

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def record(self, name: str, entry: dict) -> None:
        self.figures["steps"][name] = entry
        self.figures["meta"]["elapsed_s"] = round(time.monotonic() - self.started, 2)
        atomic_write(self.out, lambda path: Path(path).write_text(json.dumps(self.figures, indent=2)))

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    def timed(self, fn, repeats: int | None = None) -> dict:
        """Median seconds of ``fn()`` over ``repeats`` runs after one warm-up run (the caller's full shape)."""
        fn()
        seconds = []
        for _ in range(repeats or self.sizes["repeats"]):
            self.sync()
            start = time.perf_counter()
            fn()
            self.sync()
            seconds.append(time.perf_counter() - start)
        return {"median_s": round(statistics.median(seconds), 5), "runs_s": [round(value, 5) for value in seconds]}

    def generation_config(self, horizon: int, paths: int, **overrides) -> GenerationConfig:
        values = dict(pred_len=horizon, max_context=512, sampling=SAMPLING, sample_count=paths)
        values.update(overrides)
        return GenerationConfig(**values)

    def memory_budget_gb(self) -> float:
        """Chunk budget: 60% of the free device memory (a fixed small budget on the CPU)."""
        if self.device.type != "cuda":
            return 0.05
        free, _ = torch.cuda.mem_get_info(self.device)
        return 0.6 * free / 2**30

    def forecast(self, series, config: GenerationConfig, uniforms: torch.Tensor, budget_gb: float | None = None):
        return forecast_windows(self.tokenizer, self.model, *series, config, uniforms, device=self.device,
                                memory_budget_gb=budget_gb or self.memory_budget_gb())


def step_ceilings(suite: Suite) -> dict:
    n, size = suite.sizes["matmul"], suite.sizes["copy_bytes"]
    dtype = torch.bfloat16
    a, b = (torch.randn(n, n, device=suite.device, dtype=dtype) for _ in range(2))
    matmul = suite.timed(lambda: a @ b, repeats=10)
    source = torch.empty(size, dtype=torch.uint8, device=suite.device)
    target = torch.empty_like(source)
    copy = suite.timed(lambda: target.copy_(source), repeats=10)
    return {"matmul_n": n, "matmul_bf16_tflops": round(2 * n**3 / matmul["median_s"] / 1e12, 2),
            "copy_bytes": size, "d2d_copy_gb_per_s": round(2 * size / copy["median_s"] / 1e9, 1),
            "note": "copy GB/s counts read + write"}


def step_generation(suite: Suite) -> dict:
    figures = {}
    for name, (n_series, paths, lookback, horizon) in suite.sizes["cases"].items():
        series = make_series(n_series, lookback, horizon)
        uniforms = draw_uniforms(n_series, paths, horizon, seed=0)
        case = {"series": n_series, "paths": paths, "lookback": lookback, "horizon": horizon}
        for precision in ("bf16", "fp32"):
            for engine in ("cached", "recompute"):
                if suite.left() < 15:
                    case[f"{engine}/{precision}"] = {"status": "skipped (budget)"}
                    continue
                config = suite.generation_config(horizon, paths, engine=engine, autocast=precision)
                timing = suite.timed(lambda: suite.forecast(series, config, uniforms))
                case[f"{engine}/{precision}"] = {**timing, "forecasts_per_s":
                                                 round(n_series * paths / timing["median_s"], 2)}
        for precision in ("bf16", "fp32"):
            cached, recompute = case[f"cached/{precision}"], case[f"recompute/{precision}"]
            if "median_s" in cached and "median_s" in recompute:
                case[f"speed_up_same_precision_{precision}"] = round(recompute["median_s"] / cached["median_s"], 2)
        if "median_s" in case["cached/bf16"] and "median_s" in case["cached/fp32"]:
            case["cached_bf16_over_fp32"] = round(case["cached/fp32"]["median_s"] / case["cached/bf16"]["median_s"], 2)
        figures[name] = case
    return figures


def step_chunk_sweep(suite: Suite) -> dict:
    n_series, chunk_sizes = suite.sizes["sweep"]
    paths, lookback, horizon = 5, 90 if not suite.smoke else 20, 10 if not suite.smoke else 3
    series = make_series(n_series, lookback, horizon, seed=7)
    uniforms = draw_uniforms(n_series, paths, horizon, seed=0)
    config = suite.generation_config(horizon, paths, autocast="bf16")
    per_series = estimate_series_bytes(suite.model, lookback, config, suite.tokenizer).total
    figures = {"series": n_series, "paths": paths, "estimated_bytes_per_series": per_series, "chunks": {}}
    for size in chunk_sizes:
        budget = (size + 0.5) * per_series / 2**30
        timing = suite.timed(lambda: suite.forecast(series, config, uniforms, budget), repeats=2)
        figures["chunks"][str(size)] = {**timing, "forecasts_per_s": round(n_series * paths / timing["median_s"], 1)}
    if suite.device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(suite.device)
        suite.forecast(series, config, uniforms, (chunk_sizes[-1] + 0.5) * per_series / 2**30)
        figures["peak_allocated_bytes_largest_chunk"] = torch.cuda.max_memory_allocated(suite.device)
        figures["estimated_bytes_largest_chunk"] = chunk_sizes[-1] * per_series
    return figures


def _busy_share(events, wall_us: float) -> float | None:
    spans = sorted((event.time_range.start, event.time_range.end) for event in events
                   if event.device_type == torch.autograd.DeviceType.CUDA)
    if not spans:
        return None
    busy, (start, end) = 0.0, spans[0]
    for low, high in spans[1:]:
        if low > end:
            busy, start, end = busy + end - start, low, high
        else:
            end = max(end, high)
    return round((busy + end - start) / wall_us, 4)


def step_profile_chunk(suite: Suite) -> dict:
    from torch.profiler import ProfilerActivity, profile

    n_series, paths, lookback, horizon = suite.sizes["profile_series"], 5, *suite.sizes["cases"]["c"][2:]
    series = make_series(n_series, lookback, horizon, seed=8)
    uniforms = draw_uniforms(n_series, paths, horizon, seed=0)
    config = suite.generation_config(horizon, paths, autocast="bf16")
    budget = 2 * n_series * estimate_series_bytes(suite.model, lookback, config, suite.tokenizer).total / 2**30
    suite.forecast(series, config, uniforms, budget)  # warm-up at the shape profiled
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if suite.device.type == "cuda" else [])
    suite.sync()
    with profile(activities=activities) as prof:
        start = time.perf_counter()
        suite.forecast(series, config, uniforms, budget)
        suite.sync()
        wall = time.perf_counter() - start
    table = prof.key_averages().table(sort_by="self_cuda_time_total" if suite.device.type == "cuda"
                                      else "self_cpu_time_total", row_limit=25)
    (suite.out.parent / "profile_chunk.txt").write_text(table)
    ids = torch.randint(0, 2 ** suite.predictor_config.s1_bits, (2, min(n_series, 64), lookback), device=suite.device)
    stamps = torch.from_numpy(series[1][: ids.shape[1]]).long().to(suite.device)
    stamps = torch.cat([stamps, stamps[:, :horizon + 4]], 1)
    with torch.autocast(suite.device.type, dtype=torch.bfloat16):
        per_step = ops_per_decode_step(suite.model, ids[0], ids[1], stamps, config)
    return {"series": n_series, "paths": paths, "wall_s": round(wall, 4),
            "gpu_busy_share": _busy_share(prof.events(), wall * 1e6),
            "per_decode_step": per_step._asdict(), "table": "profile_chunk.txt (beside the figures)"}


def step_csi300_year(suite: Suite) -> dict:
    n_windows, paths, lookback, horizon = suite.sizes["year"]
    series = make_series(n_windows, lookback, horizon, seed=4)
    config = suite.generation_config(horizon, paths, autocast="bf16")
    uniforms = draw_uniforms(n_windows, paths, horizon, seed=0)
    budget = suite.memory_budget_gb()
    chunk = max(1, int(budget * 2**30 // estimate_series_bytes(suite.model, lookback, config, suite.tokenizer).total))
    warm = min(chunk, n_windows)
    suite.forecast(tuple(part[:warm] for part in series), config, uniforms[:warm], budget)  # a full chunk
    suite.sync()
    start = time.perf_counter()
    suite.forecast(series, config, uniforms, budget)
    suite.sync()
    seconds = time.perf_counter() - start
    return {"windows": n_windows, "paths": paths, "chunk_series": chunk, "chunks": -(-n_windows // chunk),
            "memory_budget_gb": round(budget, 2), "seconds": round(seconds, 3),
            "forecasts_per_s": round(n_windows * paths / seconds, 1), "target_s": 10}


def step_generation_compiled(suite: Suite) -> dict:
    """Cases (b) and (c), cached bf16, with the one-token step under torch.compile (inductor, no CUDA
    graphs): the first call compiles (reported apart), then the median of timed runs."""
    figures = {"backend": "inductor"}
    if suite.smoke:  # inductor takes ~50 s on the 2-core CPU: the smoke run traces with the eager backend
        from kronos_quant.inference import cached

        cached.compiled_feed_token = lambda device_type: torch.compile(cached.feed_token, backend="eager",
                                                                       dynamic=False)
        figures["backend"] = "eager (smoke)"
    for name in ("b", "c"):
        n_series, paths, lookback, horizon = suite.sizes["cases"][name]
        series = make_series(n_series, lookback, horizon)
        uniforms = draw_uniforms(n_series, paths, horizon, seed=0)
        config = suite.generation_config(horizon, paths, autocast="bf16", compile=True)
        start = time.perf_counter()
        compiled_paths = suite.forecast(series, config, uniforms)
        suite.sync()
        first_call = time.perf_counter() - start
        timing = suite.timed(lambda: suite.forecast(series, config, uniforms))
        eager_paths = suite.forecast(series, suite.generation_config(horizon, paths, autocast="bf16"), uniforms)
        figures[name] = {**timing, "first_call_s": round(first_call, 2),
                         "forecasts_per_s": round(n_series * paths / timing["median_s"], 2),
                         "paths_equal_eager_share": round(float((compiled_paths.paths == eager_paths.paths).mean()), 4)}
    return figures


def step_pytest_gpu(suite: Suite) -> dict:
    try:
        import pytest  # noqa: F401
    except ImportError:
        return {"status": "skipped", "note": "pytest is not installed on this machine"}
    repo = HERE.parent
    files = sorted(str(path.relative_to(repo)) for path in (repo / "tests").rglob("test_*.py")
                   if "pytest.mark.gpu" in path.read_text())
    if not files:
        return {"status": "skipped", "note": "no test file carries pytest.mark.gpu"}
    command = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", *files]
    cap = max(1.0, min(PYTEST_CAP_S, suite.left()))
    try:
        done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=cap)
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "files": files, "cap_s": cap}
    (suite.out.parent / "pytest_gpu.log").write_text(done.stdout + done.stderr)
    tail = done.stdout.strip().splitlines()[-1:] or [""]
    return {"status": "ok" if done.returncode == 0 else "failed", "returncode": done.returncode, "files": files,
            "summary": tail[0], "cap_s": cap}


STEPS = (("ceilings", step_ceilings), ("generation", step_generation), ("chunk_sweep", step_chunk_sweep),
         ("profile_chunk", step_profile_chunk), ("csi300_year", step_csi300_year),
         ("generation_compiled", step_generation_compiled), ("trainer", step_trainer),
         ("resume", step_resume), ("token_agreement", step_token_agreement), ("pytest_gpu", step_pytest_gpu))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", required=True, help="the JSON file the figures go to (other files go beside it)")
    parser.add_argument("--budget-s", type=float, default=480.0, help="seconds for all steps together")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (implied by --device cpu)")
    parser.add_argument("--pretrained", help="a pretraining run folder (kronos-quant pretrain's out_dir/<key>) "
                        "whose weights the token agreement uses instead of the trainer step's")
    parser.add_argument("--steps", nargs="+", choices=[name for name, _ in STEPS], help="run only these steps")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("CUDA is not available here; run with --device cpu for the smoke version")
    suite = Suite(args)
    failed = False
    for name, step in STEPS:
        if args.steps and name not in args.steps:
            continue
        needs = suite.sizes["needs"].get(name, 0)
        if suite.left() < needs:
            suite.record(name, {"status": "skipped", "note": f"over budget: {suite.left():.0f} s left, "
                                                             f"the step needs about {needs} s"})
            continue
        start = time.monotonic()
        try:
            entry = step(suite)
            entry.setdefault("status", "ok")
        except Exception as err:  # one failing step must not lose the others' figures
            entry, failed = {"status": "error", "error": f"{type(err).__name__}: {err}"[:2000]}, True
        entry["wall_s"] = round(time.monotonic() - start, 2)
        suite.record(name, entry)
        print(f"{name}: {json.dumps(entry)[:1500]}", flush=True)
    for folder in suite.scratch:
        shutil.rmtree(folder, ignore_errors=True)
    failed = failed or any(entry["status"] in ("failed", "timeout") for entry in suite.figures["steps"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
