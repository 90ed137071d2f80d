"""The chunk-size estimator counts what the engine allocates (issue 24)."""
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config

from kronos_quant import Kronos, KronosTokenizer, predictor_config, tokenizer_config
from kronos_quant.inference.batching import estimate_series_bytes, series_per_chunk
from kronos_quant.inference.generation import generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import draw_uniforms


def test_kronos_small_case_c_in_bf16_by_hand():
    """300 x 5 paths, lookback 90, horizon 10: 90 lookback slots + 5 paths x 9 fed tokens = 135 slots."""
    model = Kronos(predictor_config("small"))
    tokenizer = KronosTokenizer(tokenizer_config("tokenizer-base"))
    config = GenerationConfig(pred_len=10, sample_count=5, autocast="bf16")
    estimate = estimate_series_bytes(model, 90, config, tokenizer)
    assert estimate.kv_cache == 8 * 2 * 135 * 512 * 2  # layers x (k, v) x slots x d_model x bf16
    assert estimate.dependency_cache == 2 * 135 * 512 * 2
    assert estimate.prefill == 90 * (4 * 512 + 2 * (2 * 512 + 4 * 1024))  # float32 residual + the FFN half
    assert 3e6 < estimate.total < 5e6  # the former estimate was 19.2 MB per series
    assert series_per_chunk(model, 90, config, 16 * 2**30, tokenizer=tokenizer) == 16 * 2**30 // estimate.total


@pytest.mark.parametrize("lookback,horizon,context,paths,sliding", [
    (20, 6, 64, 3, "exact"),  # shared prefix, no slide
    (20, 6, 64, 1, "exact"),
    (20, 10, 24, 3, "exact"),  # slides after 4 fed tokens
    (20, 10, 24, 3, "rolling"),  # one ring per path
])
def test_cache_bytes_equal_what_the_engine_allocates(lookback, horizon, context, paths, sliding, monkeypatch):
    torch.manual_seed(0)
    model = Kronos(tiny_predictor_config()).eval()
    seen, seen_dependency = [], []
    original, original_context = Kronos.trunk, Kronos.cache_context

    def spy(self, x, caches=None, step=None):
        if caches is not None and step is not None and step.mask is not None:  # a decode step
            seen.append(sum(cache.nbytes for cache in caches))
        return original(self, x, caches, step)

    def spy_context(self, hidden, dep_cache, slots=None):
        if slots is not None:  # prefill and decode steps; the exact slide's window caches pass none
            seen_dependency.append(dep_cache.nbytes)
        return original_context(self, hidden, dep_cache, slots)

    monkeypatch.setattr(Kronos, "trunk", spy)
    monkeypatch.setattr(Kronos, "cache_context", spy_context)
    config = GenerationConfig(pred_len=horizon, max_context=context, sample_count=paths, sliding=sliding)
    s1, s2 = torch.randint(0, 64, (2, 2, lookback))
    with torch.inference_mode():
        generate_tokens(model, s1, s2, torch.randint(0, 7, (2, lookback + horizon, 5)), config,
                        draw_uniforms(2, paths, horizon, seed=0))
    estimate = estimate_series_bytes(model, lookback, config)
    assert seen and set(seen) == {2 * estimate.kv_cache}  # two series
    assert set(seen_dependency[1:]) == {2 * estimate.dependency_cache}  # [0]: the prefill, before paths split
    assert (estimate.slide > 0) == (sliding == "exact" and lookback + horizon - 1 > context)
