"""Fixed-seed generation cases whose outputs were saved from the pre-static-shape cached engine (issue 24).

``python tests/inference/engine_reference.py`` rewrites ``data/engine_reference.npz``; it was run once, on the
engine as it was before the static-shape decode, so that the test compares the new decode with the old one.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

from kronos_quant import Kronos, KronosTokenizer
from kronos_quant.inference.generation import generate_paths, generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms

REFERENCE = Path(__file__).resolve().parent / "data" / "engine_reference.npz"
GREEDY = SamplingConfig(top_k=1)
NUCLEUS = SamplingConfig(temperature=0.6, top_p=0.9)
# name: (series, lookback, horizon, max_context, sample_count, sampling, sliding)
CASES = {
    "greedy_no_slide": (4, 12, 3, 64, 1, GREEDY, "exact"),
    "nucleus_paths_no_slide": (3, 20, 25, 64, 3, NUCLEUS, "exact"),
    "nucleus_slides_during_generation": (3, 30, 12, 32, 4, SamplingConfig(temperature=0.8, top_p=0.9), "exact"),
    "top_k_lookback_beyond_context": (2, 40, 5, 16, 2, SamplingConfig(temperature=1.0, top_k=5), "exact"),
    "nucleus_horizon_equals_context": (2, 8, 10, 10, 3, NUCLEUS, "exact"),
    "greedy_paths_rolling": (3, 10, 6, 32, 2, GREEDY, "rolling"),
    "nucleus_rolling_slides": (2, 20, 20, 24, 3, NUCLEUS, "rolling"),
}


def tiny_pair() -> tuple[KronosTokenizer, Kronos]:
    torch.manual_seed(3)
    return KronosTokenizer(tiny_tokenizer_config()).eval(), Kronos(tiny_predictor_config()).eval()


def case_inputs(series: int, lookback: int, horizon: int, seed: int):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(series, lookback, 6, generator=generator).clamp(-5, 5)
    stamps = torch.randint(0, 7, (series, lookback + horizon, 5), generator=generator)
    return x, stamps[:, :lookback], stamps[:, lookback:]


def run_case(tokenizer, model, name: str, engine: str = "cached") -> dict[str, torch.Tensor]:
    """Token ids (B * P, H) of both heads and decoded paths (B, P, H, 6) of one case."""
    series, lookback, horizon, context, paths, sampling, sliding = CASES[name]
    seed = sorted(CASES).index(name)
    x, x_stamp, y_stamp = case_inputs(series, lookback, horizon, seed)
    uniforms = draw_uniforms(series, paths, horizon, seed=seed + 100)
    config = GenerationConfig(pred_len=horizon, max_context=context, sample_count=paths, sampling=sampling,
                              sliding=sliding, engine=engine)
    with torch.inference_mode():
        s1, s2 = tokenizer.encode(x)
        s1_new, s2_new = generate_tokens(model, s1, s2, torch.cat([x_stamp, y_stamp], 1), config, uniforms)
    decoded = generate_paths(tokenizer, model, x, x_stamp, y_stamp, config, uniforms)
    return {"s1": s1_new, "s2": s2_new, "paths": decoded}


def main() -> None:
    tokenizer, model = tiny_pair()
    arrays = {}
    for name in CASES:
        for key, value in run_case(tokenizer, model, name).items():
            arrays[f"{name}/{key}"] = value.numpy()
    REFERENCE.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(REFERENCE, **arrays)
    print(f"wrote {len(arrays)} arrays to {REFERENCE}")


if __name__ == "__main__":
    main()
