"""The cached engine against the recompute baseline on random tiny models."""
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

from kronos_quant import Kronos, KronosTokenizer
from kronos_quant.inference.generation import generate_paths, generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms


@pytest.fixture(scope="module")
def tiny_pair():
    torch.manual_seed(3)
    return KronosTokenizer(tiny_tokenizer_config()).eval(), Kronos(tiny_predictor_config()).eval()


def random_inputs(batch, lookback, horizon, seed=0):
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, lookback, 6, generator=generator).clamp(-5, 5)
    stamps = torch.randint(0, 7, (batch, lookback + horizon, 5), generator=generator)
    return x, stamps[:, :lookback], stamps[:, lookback:]


# (lookback, horizon, max_context): no slide, slide during generation, lookback beyond the context
CASES = [(12, 3, 64), (20, 25, 64), (30, 12, 32), (40, 5, 16), (8, 10, 10)]


@pytest.mark.parametrize("lookback,horizon,max_context", CASES)
@pytest.mark.parametrize("sample_count", [1, 3])
def test_greedy_tokens_equal(tiny_pair, lookback, horizon, max_context, sample_count):
    tokenizer, model = tiny_pair
    x, x_stamp, y_stamp = random_inputs(4, lookback, horizon)
    uniforms = draw_uniforms(4, sample_count, horizon, seed=1)
    outputs = {}
    with torch.no_grad():
        s1, s2 = tokenizer.encode(x)
        stamps = torch.cat([x_stamp, y_stamp], 1)
        for engine in ("recompute", "cached"):
            config = GenerationConfig(pred_len=horizon, max_context=max_context, sample_count=sample_count,
                                      sampling=SamplingConfig(top_k=1), engine=engine)
            outputs[engine] = generate_tokens(model, s1, s2, stamps, config, uniforms)
    assert torch.equal(outputs["recompute"][0], outputs["cached"][0])
    assert torch.equal(outputs["recompute"][1], outputs["cached"][1])


@pytest.mark.parametrize("lookback,horizon,max_context", CASES)
def test_sampled_paths_match_within_float_tolerance(tiny_pair, lookback, horizon, max_context):
    tokenizer, model = tiny_pair
    x, x_stamp, y_stamp = random_inputs(3, lookback, horizon, seed=5)
    uniforms = draw_uniforms(3, 4, horizon, seed=2)
    sampling = SamplingConfig(temperature=0.8, top_p=0.9)
    paths = [generate_paths(tokenizer, model, x, x_stamp, y_stamp,
                            GenerationConfig(pred_len=horizon, max_context=max_context, sample_count=4,
                                             sampling=sampling, engine=engine), uniforms)
             for engine in ("recompute", "cached")]
    assert paths[0].shape == (3, 4, horizon, 6)
    torch.testing.assert_close(paths[0], paths[1], rtol=1e-4, atol=1e-4)


def test_rolling_mode_is_exact_before_the_window_slides(tiny_pair):
    tokenizer, model = tiny_pair
    x, x_stamp, y_stamp = random_inputs(2, 10, 6)
    uniforms = draw_uniforms(2, 2, 6, seed=0)
    configs = [GenerationConfig(pred_len=6, max_context=32, sample_count=2, sliding=mode,
                                sampling=SamplingConfig(top_k=1)) for mode in ("exact", "rolling")]
    exact, rolling = (generate_paths(tokenizer, model, x, x_stamp, y_stamp, c, uniforms) for c in configs)
    torch.testing.assert_close(exact, rolling)
    sliding = GenerationConfig(pred_len=12, max_context=12, sliding="rolling", sampling=SamplingConfig(top_k=1))
    x, x_stamp, y_stamp = random_inputs(2, 10, 12)
    paths = generate_paths(tokenizer, model, x, x_stamp, y_stamp, sliding, draw_uniforms(2, 1, 12, seed=0))
    assert paths.shape == (2, 1, 12, 6) and torch.isfinite(paths).all()


def test_bf16_autocast_close_to_float32(tiny_pair):
    """Mixed precision: trunk logits within 5% of their float32 scale (bf16 has an 8-bit mantissa)."""
    _, model = tiny_pair
    s1 = torch.randint(0, 64, (3, 20))
    s2 = torch.randint(0, 64, (3, 20))
    stamp = torch.randint(0, 7, (3, 20, 5))
    with torch.no_grad():
        reference, _ = model.decode_s1(s1, s2, stamp)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            mixed, _ = model.decode_s1(s1, s2, stamp)
    error = (mixed.float() - reference).abs().max() / reference.abs().max()
    assert error < 0.05, float(error)


def test_generation_config_validation():
    with pytest.raises(ValueError, match="engine must be one of"):
        GenerationConfig(pred_len=3, engine="fast")
    with pytest.raises(ValueError, match="pred_len must be >= 1"):
        GenerationConfig(pred_len=0)
    with pytest.raises(ValueError, match="at most max_context bars"):
        GenerationConfig(pred_len=30, max_context=10)
    with pytest.raises(ValueError, match="temperature"):
        SamplingConfig(temperature=0)
    with pytest.raises(ValueError, match="top_p"):
        SamplingConfig(top_p=1.5)


@pytest.mark.parametrize("engine", ["cached", "recompute"])
def test_paths_dispatch_through_generate_tokens_only(tiny_pair, engine, monkeypatch):
    """One engine dispatch: generate_paths encodes, calls generate_tokens, decodes; nothing engine-specific."""
    from kronos_quant.inference import generation

    tokenizer, model = tiny_pair
    calls = []
    original = generation.generate_tokens
    monkeypatch.setattr(generation, "generate_tokens", lambda *args: calls.append(args[4].engine) or original(*args))
    x, x_stamp, y_stamp = random_inputs(2, 12, 3)
    config = GenerationConfig(pred_len=3, max_context=32, sample_count=2, engine=engine)
    paths = generate_paths(tokenizer, model, x, x_stamp, y_stamp, config, draw_uniforms(2, 2, 3, seed=0))
    assert calls == [engine] and paths.shape == (2, 2, 3, 6)
