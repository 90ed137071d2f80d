"""Milliseconds per one-token decode step of the cached engine, against the weight-read bound.

Kronos-small (random weights), one series, one path, lookback 400 (case (b)'s shape before its window
slides). The step time is the slope between two horizons, so prefill and decoding cancel out. The bound
is the time of plain matrix-vector products over the same weight matrices (one read of every weight).

    OMP_NUM_THREADS=1 python benchmarks/bench_decode_step.py --repeats 5
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch

from kronos_quant import Kronos, predictor_config
from kronos_quant.inference.generation import generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms


def generation_seconds(model, s1, s2, stamps, horizon: int) -> float:
    config = GenerationConfig(pred_len=horizon, max_context=512, sampling=SamplingConfig(temperature=0.6, top_p=0.9))
    uniforms = draw_uniforms(1, 1, horizon, seed=0)
    start = time.perf_counter()
    generate_tokens(model, s1, s2, stamps[:, : s1.shape[1] + horizon], config, uniforms)
    return time.perf_counter() - start


def weight_read_seconds(model) -> float:
    matrices = [module.weight for module in model.modules() if isinstance(module, torch.nn.Linear)]
    vectors = [torch.randn(1, m.shape[1]) for m in matrices]
    start = time.perf_counter()
    for matrix, vector in zip(matrices, vectors):
        torch.nn.functional.linear(vector, matrix)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--lookback", type=int, default=400)
    parser.add_argument("--steps", type=int, default=60, help="extra one-token steps between the two horizons")
    args = parser.parse_args()
    torch.manual_seed(0)
    model = Kronos(predictor_config("small")).eval()
    s1, s2 = torch.randint(0, 1024, (2, 1, args.lookback))
    stamps = torch.randint(0, 7, (1, args.lookback + args.steps + 2, 5))
    slopes, bounds = [], []
    with torch.inference_mode():
        generation_seconds(model, s1, s2, stamps, 2)
        for _ in range(args.repeats):
            short = generation_seconds(model, s1, s2, stamps, 2)
            long = generation_seconds(model, s1, s2, stamps, 2 + args.steps)
            slopes.append((long - short) / args.steps)
            bounds.append(weight_read_seconds(model))
    weights = [module.weight for module in model.modules() if isinstance(module, torch.nn.Linear)]
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}; lookback {args.lookback}, "
          f"{args.steps} steps, {args.repeats} repeats")
    print(f"one-token step: median {statistics.median(slopes) * 1e3:.2f} ms (runs "
          f"{', '.join(f'{s * 1e3:.1f}' for s in slopes)})")
    print(f"weight read of {sum(w.numel() for w in weights) * 4 / 1e6:.0f} MB (matrix-vector over every 2-D "
          f"weight): median {statistics.median(bounds) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
