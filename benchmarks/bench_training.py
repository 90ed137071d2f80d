"""Training-step throughput: the trainer's step vs a plain float32 loop, on the Kronos-small architecture.

    python benchmarks/bench_training.py                       # CPU: batch 16 x 100 tokens, a few steps
    python benchmarks/bench_training.py --batch 64 --tokens 512 --steps 20 --compile   # GPU

"trainer" is the step kronos_quant.training uses: AdamW with fused kernels on CUDA (multi-tensor
``foreach`` on the CPU), bf16 autocast on CUDA, optional torch.compile, grad clipping.
"baseline" is float32 with a per-parameter AdamW (``foreach=False, fused=False``), no autocast,
no compile. Both run the predictor loss ((CE(s1) + CE(s2)) / 2, teacher forcing) on random tokens
with random weights. Reports tokens/s, the ratio, and on CUDA the MFU
(6 x parameters x tokens/s / peak bf16 dense FLOP/s, H200 ~989 TFLOP/s).

Against this machine's own limit (issue 20)::

    python benchmarks/bench_training.py --preset configs/pretrain_cpu.yaml --threads 2

measures in one run a large float32 matmul's GFLOP/s (the practical peak), then the preset's
predictor training step (eager / torch.compile, foreach / fused AdamW, with and without the frozen
tokenizer that the real trainer runs every step): tokens/s and achieved GFLOP/s, where the FLOPs
of a step are counted by torch's FlopCounterMode (forward + backward matmuls, attention included)
and also given by the 6 x N (non-embedding) + 12 x layers x d_model x T per-token formula.
Prints one JSON line per variant.
"""
from __future__ import annotations

import argparse
import contextlib
import logging
import statistics
import time

import torch

from kronos_quant.model import Kronos
from kronos_quant.model.presets import predictor_config
from kronos_quant.training.losses import predictor_loss
from kronos_quant.training.optim import build_optimizer

logger = logging.getLogger("bench_training")
PEAK_BF16_FLOPS = {"H200": 989e12, "H100": 989e12, "A100": 312e12}


def make_batch(batch: int, tokens: int, vocab: int, device: torch.device, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    s1 = torch.randint(0, vocab, (batch, tokens + 1), generator=generator)
    s2 = torch.randint(0, vocab, (batch, tokens + 1), generator=generator)
    stamp = torch.stack([torch.zeros(batch, tokens + 1, dtype=torch.long)] * 2
                        + [torch.randint(0, high, (batch, tokens + 1), generator=generator) for high in (5, 31, 12)],
                        dim=-1)
    stamp[..., 3:] += 1  # day 1-31, month 1-12
    return s1.to(device), s2.to(device), stamp.to(device)


def build_step(name: str, *, device: torch.device, batch, compile_model: bool, config=None):
    """A no-argument callable running one optimizer step of the variant ("trainer" or "baseline").

    ``config``: the architecture (default Kronos-small).
    """
    torch.manual_seed(0)
    model = Kronos(config if config is not None else predictor_config("small")).to(device).train()
    fast = name == "trainer"
    optimizer = build_optimizer(model, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.1, device=device,
                                fused=None if fast else False)
    step_model = torch.compile(model) if (fast and compile_model) else model
    use_bf16 = fast and device.type == "cuda"
    autocast = (lambda: torch.autocast("cuda", dtype=torch.bfloat16)) if use_bf16 else contextlib.nullcontext

    def step() -> None:
        with autocast():
            loss = predictor_loss(step_model, *batch).total
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0, foreach=fast)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def time_variants(steps_by_name: dict, *, device: torch.device, steps: int, warmup: int) -> dict[str, float]:
    """Median seconds per step of each variant; the variants alternate step by step so that a
    machine shared with other jobs slows them alike."""
    for step in steps_by_name.values():
        for _ in range(warmup):
            step()
    timings = {name: [] for name in steps_by_name}
    for _ in range(steps):
        for name, step in steps_by_name.items():
            _sync(device)
            start = time.perf_counter()
            step()
            _sync(device)
            timings[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in timings.items()}


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_flops(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((value for key, value in PEAK_BF16_FLOPS.items() if key in name), None)


def matmul_gflops(device: torch.device, *, size: int = 2048, repeats: int = 10) -> float:
    """Median GFLOP/s of a (size x size) @ (size x size) float32 matmul: the practical peak."""
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(size, size, generator=generator).to(device)
    b = torch.randn(size, size, generator=generator).to(device)
    torch.mm(a, b)
    times = []
    for _ in range(repeats):
        _sync(device)
        start = time.perf_counter()
        torch.mm(a, b)
        _sync(device)
        times.append(time.perf_counter() - start)
    return 2 * size ** 3 / statistics.median(times) / 1e9


def formula_flops_per_token(config, tokens: int) -> float:
    """6 x non-embedding parameters + 12 x layers x d_model x T (attention scores and values, fwd + bwd)."""
    model = Kronos(config)
    embedding = sum(p.numel() for name, p in model.named_parameters() if "embed" in name)
    non_embedding = sum(p.numel() for p in model.parameters()) - embedding
    return 6 * non_embedding + 12 * config.n_layers * config.d_model * tokens


def counted_step_flops(step) -> int:
    """FLOPs of one call of ``step`` as torch's FlopCounterMode counts them (matmuls, attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return counter.get_total_flops()


def build_preset_step(config, *, tokenizer_config, batch_size: int, tokens: int, compile_model: bool,
                      fused: bool, with_tokenizer: bool, device: torch.device):
    """One optimizer step of the pretraining predictor on random bars (optionally tokenised every step)."""
    from kronos_quant.model import KronosTokenizer
    from kronos_quant.training.fit import PredictorObjective

    torch.manual_seed(0)
    model = Kronos(config).to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-4, **({"fused": True} if fused else {"foreach": True}))
    step_model = torch.compile(model) if compile_model else model
    s1, s2, stamp = make_batch(batch_size, tokens, 2 ** config.s1_bits, device)
    objective = PredictorObjective(KronosTokenizer(tokenizer_config).to(device)) if with_tokenizer else None
    bars = torch.randn(batch_size, tokens + 1, 6, device=device)

    def step() -> None:
        if objective is not None:
            loss = objective(step_model, bars, stamp).total
        else:
            loss = predictor_loss(step_model, s1, s2, stamp).total
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)

    return step


def preset_report(args) -> None:
    """The issue-20 figures: matmul peak, then each variant's tokens/s and achieved GFLOP/s (JSON lines)."""
    import json
    import os

    from kronos_quant.model.config import TokenizerConfig
    from kronos_quant.model.kronos import KronosConfig
    from kronos_quant.training.pretrain_config import load_pretrain_config

    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    preset = load_pretrain_config(args.preset)
    config = KronosConfig.from_dict(dict(preset.predictor.model))
    tokenizer_config = TokenizerConfig.from_dict(dict(preset.tokenizer.model))
    tokens = args.tokens or preset.lookback + preset.horizon  # the predictor's input tokens per window
    batch_size = args.batch or preset.predictor.batch_size
    load = open("/proc/loadavg").read().split()[:3] if os.path.exists("/proc/loadavg") else []
    peak = matmul_gflops(device)
    n_params = sum(p.numel() for p in Kronos(config).parameters())
    print(json.dumps({"what": "matmul_fp32", "gflops": round(peak, 1), "threads": torch.get_num_threads(),
                      "loadavg": load}))
    formula = formula_flops_per_token(config, tokens)
    variants = {"eager": dict(compile_model=False, fused=False, with_tokenizer=False),
                "eager_fused": dict(compile_model=False, fused=True, with_tokenizer=False),
                "compiled": dict(compile_model=True, fused=False, with_tokenizer=False),
                "compiled_fused": dict(compile_model=True, fused=True, with_tokenizer=False),
                "trainer_with_tokenizer": dict(compile_model=False, fused=False, with_tokenizer=True)}
    steps = {name: build_preset_step(config, tokenizer_config=tokenizer_config, batch_size=batch_size,
                                     tokens=tokens, device=device, **variants[name])
             for name in args.variants.split(",")}
    counted = {name: counted_step_flops(step) for name, step in steps.items() if "compiled" not in name}
    # the variants alternate step by step, so a machine shared with other jobs slows them alike
    seconds_per_step = time_variants(steps, device=device, steps=args.steps, warmup=args.warmup)
    peak_after = matmul_gflops(device)
    print(json.dumps({"what": "matmul_fp32_after", "gflops": round(peak_after, 1),
                      "loadavg": open("/proc/loadavg").read().split()[:3]}))
    peak = max(peak, peak_after)
    for name, seconds in seconds_per_step.items():
        rate = batch_size * tokens / seconds
        row = {"what": name, "parameters": n_params, "batch": batch_size, "tokens": tokens,
               "ms_per_step": round(seconds * 1e3, 1), "tokens_per_s": round(rate),
               "gflops_formula": round(rate * formula / 1e9, 2),
               "pct_of_matmul_peak_formula": round(100 * rate * formula / 1e9 / peak, 1),
               "threads": torch.get_num_threads(), "loadavg": open("/proc/loadavg").read().split()[:3]}
        if name in counted:  # FlopCounterMode cannot trace a compiled graph; eager counts hold for it too
            row.update(gflops_counted=round(counted[name] / seconds / 1e9, 2),
                       pct_of_matmul_peak_counted=round(100 * counted[name] / seconds / 1e9 / peak, 1))
        print(json.dumps(row), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=100, help="input tokens per window")
    parser.add_argument("--steps", type=int, default=3, help="timed steps per variant")
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--compile", action="store_true", help="torch.compile the trainer variant")
    parser.add_argument("--preset", default=None, help="a pretraining YAML: report against the matmul peak")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (CPU)")
    parser.add_argument("--variants", default="eager,eager_fused,compiled,compiled_fused,trainer_with_tokenizer",
                        help="with --preset: comma-separated variants to time")
    args = parser.parse_args()
    if args.preset is not None:
        args.batch = args.batch if args.batch != 16 else None
        args.tokens = args.tokens if args.tokens != 100 else None
        preset_report(args)
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    device = torch.device(args.device)
    config = predictor_config("small")
    n_params = sum(p.numel() for p in Kronos(config).parameters())
    batch = make_batch(args.batch, args.tokens, 2 ** config.s1_bits, device)
    tokens_per_step = args.batch * args.tokens
    logger.info("Kronos-small (%.1fM parameters) on %s: batch %d x %d tokens, %d timed steps",
                n_params / 1e6, torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                args.batch, args.tokens, args.steps)
    variants = {name: build_step(name, device=device, batch=batch, compile_model=args.compile)
                for name in ("baseline", "trainer")}
    seconds_per_step = time_variants(variants, device=device, steps=args.steps, warmup=args.warmup)
    rates = {}
    for name, seconds in seconds_per_step.items():
        rates[name] = tokens_per_step / seconds
        line = f"{name:9s} {seconds * 1e3:9.1f} ms/step {rates[name]:12,.0f} tokens/s"
        peak = peak_flops(device)
        if peak:
            line += f"  MFU {6 * n_params * rates[name] / peak:6.1%}"
        logger.info(line)
    logger.info("speed-up trainer / baseline: %.2fx", rates["trainer"] / rates["baseline"])


if __name__ == "__main__":
    main()
