"""Generation speed: the recompute baseline against the cached engine, in one process.

Kronos-small architecture with random weights (speed does not depend on the weights).

    python benchmarks/bench_generation.py                      # (a) and (b) on CPU, (c) fast engine only
    python benchmarks/bench_generation.py --cases a b c --device cuda --autocast bf16 --csi300-year

Cases: (a) 50 series x 5 paths, lookback 90, horizon 10; (b) 1 series, lookback 400, horizon 120
(the README example; the window slides for the last steps); (c) one CSI300 day, 300 x 5 paths.
"""
from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from peak_memory import PeakMemory  # noqa: E402

from kronos_quant import Kronos, KronosTokenizer, predictor_config, tokenizer_config  # noqa: E402
from kronos_quant.inference.forecast import forecast_windows  # noqa: E402
from kronos_quant.inference.generation_config import GenerationConfig  # noqa: E402
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms  # noqa: E402

CASES = {"a": (50, 5, 90, 10), "b": (1, 1, 400, 120), "c": (300, 5, 90, 10)}


def make_series(n_series: int, lookback: int, horizon: int, seed: int = 0):
    """Raw windows (x (N, L, 6) positive bars, x_stamp (N, L, 5), y_stamp (N, H, 5)) of random walks."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(n_series, lookback, 6, generator=generator).mul(0.02).cumsum(1).exp().mul(10).numpy()
    stamps = torch.randint(0, 7, (n_series, lookback + horizon, 5), generator=generator).numpy()
    return x, stamps[:, :lookback], stamps[:, lookback:]


def run(tokenizer, model, series, config, device, repeats=1):
    uniforms = draw_uniforms(len(series[0]), config.sample_count, config.pred_len, seed=0)
    best, peak = float("inf"), 0.0
    for _ in range(repeats):
        with PeakMemory(device) as memory:
            start = time.perf_counter()
            paths = forecast_windows(tokenizer, model, *series, config, uniforms, device=device,
                                     memory_budget_gb=8.0).paths
            if device.type == "cuda":
                torch.cuda.synchronize()
            best = min(best, time.perf_counter() - start)
        peak = max(peak, memory.megabytes)
    return paths, best, peak


def bench_case(name, tokenizer, model, device, args):
    n_series, paths_per_series, lookback, horizon = CASES[name]
    series = make_series(n_series, lookback, horizon)
    sampling = SamplingConfig(temperature=0.6, top_p=0.9)
    forecasts = n_series * paths_per_series
    common = dict(pred_len=horizon, max_context=512, sampling=sampling, sample_count=paths_per_series,
                  autocast=args.autocast)
    engines = [("cached", "exact"), ("cached", "rolling")] if name == "b" else [("cached", "exact")]
    results = {}
    for engine, sliding in engines:
        config = GenerationConfig(engine=engine, sliding=sliding, **common)
        run(tokenizer, model, tuple(part[:2] for part in series), config, device)  # warm-up
        _, seconds, peak = run(tokenizer, model, series, config, device, repeats=args.repeats)
        results[f"{engine}/{sliding}"] = (seconds, peak)
    if name != "c" or args.baseline_c:
        config = GenerationConfig(engine="recompute", **common)
        _, seconds, peak = run(tokenizer, model, series, config, device)
        results["recompute"] = (seconds, peak)
    print(f"\ncase ({name}): {n_series} series x {paths_per_series} paths, lookback {lookback}, horizon {horizon}")
    baseline = results.get("recompute", (None,))[0]
    for label, (seconds, peak) in results.items():
        ratio = f"{baseline / seconds:7.1f}x" if baseline else "      -"
        print(f"  {label:16s} {seconds:9.2f} s  {forecasts / seconds:9.2f} forecasts/s  speed-up {ratio}"
              f"  peak mem {peak:8.1f} MB")


def bench_csi300_year(tokenizer, model, device, args):
    """300 instruments x 250 days x 5 paths (lookback 90, horizon 10), fast engine only."""
    series = make_series(300 * 250, 90, 10)
    config = GenerationConfig(pred_len=10, max_context=512, sampling=SamplingConfig(temperature=0.6, top_p=0.9),
                              sample_count=5, autocast=args.autocast)
    _, seconds, peak = run(tokenizer, model, series, config, device)
    print(f"\nCSI300 year: 75,000 forecasts x 5 paths in {seconds:.2f} s ({75000 / seconds:.0f} forecasts/s), "
          f"peak mem {peak:.0f} MB")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["a", "b", "c"], choices=sorted(CASES))
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--autocast", default=None, choices=[None, "bf16", "fp16"])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--baseline-c", action="store_true", help="also run the slow baseline on case (c)")
    parser.add_argument("--csi300-year", action="store_true")
    args = parser.parse_args()
    device = torch.device(args.device)
    torch.manual_seed(0)
    tokenizer = KronosTokenizer(tokenizer_config("tokenizer-base")).to(device).eval()
    model = Kronos(predictor_config("small")).to(device).eval()
    print(f"torch {torch.__version__}, device {device}, threads {torch.get_num_threads()}, "
          f"{platform.processor() or platform.machine()}, autocast {args.autocast}")
    for name in args.cases:
        bench_case(name, tokenizer, model, device, args)
    if args.csi300_year:
        bench_csi300_year(tokenizer, model, device, args)


if __name__ == "__main__":
    main()
