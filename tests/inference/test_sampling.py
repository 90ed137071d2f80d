"""Inverse-CDF sampling edge cases and the keyed uniforms."""
import numpy as np
import pytest
import torch

from kronos_quant.inference.sampling import SamplingConfig, keyed_uniforms, sample_tokens


@pytest.mark.parametrize("config", [SamplingConfig(top_p=0.5), SamplingConfig(top_k=1 + 1)])
@pytest.mark.parametrize("uniform", [0.0, 0.5, 1 - 2**-26, float(np.nextafter(1.0, 0.0))])
def test_uniforms_near_one_never_pick_a_filtered_token(config, uniform):
    logits = torch.tensor([[5.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 0.0]])  # top_p 0.5 keeps token 0 only
    token = sample_tokens(logits, torch.tensor([uniform], dtype=torch.float64), config).item()
    allowed = {0} if config.top_k == 0 else {0, 1, 2, 3, 4, 5, 6}  # top_k=2 keeps the ties at the 2nd value
    assert token in allowed


def test_keyed_uniforms_depend_on_seed_and_key_only():
    both = keyed_uniforms(["2024-06-13|SH600000", "2024-06-13|SZ000001"], 4, 5, seed=3)
    assert both.shape == (2, 4, 5, 2) and both.dtype == torch.float64
    assert torch.equal(both[1], keyed_uniforms(["2024-06-13|SZ000001"], 4, 5, seed=3)[0])
    assert not torch.equal(both[1], keyed_uniforms(["2024-06-13|SZ000001"], 4, 5, seed=4)[0])
    assert not torch.equal(both[0], both[1])
    many = keyed_uniforms([f"k{i}" for i in range(2000)], 5, 10, seed=0).numpy().ravel()
    assert 0.0 <= many.min() and many.max() < 1.0
    assert abs(many.mean() - 0.5) < 0.005 and abs(many.var() - 1 / 12) < 0.002  # 200k draws
    assert abs(np.corrcoef(many[:-1], many[1:])[0, 1]) < 0.01
