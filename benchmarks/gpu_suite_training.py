"""The GPU suite's training steps: the real trainer (fit_tokenizer / fit_predictor), its MFU, exact resume,
and the bf16 / float32 token agreement of the weights it trained. Driven by ``gpu_suite.py``.

MFU counts the FLOPs of one training step with ``torch.utils.flop_counter.FlopCounterMode`` (matmuls and
attention, forward and backward; embeddings and element-wise work are not FLOPs there), divided by the
dense peak of the dtype the step runs in. The frozen tokenizer's encode, which the trainer runs every step,
is counted apart (``tokenizer_flops_per_step``): it is work the step does, not training FLOPs.
"""
from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file
from torch.utils.flop_counter import FlopCounterMode

from kronos_quant import Kronos, KronosTokenizer
from kronos_quant.inference.generation import generate_tokens, precision_context
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms
from kronos_quant.training import TrainConfig, fit_predictor, fit_tokenizer
from kronos_quant.training.datasets import WindowArrays, random_walk_windows
from kronos_quant.training.losses import predictor_loss

# dense peaks (no sparsity), FLOP/s, by device name and the dtype the matmuls run in
PEAK_FLOPS = {"H200": {"bf16": 989e12, "tf32": 494e12, "fp32": 67e12},
              "H100": {"bf16": 989e12, "tf32": 494e12, "fp32": 67e12},
              "A100": {"bf16": 312e12, "tf32": 156e12, "fp32": 19.5e12}}
WINDOW = 101  # 90 lookback + 10 horizon + 1: the configs' 100-token training windows


def peak_flops(device: torch.device, dtype: str) -> float | None:
    """The dense peak of ``dtype`` ("bf16", "tf32", "fp32") on this CUDA device, None if unknown or CPU."""
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    return next((table[dtype] for key, table in PEAK_FLOPS.items() if key in name), None)


class SimulatedCrash(RuntimeError):
    pass


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class StepClock:
    """``on_step_end`` hook: the time of steps ``warm`` and the last one, synchronised at those two only, so
    the trainer keeps its own rhythm (a host sync every ``log_every`` steps) in between."""

    def __init__(self, device: torch.device, warm: int, last: int):
        self.device, self.warm, self.last, self.marks = device, warm, last, {}

    def __call__(self, step: int) -> None:
        if step in (self.warm, self.last):
            _sync(self.device)
            self.marks[step] = time.perf_counter()

    def seconds_per_step(self) -> float:
        return (self.marks[self.last] - self.marks[self.warm]) / (self.last - self.warm)


def train_config(out_dir: Path, model, *, batch: int, steps: int, device: torch.device, compile_model: bool,
                 **changes) -> TrainConfig:
    values = dict(model=model, out_dir=str(out_dir), batch_size=batch, max_steps=steps, warmup_steps=10,
                  device=str(device), bf16=True, compile=compile_model, log_every=50, valid_windows=256,
                  epochs=1000, seed=0)
    values.update(changes)
    return TrainConfig(**values)


def windows(n_windows: int, seed: int) -> WindowArrays:
    return random_walk_windows(n_windows, WINDOW, seed=seed)


def step_flops(model: Kronos, tokenizer: KronosTokenizer, batch: int, device: torch.device) -> tuple[int, int]:
    """(training FLOPs of one predictor step, the frozen tokenizer's encode FLOPs), counted on one batch."""
    data = windows(batch, seed=9)
    bars = torch.from_numpy(data.bars).to(device)
    stamps = torch.from_numpy(data.stamps).long().to(device)
    model = model.to(device).train()
    with FlopCounterMode(display=False) as encode_counter, torch.no_grad():
        s1, s2 = tokenizer.to(device).eval().encode(bars)
    autocast = torch.autocast(device.type, dtype=torch.bfloat16, enabled=device.type == "cuda")
    with FlopCounterMode(display=False) as counter:
        with autocast:
            loss = predictor_loss(model, s1, s2, stamps).total
        loss.backward()
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops(), encode_counter.get_total_flops()


def step_trainer(suite) -> dict:
    """fit_tokenizer once, then fit_predictor at each batch size, eager and compiled: tokens/s and MFU."""
    sizes = suite.sizes["trainer"]
    device, work = suite.device, Path(tempfile.mkdtemp(prefix="gpu_suite_train_"))  # checkpoints stay off $OUT
    suite.scratch.append(work)
    valid = windows(512, seed=1)
    tok_batch, tok_steps = sizes["tokenizer"]
    clock = StepClock(device, warm=min(10, tok_steps - 1), last=tok_steps)
    tok_result = fit_tokenizer(train_config(work / "tok", suite.tokenizer_spec, batch=tok_batch, steps=tok_steps,
                                            device=device, compile_model=False),
                               windows(tok_batch * (tok_steps + 1), seed=0), valid, on_step_end=clock)
    figures = {"window_tokens": WINDOW - 1, "tokenizer": {"batch": tok_batch, "steps": tok_steps,
                                                            "ms_per_step": round(clock.seconds_per_step() * 1e3, 2)}}
    suite.trained = {"tokenizer": tok_result.best_dir}
    tokenizer = KronosTokenizer.from_pretrained(tok_result.best_dir, device=device)
    peak = peak_flops(device, "bf16")
    runs = []
    for compile_model in sizes["compile"]:
        for batch, steps in sizes["predictor"]:
            if suite.left() < sizes["needs_per_run"] * (3 if compile_model else 1):  # compiling takes a minute
                runs.append({"batch": batch, "compile": compile_model, "status": "skipped (budget)"})
                continue
            clock = StepClock(device, warm=min(20, steps - 1), last=steps)
            result = fit_predictor(train_config(work / f"pred_{batch}_{int(compile_model)}", suite.predictor_spec,
                                                batch=batch, steps=steps, device=device, compile_model=compile_model,
                                                tokenizer=str(tok_result.best_dir)),
                                   windows(batch * (steps + 1), seed=2), valid, tokenizer=tokenizer,
                                   on_step_end=clock)
            seconds = clock.seconds_per_step()
            flops, encode_flops = step_flops(Kronos.from_pretrained(result.last_dir), tokenizer, batch, device)
            runs.append({"batch": batch, "compile": compile_model, "steps": steps,
                         "ms_per_step": round(seconds * 1e3, 2),
                         "tokens_per_s": round(batch * (WINDOW - 1) / seconds, 1),
                         "train_flops_per_step": flops, "tokenizer_flops_per_step": encode_flops,
                         "mfu_bf16": round(flops / seconds / peak, 4) if peak else None})
            suite.trained["predictor"] = result.last_dir
    figures.update(runs=runs, peak_flops_bf16=peak, flop_counter="torch.utils.flop_counter.FlopCounterMode")
    return figures


def step_resume(suite) -> dict:
    """An interrupted fit_predictor resumed from resume.pt ends bit-identical to an uninterrupted one (CUDA RNG,
    fused AdamW state), deterministic algorithms on."""
    batch, steps, crash = suite.sizes["resume"]
    device, work = suite.device, Path(tempfile.mkdtemp(prefix="gpu_suite_resume_"))
    suite.scratch.append(work)
    train, valid = windows(batch * (steps + 1), seed=3), windows(256, seed=4)
    tokenizer_dir = suite.trained.get("tokenizer")
    if tokenizer_dir is None:
        return {"status": "skipped", "note": "needs the trainer step's tokenizer"}
    common = dict(batch=batch, steps=steps, device=device, compile_model=False, tokenizer=str(tokenizer_dir),
                  eval_every=crash - 1, deterministic=True, teacher_forcing=False,
                  model={**suite.predictor_config.to_dict(), "token_dropout_p": 0.1})

    def crash_at(step: int) -> None:
        if step == crash:
            raise SimulatedCrash(f"simulated crash after step {step}")

    full = fit_predictor(train_config(work / "full", **common), train, valid)
    try:
        fit_predictor(train_config(work / "cut", **common), train, valid, on_step_end=crash_at)
    except SimulatedCrash:
        pass
    resumed = fit_predictor(train_config(work / "cut", resume=True, **common), train, valid)
    expected, got = load_file(Path(full.last_dir) / "model.safetensors"), load_file(Path(resumed.last_dir)
                                                                                     / "model.safetensors")
    equal = [key for key in expected if torch.equal(expected[key], got[key])]
    return {"batch": batch, "steps": steps, "crash_after_step": crash, "tensors": len(expected),
            "bit_identical_tensors": len(equal), "exact": len(equal) == len(expected)}


def step_token_agreement(suite) -> dict:
    """bf16 against float32 token ids of the trained weights, greedy and sampled with the same uniforms."""
    device = suite.device
    if suite.pretrained is not None:  # a pretraining run folder carried to the device (never committed)
        from kronos_quant.training.pretrain import load_pretrained

        tokenizer, model = load_pretrained(suite.pretrained, device=str(device))
        source = f"pretraining run {suite.pretrained}"
    elif "predictor" in suite.trained:
        tokenizer = KronosTokenizer.from_pretrained(suite.trained["tokenizer"], device=device)
        model = Kronos.from_pretrained(suite.trained["predictor"], device=device)
        source = "the trainer step's (a few hundred steps on synthetic random walks)"
    else:
        return {"status": "skipped", "note": "needs the trainer step's weights or --pretrained RUN_DIR"}
    tokenizer, model = tokenizer.eval(), model.eval()
    n_series, paths, horizon = suite.sizes["agreement"]
    data = windows(n_series, seed=5)
    bars = torch.from_numpy(data.bars).to(device)
    stamps = torch.from_numpy(data.stamps).long().to(device)
    lookback = WINDOW - 1 - horizon
    uniforms = draw_uniforms(n_series, paths, horizon, seed=6).to(device)
    figures = {"series": n_series, "paths": paths, "horizon": horizon, "weights": source}
    with torch.inference_mode():
        s1, s2 = tokenizer.encode(bars[:, :lookback])
        for label, sampling, count in (("greedy", SamplingConfig(top_k=1), 1),
                                       ("sampled", SamplingConfig(temperature=0.6, top_p=0.9), paths)):
            ids = {}
            for precision in ("fp32", "bf16"):
                config = GenerationConfig(pred_len=horizon, sampling=sampling, sample_count=count, autocast=precision)
                with precision_context(device, config.autocast_dtype):
                    ids[precision] = generate_tokens(model, s1, s2, stamps[:, : lookback + horizon], config,
                                                     uniforms[:, :count])
            same = [(ids["fp32"][head] == ids["bf16"][head]).cpu().numpy() for head in (0, 1)]  # (R, H) each
            both = same[0] & same[1]
            first_diff = np.where(both.all(1), horizon, np.argmin(both, axis=1))  # horizon: never diverges
            figures[label] = {"s1_equal_share": round(float(same[0].mean()), 4),
                              "s2_equal_share": round(float(same[1].mean()), 4),
                              "first_step_equal_share": round(float(both[:, 0].mean()), 4),
                              "paths_identical_share": round(float(both.all(1).mean()), 4),
                              "median_first_divergent_step": float(np.median(first_diff))}
    return figures

