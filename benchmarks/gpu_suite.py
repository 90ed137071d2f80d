"""Every GPU measurement in one short run (driven by ``benchmarks/gpu_suite.sh``; no qlib, synthetic data).

Steps, in order (each checks the time left first and is skipped, with a note, when it would not fit):

1. ``generation_c``: case (c) of bench_generation.py, one CSI300 day (300 series x 5 paths, lookback 90,
   horizon 10): the cached engine (autocast bf16 on CUDA) against the recompute baseline (float32).
2. ``bf16_agreement``: bf16 autocast against float32 on the same random-weight networks: trunk logits
   (relative error), greedy tokens (share equal) and sampled paths (same uniforms; close at the horizon).
3. ``training``: bench_training.py's trainer step (bf16, fused AdamW) and plain float32 loop: tokens/s, MFU.
4. ``pytest_gpu``: ``pytest -m gpu`` on the test files that carry the mark (skipped without pytest).
5. ``csi300_year``: 300 x 250 forecasts x 5 paths, in 10 slabs; when time runs out, the slabs done and
   the throughput are reported (the full-year time is then marked as extrapolated).

Figures go to one JSON file (``--out``), rewritten after every step, so a run cut short keeps what it
measured. ``--device cpu`` runs a tiny smoke version of every step (tiny networks, a few windows).
Weights are random: speed does not depend on them; the bf16 agreement of trained weights may differ.
"""
from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from bench_generation import make_series, run as run_generation  # noqa: E402
from bench_training import build_step, make_batch, peak_flops, time_variants  # noqa: E402

from kronos_quant import Kronos, KronosConfig, KronosTokenizer, TokenizerConfig  # noqa: E402
from kronos_quant.inference.forecast import forecast_windows  # noqa: E402
from kronos_quant.inference.generation_config import GenerationConfig  # noqa: E402
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms  # noqa: E402
from kronos_quant.io_utils import atomic_write  # noqa: E402
from kronos_quant.model.presets import predictor_config, tokenizer_config  # noqa: E402

TINY_TOKENIZER = TokenizerConfig(d_in=6, d_model=32, n_heads=4, ff_dim=64, n_enc_layers=2, n_dec_layers=2,
                                 s1_bits=6, s2_bits=6, group_size=4)
TINY_PREDICTOR = KronosConfig(s1_bits=6, s2_bits=6, n_layers=2, d_model=32, n_heads=4, ff_dim=64)
# (series, paths, lookback, horizon) per case; training (batch, tokens, steps, warmup); seconds a step needs
SIZES = {
    "full": dict(case_c=(300, 5, 90, 10), year=(75_000, 5, 90, 10), agreement=(64, 90, 10),
                 training=(64, 512, 10, 3), needs={"generation_c": 60, "bf16_agreement": 30, "training": 90,
                                                   "pytest_gpu": 60, "csi300_year": 60}),
    "smoke": dict(case_c=(6, 2, 20, 3), year=(40, 2, 20, 3), agreement=(4, 20, 3), training=(2, 16, 1, 1),
                  needs={}),
}
SAMPLING = SamplingConfig(temperature=0.6, top_p=0.9)


class Suite:
    """Shared state of one run: networks, sizes, the clock and the figures written so far."""

    def __init__(self, args):
        self.device = torch.device(args.device)
        self.smoke = args.smoke or self.device.type == "cpu"
        self.sizes = SIZES["smoke" if self.smoke else "full"]
        self.autocast = "bf16" if self.device.type == "cuda" else None
        self.budget_s, self.out, self.compile = args.budget_s, Path(args.out), args.compile
        self.started = time.monotonic()
        torch.manual_seed(0)
        tok_config = TINY_TOKENIZER if self.smoke else tokenizer_config("tokenizer-base")
        self.predictor_config = TINY_PREDICTOR if self.smoke else predictor_config("small")
        self.tokenizer = KronosTokenizer(tok_config).to(self.device).eval()
        self.model = Kronos(self.predictor_config).to(self.device).eval()
        self.figures = {"meta": self.meta(), "steps": {}}

    def meta(self) -> dict:
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else platform.processor()
        return {"device": str(self.device), "device_name": name or platform.machine(), "torch": torch.__version__,
                "smoke": self.smoke, "budget_s": self.budget_s, "autocast": self.autocast,
                "date_utc": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime()), "threads": torch.get_num_threads()}

    def left(self) -> float:
        return self.budget_s - (time.monotonic() - self.started)

    def record(self, name: str, entry: dict) -> None:
        self.figures["steps"][name] = entry
        self.figures["meta"]["elapsed_s"] = round(time.monotonic() - self.started, 2)
        atomic_write(self.out, lambda path: Path(path).write_text(json.dumps(self.figures, indent=2)))

    def config(self, horizon: int, paths: int, **overrides) -> GenerationConfig:
        values = dict(pred_len=horizon, max_context=512, sampling=SAMPLING, sample_count=paths,
                      autocast=self.autocast)
        values.update(overrides)
        return GenerationConfig(**values)


def step_generation_c(suite: Suite) -> dict:
    n_series, paths, lookback, horizon = suite.sizes["case_c"]
    series = make_series(n_series, lookback, horizon)
    warm = tuple(part[:2] for part in series)
    figures = {"series": n_series, "paths": paths, "lookback": lookback, "horizon": horizon}
    for label, config in (("cached", suite.config(horizon, paths)),
                          ("recompute", suite.config(horizon, paths, engine="recompute", autocast=None))):
        run_generation(suite.tokenizer, suite.model, warm, config, suite.device)
        _, seconds, peak = run_generation(suite.tokenizer, suite.model, series, config, suite.device)
        figures[label] = {"seconds": round(seconds, 4), "forecasts_per_s": round(n_series / seconds, 2),
                          "peak_mem_mb": round(peak, 1), "autocast": config.autocast}
    figures["speed_up"] = round(figures["recompute"]["seconds"] / figures["cached"]["seconds"], 2)
    return figures


def step_bf16_agreement(suite: Suite) -> dict:
    n_series, lookback, horizon = suite.sizes["agreement"]
    x, x_stamp, y_stamp = make_series(n_series, lookback, horizon, seed=1)
    vocab = 2 ** suite.predictor_config.s1_bits
    generator = torch.Generator().manual_seed(2)
    ids = [torch.randint(0, vocab, (n_series, lookback), generator=generator).to(suite.device) for _ in range(2)]
    stamps = torch.from_numpy(x_stamp).long().to(suite.device)
    with torch.no_grad():
        reference, _ = suite.model.decode_s1(ids[0], ids[1], stamps)
        with torch.autocast(suite.device.type, dtype=torch.bfloat16):
            mixed, _ = suite.model.decode_s1(ids[0], ids[1], stamps)
    logit_error = float((mixed.float() - reference).abs().max() / reference.abs().max())
    greedy = SamplingConfig(top_k=1)
    uniforms = draw_uniforms(n_series, 4, horizon, seed=3)
    results = {}
    for precision in ("fp32", "bf16"):
        greedy_config = GenerationConfig(pred_len=horizon, sampling=greedy, autocast=precision)
        sampled_config = GenerationConfig(pred_len=horizon, sampling=SAMPLING, sample_count=4, autocast=precision)
        results[precision] = (
            forecast_windows(suite.tokenizer, suite.model, x, x_stamp, y_stamp, greedy_config, uniforms[:, :1],
                             device=suite.device).paths,
            forecast_windows(suite.tokenizer, suite.model, x, x_stamp, y_stamp, sampled_config, uniforms,
                             device=suite.device).paths)
    greedy_equal = np.isclose(results["fp32"][0], results["bf16"][0], rtol=1e-3).all(axis=(-1, -3))  # (N, H)
    end_close = [paths[..., -1, 3] / x[:, None, -1, 3] - 1.0 for _, paths in (results["fp32"], results["bf16"])]
    return {"series": n_series, "lookback": lookback, "horizon": horizon,
            "trunk_logits_max_rel_error": round(logit_error, 5),
            "greedy_bars_equal_share": round(float(greedy_equal.mean()), 4),
            "sampled_end_return_mean_abs_diff": round(float(np.abs(end_close[0] - end_close[1]).mean()), 6),
            "sampled_end_return_corr": round(float(np.corrcoef(end_close[0].ravel(), end_close[1].ravel())[0, 1]),
                                             4)}


def step_training(suite: Suite) -> dict:
    batch_size, tokens, steps, warmup = suite.sizes["training"]
    config = suite.predictor_config
    batch = make_batch(batch_size, tokens, 2 ** config.s1_bits, suite.device)
    variants = {name: build_step(name, device=suite.device, batch=batch, compile_model=suite.compile,
                                 config=config) for name in ("baseline", "trainer")}
    seconds = time_variants(variants, device=suite.device, steps=steps, warmup=warmup)
    n_params = sum(p.numel() for p in Kronos(config).parameters())
    peak = peak_flops(suite.device)
    figures = {"batch": batch_size, "tokens": tokens, "steps": steps, "parameters": n_params,
               "compile": suite.compile, "peak_bf16_flops": peak}
    for name, value in seconds.items():
        rate = batch_size * tokens / value
        figures[name] = {"ms_per_step": round(value * 1e3, 2), "tokens_per_s": round(rate, 1),
                         "mfu": round(6 * n_params * rate / peak, 4) if peak else None}
    figures["speed_up"] = round(seconds["baseline"] / seconds["trainer"], 3)
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
    try:
        done = subprocess.run(command, cwd=repo, capture_output=True, text=True, timeout=max(1.0, suite.left()))
    except subprocess.TimeoutExpired:
        return {"status": "timeout", "files": files}
    tail = done.stdout.strip().splitlines()[-1:] or [""]
    return {"status": "ok" if done.returncode == 0 else "failed", "returncode": done.returncode, "files": files,
            "summary": tail[0], "output_tail": (done.stdout + done.stderr)[-2000:] if done.returncode else ""}


def step_csi300_year(suite: Suite) -> dict:
    n_windows, paths, lookback, horizon = suite.sizes["year"]
    series = make_series(n_windows, lookback, horizon, seed=4)
    config = suite.config(horizon, paths)
    uniforms = draw_uniforms(n_windows, paths, horizon, seed=0)
    slabs = np.array_split(np.arange(n_windows), 10)
    forecast_windows(suite.tokenizer, suite.model, *(part[:8] for part in series), config, uniforms[:8],
                     device=suite.device)  # warm-up
    done, seconds = 0, 0.0
    for rows in slabs:
        if done and suite.left() < seconds / done * len(rows) * 1.2:
            break
        start = time.perf_counter()
        forecast_windows(suite.tokenizer, suite.model, *(part[rows] for part in series), config,
                         uniforms[torch.from_numpy(rows)], device=suite.device, memory_budget_gb=16.0)
        if suite.device.type == "cuda":
            torch.cuda.synchronize()
        seconds += time.perf_counter() - start
        done += len(rows)
    rate = done / seconds
    return {"windows": n_windows, "windows_done": done, "paths": paths, "seconds": round(seconds, 3),
            "forecasts_per_s": round(rate, 1), "full_year_seconds": round(n_windows / rate, 2),
            "extrapolated": done < n_windows}


STEPS = (("generation_c", step_generation_c), ("bf16_agreement", step_bf16_agreement),
         ("training", step_training), ("pytest_gpu", step_pytest_gpu), ("csi300_year", step_csi300_year))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--out", required=True, help="the JSON file the figures go to")
    parser.add_argument("--budget-s", type=float, default=450.0, help="seconds for all steps together")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes (implied by --device cpu)")
    parser.add_argument("--compile", action="store_true", help="torch.compile the trainer step (slow to start)")
    args = parser.parse_args(argv)
    if args.device.startswith("cuda") and not torch.cuda.is_available():
        parser.error("CUDA is not available here; run with --device cpu for the smoke version")
    suite = Suite(args)
    failed = False
    for name, step in STEPS:
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
            entry, failed = {"status": "error", "error": f"{type(err).__name__}: {err}"}, True
        entry["wall_s"] = round(time.monotonic() - start, 2)
        suite.record(name, entry)
        print(f"{name}: {json.dumps(entry)}", flush=True)
    failed = failed or any(entry["status"] in ("failed", "timeout") for entry in suite.figures["steps"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
