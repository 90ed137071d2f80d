"""Kronos.fine_logits: the one dependency-aware s2 head, causal by argument, never by train/eval mode."""
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config

from kronos_quant import Kronos


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(4)
    return Kronos(tiny_predictor_config())


def inputs(batch=2, length=9, seed=0):
    generator = torch.Generator().manual_seed(seed)
    s1 = torch.randint(0, 16, (batch, length), generator=generator)
    s2 = torch.randint(0, 16, (batch, length), generator=generator)
    return s1, s2, torch.randint(0, 7, (batch, length, 5), generator=generator)


def test_forward_is_causal_in_train_and_eval_mode(model):
    s1, s2, stamp = inputs()
    condition = torch.roll(s1, -1, dims=1)
    with torch.no_grad():
        trained = model.train()(s1, s2, stamp, s1_condition=condition)  # no dropout in the tiny config
        evaluated = model.eval()(s1, s2, stamp, s1_condition=condition)
    torch.testing.assert_close(evaluated.s2_logits, trained.s2_logits, rtol=0, atol=0)


def test_causal_head_does_not_see_later_states(model):
    s1, s2, stamp = inputs(seed=1)
    model.eval()
    with torch.no_grad():
        _, hidden = model.decode_s1(s1, s2, stamp)
        later = hidden.clone()
        later[:, 5:] += 1.0  # change every state after position 4
        causal = [model.fine_logits(h, s1, causal=True) for h in (hidden, later)]
        unmasked = [model.fine_logits(h, s1, causal=False) for h in (hidden, later)]
    torch.testing.assert_close(causal[0][:, :5], causal[1][:, :5], rtol=0, atol=0)
    assert not torch.allclose(unmasked[0][:, :5], unmasked[1][:, :5])  # the official unmasked head sees them
    torch.testing.assert_close(model.decode_s2(hidden, s1), unmasked[0], rtol=0, atol=0)


def test_cached_query_equals_the_full_head_at_the_last_position(model):
    s1, s2, stamp = inputs(seed=2)
    model.eval()
    with torch.no_grad():
        _, hidden = model.decode_s1(s1, s2, stamp)
        cache = model.new_dependency_cache(2, hidden.shape[1], device=hidden.device, dtype=hidden.dtype)
        model.cache_context(hidden, cache)
        nxt = torch.tensor([3, 11])
        cached = model.fine_logits(hidden[:, -1:], nxt[:, None], causal=True, dep_cache=cache)[:, -1]
        full = model.decode_s2(hidden, nxt[:, None])[:, -1]
    torch.testing.assert_close(cached, full, rtol=1e-5, atol=1e-5)


def test_misuse_is_refused(model):
    s1, s2, stamp = inputs(seed=3)
    with torch.no_grad():
        _, hidden = model.decode_s1(s1, s2, stamp)
        with pytest.raises(ValueError, match="one coarse id per state"):
            model.fine_logits(hidden, s1[:, :1], causal=True)
        cache = model.new_dependency_cache(2, hidden.shape[1], device=hidden.device, dtype=hidden.dtype)
        with pytest.raises(ValueError, match="one causal query"):
            model.fine_logits(hidden[:, -1:], s1[:, :1], causal=False, dep_cache=cache)
