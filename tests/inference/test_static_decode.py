"""The static-shape decode (issue 24): same outputs as before, fixed shapes, fewer operations per step."""
import engine_reference as reference
import numpy as np
import pytest
import torch
from kronos_test_helpers import tiny_predictor_config

from kronos_quant import Kronos
from kronos_quant.inference.decode_plan import plan_decode
from kronos_quant.inference.generation import generate_tokens
from kronos_quant.inference.generation_config import GenerationConfig
from kronos_quant.inference.op_count import ops_per_decode_step
from kronos_quant.inference.sampling import SamplingConfig, draw_uniforms, filter_logits
from kronos_quant.model.kv_cache import StaticKVCache
from kronos_quant.model.layers import RMSNorm, RotaryEmbedding

NUCLEUS = SamplingConfig(temperature=0.6, top_p=0.9)


@pytest.fixture(scope="module")
def pair():
    return reference.tiny_pair()


@pytest.fixture(scope="module")
def saved():
    return dict(np.load(reference.REFERENCE))


@pytest.mark.parametrize("name", sorted(reference.CASES))
def test_decode_equals_the_engine_before_static_shapes_bit_for_bit(pair, saved, name):
    """Token ids and decoded float32 paths equal those the pre-issue-24 engine saved, to the last bit."""
    outputs = reference.run_case(*pair, name)
    for key in ("s1", "s2", "paths"):
        np.testing.assert_array_equal(outputs[key].numpy(), saved[f"{name}/{key}"], err_msg=f"{name}/{key}")


def test_decode_steps_keep_their_shapes_and_buffers(pair, monkeypatch):
    """Every decode step feeds the trunk tensors of one shape, and no cache is reallocated or resized."""
    _, model = pair
    seen = []
    original = Kronos.trunk

    def spy(self, x, caches=None, step=None):
        if caches is not None and step is not None and step.mask is not None:
            seen.append((tuple(x.shape), tuple(step.mask.shape), tuple(step.slots.shape), tuple(step.cos.shape),
                         tuple((cache.keys.shape, cache.keys.data_ptr()) for cache in caches)))
        return original(self, x, caches, step)

    monkeypatch.setattr(Kronos, "trunk", spy)
    s1, s2 = torch.randint(0, 64, (2, 2, 15))
    config = GenerationConfig(pred_len=9, max_context=64, sample_count=3, sampling=NUCLEUS)
    with torch.inference_mode():
        generate_tokens(model, s1, s2, torch.randint(0, 7, (2, 24, 5)), config, draw_uniforms(2, 3, 9, seed=0))
    assert len(seen) == 8 and len(set(seen)) == 1, seen[:2]
    assert seen[0][0] == (2, 3, 32)  # (series, paths, d): the 3 paths are the queries of one cache row


def test_shared_layout_masks_let_a_path_see_the_prefix_and_its_own_tokens_only():
    model = Kronos(tiny_predictor_config())
    plan = plan_decode(model, history=4, horizon=4, paths=2, context=64, rolling=False, device=torch.device("cpu"),
                       dtype=torch.float32)
    assert (plan.slots, plan.cached_steps) == (4 + 2 * 3, 3)
    assert plan.write_slots.tolist() == [[4, 7], [5, 8], [6, 9]]
    visible = plan.masks == 0  # additive masks: 0 where a query attends
    assert visible[0].tolist() == [[True] * 4 + [False] * 6] * 2
    assert visible[2].tolist() == [[True] * 6 + [False] * 4, [True] * 4 + [False] * 3 + [True] * 2 + [False]]
    ring = plan_decode(model, history=5, horizon=8, paths=2, context=6, rolling=True, device=torch.device("cpu"),
                       dtype=torch.float32)
    assert ring.write_slots[:, 0].tolist() == [5, 0, 1, 2, 3, 4, 5] and ring.rows_per_series == 2
    assert (ring.masks == 0).sum(-1)[:, 0].tolist() == [5, 6, 6, 6, 6, 6, 6, 6]


# Kronos-small's depth (8 blocks): the count depends on the depth, not on the width.
# Before issue 24 a nucleus step took 664 top-level aten calls (2,270 in all) with 1 path and 880 (3,053) with
# 5 paths; a greedy step 608 (2,112). After: 341 (1,811) whatever the paths, greedy 297 (1,675).
OPS_BUDGET = {"nucleus": (345, 1820), "greedy": (300, 1685)}


@pytest.mark.parametrize("sampling", ["nucleus", "greedy"])
def test_operations_per_decode_step_do_not_regrow(sampling):
    torch.manual_seed(0)
    model = Kronos(tiny_predictor_config(n_layers=8)).eval()
    s1, s2 = torch.randint(0, 64, (2, 3, 20))
    stamps = torch.randint(0, 7, (3, 60, 5))
    config = {"nucleus": NUCLEUS, "greedy": SamplingConfig(top_k=1)}[sampling]
    counts = [ops_per_decode_step(model, s1, s2, stamps, GenerationConfig(pred_len=4, sampling=config,
                                                                           sample_count=paths))
              for paths in (1, 5)]
    assert counts[0] == counts[1]  # the shared prefix costs no operation per path
    top_level, total = OPS_BUDGET[sampling]
    assert counts[0].top_level <= top_level and counts[0].aten <= total, counts[0]


def test_top_p_filter_keeps_the_nucleus_of_the_sort_and_scatter_formula():
    """The one-sort threshold filter keeps exactly the tokens of the former sort + scatter formula."""
    logits = torch.randn(64, 1024, generator=torch.Generator().manual_seed(0)) * 3
    for top_p in (0.05, 0.5, 0.9, 0.999):
        sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
        drop = sorted_logits.softmax(-1).cumsum(-1) > top_p
        drop[..., 1:] = drop[..., :-1].clone()
        drop[..., 0] = False
        expected = logits.masked_fill(drop.scatter(-1, order, drop), float("-inf"))
        assert torch.equal(filter_logits(logits, 0, top_p), expected), top_p


def test_sampling_heads_and_their_norms_run_in_float32_under_autocast():
    torch.manual_seed(1)
    model = Kronos(tiny_predictor_config()).eval()
    hidden = torch.randn(3, 5, 32).bfloat16()
    with torch.no_grad():
        exact = torch.nn.functional.linear(hidden.float(), model.head.proj_s1.weight, model.head.proj_s1.bias)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            logits = model.head.proj_s1(hidden)
            normed = model.norm(hidden)
            inner = model.transformer[0].norm1(hidden)
    assert logits.dtype == torch.float32 and torch.equal(logits, exact)
    assert normed.dtype == torch.float32  # no round trip through bf16 before the head
    assert inner.dtype == torch.float32 and torch.equal(inner, inner.bfloat16().float())  # blocks: cast back


def test_fused_rms_norm_and_flip_rotation_equal_the_official_formulas_bit_for_bit():
    x = torch.randn(4, 7, 64, generator=torch.Generator().manual_seed(2)) * 3
    norm = RMSNorm(64)
    norm.weight.data = torch.rand(64) + 0.5
    official = (x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-5)) * norm.weight
    assert norm.eps == 1e-5 and torch.equal(norm(x), official)
    rotary = RotaryEmbedding(16)
    q = x.view(4, 7, 4, 16).transpose(1, 2)  # (B, H, T, hd)
    positions = torch.arange(7)
    angles = torch.outer(positions.float(), rotary.inv_freq).repeat(1, 2)
    rotate_half = torch.cat((-q[..., 8:], q[..., :8]), dim=-1)
    official = q * angles.cos() + rotate_half * angles.sin()
    assert torch.equal(rotary.rotate(q, *rotary.tables(positions, q.dtype)), official)


def test_static_cache_attends_only_where_the_mask_allows():
    cache = StaticKVCache.zeros(1, 1, 4, 2, device="cpu", dtype=torch.float32)
    cache.values.fill_(1e6)  # what masked slots hold must not reach the output (finite: see StaticKVCache)
    keys = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    cache.write(keys, keys * 10, torch.tensor([0, 2]))
    mask = torch.tensor([[True, False, True, False]])
    out = cache.attend(torch.ones(1, 1, 1, 2), mask)
    torch.testing.assert_close(out, torch.full((1, 1, 1, 2), 5.0))


def test_compiled_decode_step_traces_once_and_changes_nothing(pair, monkeypatch):
    """compile=True: every one-token step reuses one graph (no recompiles), tokens equal the eager engine's.

    The eager backend is enough to see dynamo's guards, which decide recompiles, and keeps the test fast;
    inductor compiles the same graph.
    """
    import torch._dynamo
    from torch._dynamo.utils import counters

    from kronos_quant.inference import cached

    _, model = pair
    torch._dynamo.reset()
    counters.clear()
    monkeypatch.setattr(cached, "compiled_feed_token",
                        lambda device_type: torch.compile(cached.feed_token, backend="eager", dynamic=False))
    s1, s2 = torch.randint(0, 64, (2, 2, 20), generator=torch.Generator().manual_seed(4))
    stamps = torch.randint(0, 7, (2, 28, 5), generator=torch.Generator().manual_seed(5))
    uniforms = draw_uniforms(2, 3, 8, seed=0)
    outputs = []
    for compile_step in (False, True, True):  # the second compiled call makes new caches: still no recompile
        config = GenerationConfig(pred_len=8, sampling=NUCLEUS, sample_count=3, compile=compile_step)
        with torch.inference_mode():
            outputs.append(generate_tokens(model, s1, s2, stamps, config, uniforms))
    assert counters["stats"]["unique_graphs"] == 1 and not counters["recompiles"], dict(counters)
    for compiled in outputs[1:]:
        assert torch.equal(outputs[0][0], compiled[0]) and torch.equal(outputs[0][1], compiled[1])
