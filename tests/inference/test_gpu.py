"""CUDA checks (run by benchmarks/gpu_suite.sh on a GPU machine; skipped elsewhere)."""
import numpy as np
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config, tiny_tokenizer_config

from kronos_quant import Kronos, KronosTokenizer
from kronos_quant.inference.forecast import forecast_windows
from kronos_quant.inference.generation import generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms

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


@pytest.fixture(scope="module")
def trained_cuda_pair(tmp_path_factory):
    """A tiny tokenizer + predictor trained 60 steps on random-walk windows (CPU, ~5 s), moved to CUDA: trained
    logits have margins, so a correct bf16 decode picks the fp32 tokens almost everywhere."""
    from kronos_quant.training import TrainConfig, fit_predictor, fit_tokenizer
    from kronos_quant.training.datasets import random_walk_windows

    out = tmp_path_factory.mktemp("bf16")
    train, valid = random_walk_windows(512, 48, seed=0), random_walk_windows(64, 48, seed=1)
    common = dict(lr=3e-3, warmup_steps=5, batch_size=32, epochs=1, windows_per_epoch=32 * 60, seed=0,
                  device="cpu", eval_every=60, log_every=60)
    tokenizer = fit_tokenizer(TrainConfig(model=tiny_tokenizer_config().to_dict(), out_dir=str(out / "tok"),
                                          **common), train, valid)
    model = fit_predictor(TrainConfig(model=tiny_predictor_config().to_dict(), tokenizer=str(tokenizer.best_dir),
                                      out_dir=str(out / "pred"), **common), train, valid)
    return (KronosTokenizer.from_pretrained(tokenizer.best_dir).eval().cuda(),
            Kronos.from_pretrained(model.best_dir).eval().cuda(), random_walk_windows(16, 48, seed=5))


def test_bf16_tokens_match_fp32_on_a_trained_model(trained_cuda_pair):
    from kronos_quant.inference.generation import precision_context

    tokenizer, model, test = trained_cuda_pair
    x, stamps = torch.from_numpy(test.bars[:, :40]).float().cuda(), torch.from_numpy(test.stamps).cuda()
    uniforms = draw_uniforms(16, 2, 8, seed=0).float().cuda()
    ids = {}
    for precision, dtype in (("fp32", None), ("bf16", torch.bfloat16)):
        config = GenerationConfig(pred_len=8, max_context=64, sample_count=2, sampling=SamplingConfig(top_k=1),
                                  autocast=precision)
        with torch.no_grad(), precision_context(x.device, dtype):
            s1, s2 = tokenizer.encode(x, half=True)  # (16, 40) lookback ids
            ids[precision] = (s1, s2, *generate_tokens(model, s1, s2, stamps, config, uniforms))  # + (32, 8) new
    agree = [(fp32 == bf16).float().mean().item() for fp32, bf16 in zip(ids["fp32"], ids["bf16"])]
    # 64-token vocabularies: unrelated ids agree ~1.6% of the time; bf16 rounding flips only near-ties
    assert min(agree[:2]) >= 0.95, f"lookback s1/s2 ids agree on {agree[:2]}"
    assert min(agree[2:]) >= 0.9, f"generated s1/s2 ids agree on {agree[2:]}"
    assert (ids["fp32"][2][:, 0] == ids["bf16"][2][:, 0]).float().mean().item() >= 0.95  # the first new bar
    paths = forecast_windows(tokenizer, model, *windows(seed=4), GenerationConfig(
        pred_len=8, max_context=64, sample_count=4, sampling=SamplingConfig(temperature=0.6, top_p=0.9),
        autocast="bf16"), draw_uniforms(6, 4, 8, seed=3)).paths
    assert np.isfinite(paths).all()
