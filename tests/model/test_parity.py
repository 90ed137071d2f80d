"""The reference implementation's outputs, reproduced from the parity checkpoints."""
import numpy as np
import pytest
import torch

from kronos_quant import Kronos, KronosTokenizer
from kronos_quant.inference.generation import generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms

pytestmark = pytest.mark.shared  # reads ../shared/fixtures/kronos_parity

RTOL, ATOL = 1e-4, 1e-5


@pytest.fixture(scope="module")
def parity(parity_dir):
    reference = dict(np.load(parity_dir / "reference_outputs.npz"))
    tokenizer = KronosTokenizer.from_pretrained(parity_dir / "tokenizer")
    model = Kronos.from_pretrained(parity_dir / "model")
    return tokenizer, model, {key: torch.from_numpy(value) for key, value in reference.items()}


def test_token_ids_match_exactly(parity):
    tokenizer, _, ref = parity
    with torch.no_grad():
        s1, s2 = tokenizer.encode(ref["x"], half=True)
    assert torch.equal(s1, ref["s1_ids"].long())
    assert torch.equal(s2, ref["s2_ids"].long())


def test_tokenizer_reconstructions(parity):
    tokenizer, _, ref = parity
    with torch.no_grad():
        decoded = tokenizer.decode([ref["s1_ids"], ref["s2_ids"]], half=True)
        output = tokenizer(ref["x"])
    torch.testing.assert_close(decoded, ref["tokenizer_decode"], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(output.recon_coarse, ref["tokenizer_forward_pre"], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(output.recon_full, ref["tokenizer_forward_full"], rtol=RTOL, atol=ATOL)


def test_predictor_logits_and_context(parity):
    _, model, ref = parity
    with torch.no_grad():
        s1_logits, context = model.decode_s1(ref["s1_ids"], ref["s2_ids"], ref["x_stamp"])
        s2_logits = model.decode_s2(context, ref["s1_ids"])
        no_stamp, _ = model.decode_s1(ref["s1_ids"], ref["s2_ids"])
    torch.testing.assert_close(s1_logits, ref["s1_logits"], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(context, ref["context"], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(s2_logits, ref["s2_logits"], rtol=RTOL, atol=ATOL)
    torch.testing.assert_close(no_stamp, ref["s1_logits_without_stamp"], rtol=RTOL, atol=ATOL)


@pytest.mark.parametrize("engine", ["recompute", "cached"])
@pytest.mark.parametrize("max_context", [64, 32])
def test_greedy_forecast(parity, engine, max_context):
    """Decode of the last min(46, max_context) tokens, history included; 32 slides during generation."""
    tokenizer, model, ref = parity
    expected = ref[f"greedy_forecast_max_context_{max_context}"]
    config = GenerationConfig(pred_len=6, max_context=max_context, sampling=SamplingConfig(top_k=1), engine=engine)
    with torch.no_grad():
        s1_hist, s2_hist = tokenizer.encode(ref["x"], half=True)
        stamps = torch.cat([ref["x_stamp"], ref["y_stamp"]], dim=1)
        s1_new, s2_new = generate_tokens(model, s1_hist, s2_hist, stamps, config, draw_uniforms(3, 1, 6, seed=0))
        s1_all, s2_all = torch.cat([s1_hist, s1_new], 1), torch.cat([s2_hist, s2_new], 1)
        decoded = tokenizer.decode([s1_all[:, -max_context:], s2_all[:, -max_context:]], half=True)
    assert decoded.shape == expected.shape
    torch.testing.assert_close(decoded, expected, rtol=RTOL, atol=ATOL)
