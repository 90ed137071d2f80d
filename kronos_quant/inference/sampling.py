"""Batched temperature / top-k / top-p sampling driven by pre-drawn uniforms.

Each (series, path, step, head) gets its own uniform, drawn once before generation. Sampling is
the inverse CDF of the filtered distribution at that uniform, so a path does not depend on which
other series share its batch or chunk, and a seed reproduces it exactly.

Uniforms come either in series order from one seeded generator (:func:`draw_uniforms`), or per
series from a hash of ``(seed, key)`` (:func:`keyed_uniforms`). Keyed uniforms make a series' paths
independent of the other series in the call: a stock keyed ``(date, instrument)`` gets the same
forecast whatever the universe or the segment it is scored in.
"""
from __future__ import annotations

import hashlib
import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch


@dataclass(frozen=True)
class SamplingConfig:
    """How the next token is drawn from logits (the official semantics)."""

    temperature: float = 1.0  # logits are divided by this; must be > 0
    top_k: int = 0  # keep the k most likely tokens; 0 disables; top_k=1 is greedy. When > 0, top_p is ignored
    top_p: float = 1.0  # nucleus: keep the smallest set with cumulative probability >= top_p

    def __post_init__(self) -> None:
        if not (math.isfinite(self.temperature) and self.temperature > 0):
            raise ValueError(f"temperature T must be > 0 and finite, got {self.temperature}; "
                             "use top_k=1 for greedy decoding")
        if self.top_k < 0:
            raise ValueError(f"top_k must be >= 0 (0 disables it), got {self.top_k}")
        if not 0 < self.top_p <= 1:
            raise ValueError(f"top_p must be in (0, 1], got {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.top_k == 1


def filter_logits(logits: torch.Tensor, top_k: int, top_p: float) -> torch.Tensor:
    """Mask (R, V) logits to -inf outside the top-k (if top_k > 0) else outside the top-p nucleus.

    Top-p sorts once, for the nucleus' threshold logit, and filters by comparison: no scatter back through
    the sort order. The nucleus is the smallest prefix of the sorted tokens whose probability reaches top_p,
    the token that crosses it included (with exactly tied logits at the threshold, all the ties are kept).
    """
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        return logits.masked_fill(logits < kth, float("-inf"))
    if top_p < 1.0:
        sorted_logits = torch.sort(logits, descending=True, dim=-1).values
        cumulative = sorted_logits.softmax(-1).cumsum(-1)
        last = (cumulative <= top_p).sum(-1, keepdim=True).clamp_(max=logits.shape[-1] - 1)  # (R, 1) sorted index
        return logits.masked_fill(logits < sorted_logits.gather(-1, last), float("-inf"))
    return logits


def sample_tokens(logits: torch.Tensor, uniforms: torch.Tensor, config: SamplingConfig) -> torch.Tensor:
    """Draw one token per row, by the inverse CDF (in vocabulary order) of the filtered distribution.

    Args:
        logits: (R, V) next-token logits.
        uniforms: (R,) values in [0, 1), one per row.
    Returns:
        (R,) int64 token ids.
    """
    if config.greedy:
        return logits.argmax(-1)
    filtered = filter_logits(logits.float() / config.temperature, config.top_k, config.top_p)
    cdf = filtered.softmax(-1).cumsum(-1)  # (R, V)
    targets = uniforms.to(cdf.device, cdf.dtype).unsqueeze(-1) * cdf[..., -1:]
    tokens = torch.searchsorted(cdf, targets, right=True).squeeze(-1)
    # a uniform that rounds up to the total mass would step past the end: take the last kept token, where
    # the running count of kept tokens first reaches its maximum
    last_kept = (filtered > float("-inf")).cumsum(-1).argmax(-1)
    return torch.minimum(tokens, last_kept)


def draw_uniforms(n_series: int, sample_count: int, pred_len: int, *, seed: int | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
    """(n_series, sample_count, pred_len, 2) uniforms: [..., 0] for the s1 draw, [..., 1] for s2.

    Drawn on the CPU, so a seed gives the same paths on every device. Without a seed or generator,
    the seed comes from torch's global generator: ``torch.manual_seed`` then reproduces the paths,
    and that generator is advanced, not reseeded.
    """
    if generator is None:
        generator = torch.Generator()
        generator.manual_seed(int(seed) if seed is not None else _seed_from_global_rng())
    return torch.rand((n_series, sample_count, pred_len, 2), generator=generator, dtype=torch.float64)


def keyed_uniforms(keys: Sequence[Hashable], sample_count: int, pred_len: int, *, seed: int) -> torch.Tensor:
    """(len(keys), sample_count, pred_len, 2) uniforms; block n depends on ``(seed, str(keys[n]))`` only.

    Each value is the SplitMix64 finaliser of a per-key 64-bit hash plus a counter, which gives
    independent-looking uniforms in [0, 1) with 53 random bits, vectorised over all keys.
    """
    per_key = np.array([_key_hash(f"{int(seed)}\x1f{key}") for key in keys], dtype=np.uint64)
    counters = np.arange(1, sample_count * pred_len * 2 + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        mixed = _splitmix64(per_key[:, None] + counters[None, :] * np.uint64(0x9E3779B97F4A7C15))
    values = (mixed >> np.uint64(11)).astype(np.float64) * 2.0**-53
    return torch.from_numpy(values.reshape(len(keys), sample_count, pred_len, 2))


def window_uniforms(index, sample_count: int, pred_len: int, *, seed: int) -> torch.Tensor:
    """(N, P, H, 2) uniforms of windows indexed (datetime, instrument): block n is keyed by its row.

    The key is ``"YYYY-mm-dd HH:MM:SS|instrument"``, so a window's paths do not depend on the other
    windows forecast with it (universe, segment, shard).
    """
    keys = [f"{pd.Timestamp(when):%Y-%m-%d %H:%M:%S}|{instrument}" for when, instrument in index]
    return keyed_uniforms(keys, sample_count, pred_len, seed=seed)


def _seed_from_global_rng() -> int:
    return int(torch.randint(0, 2**62, (1,)).item())


def _key_hash(text: str) -> int:
    return int.from_bytes(hashlib.blake2b(text.encode("utf-8"), digest_size=8).digest(), "little")


def _splitmix64(x: np.ndarray) -> np.ndarray:
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))
