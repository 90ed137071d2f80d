"""CUDA checks (run by benchmarks/gpu_suite.sh on a GPU machine; skipped elsewhere)."""
import numpy as np
import pytest
import torch

from kronos_quant import Kronos, KronosTokenizer
from kronos_quant.inference.forecast import forecast_windows
from kronos_quant.inference.generation import generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]


@pytest.fixture(scope="module")
def pairs():
    torch.manual_seed(8)
    tokenizer, model = KronosTokenizer(tiny_tokenizer_config()).eval(), Kronos(tiny_predictor_config()).eval()
    cuda = (KronosTokenizer(tiny_tokenizer_config()).eval(), Kronos(tiny_predictor_config()).eval())
    cuda[0].load_state_dict(tokenizer.state_dict())
    cuda[1].load_state_dict(model.state_dict())
    return (tokenizer, model), (cuda[0].cuda(), cuda[1].cuda())


def windows(n=6, lookback=40, horizon=8, seed=0):
    rng = np.random.default_rng(seed)
    bars = 10 * np.exp(np.cumsum(rng.normal(0, 0.02, (n, lookback, 6)), axis=1))
    stamps = rng.integers(0, 7, (n, lookback + horizon, 5))
    return bars, stamps[:, :lookback], stamps[:, lookback:]


@pytest.mark.parametrize("max_context", [64, 24])  # 24: the window slides during generation
def test_greedy_engines_agree_on_cuda(pairs, max_context):
    _, (tokenizer, model) = pairs
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(4, 30, 6, generator=generator).clamp(-5, 5).cuda()
    stamps = torch.randint(0, 7, (4, 38, 5), generator=generator).cuda()
    uniforms = draw_uniforms(4, 2, 8, seed=0)
    with torch.no_grad():
        s1, s2 = tokenizer.encode(x, half=True)
        out = [generate_tokens(model, s1, s2, stamps, GenerationConfig(
            pred_len=8, max_context=max_context, sample_count=2, sampling=SamplingConfig(top_k=1), engine=engine),
            uniforms.float().cuda()) for engine in ("recompute", "cached")]
    assert torch.equal(out[0][0], out[1][0]) and torch.equal(out[0][1], out[1][1])


def test_cuda_forecast_matches_cpu_in_float32(pairs):
    (tokenizer, model), (tokenizer_cuda, model_cuda) = pairs
    config = GenerationConfig(pred_len=8, max_context=64, sample_count=3, sampling=SamplingConfig(top_k=1))
    uniforms = draw_uniforms(6, 3, 8, seed=2)
    cpu = forecast_windows(tokenizer, model, *windows(), config, uniforms).paths
    gpu = forecast_windows(tokenizer_cuda, model_cuda, *windows(), config, uniforms).paths
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-3)


def test_bf16_forecast_is_finite_and_close_in_level(pairs):
    _, (tokenizer, model) = pairs
    uniforms = draw_uniforms(6, 4, 8, seed=3)
    paths = {precision: forecast_windows(tokenizer, model, *windows(seed=4), GenerationConfig(
        pred_len=8, max_context=64, sample_count=4, sampling=SamplingConfig(temperature=0.6, top_p=0.9),
        autocast=precision), uniforms).paths for precision in ("fp32", "bf16")}
    assert np.isfinite(paths["bf16"]).all()
    np.testing.assert_allclose(np.median(paths["bf16"][..., 3]), np.median(paths["fp32"][..., 3]), rtol=0.1)
