"""Settings of token generation: horizon, context, sampling, engine and precision."""
from __future__ import annotations

from dataclasses import dataclass, field

import torch

from kronos_quant.inference.sampling import SamplingConfig

ENGINES = ("cached", "recompute")
SLIDING_MODES = ("exact", "rolling")
AUTOCAST_DTYPES = {None: None, "fp32": None, "bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass(frozen=True)
class GenerationConfig:
    """What :func:`~kronos_quant.inference.generation.generate_tokens` does."""

    pred_len: int  # future steps (bars) to generate
    max_context: int = 512  # tokens the trunk sees; past it the window slides (positions restart at 0)
    sampling: SamplingConfig = field(default_factory=SamplingConfig)
    sample_count: int = 1  # independent sample paths per series
    # "cached": KV cache + shared prefix + fine head at the new position only (default);
    # "recompute": the official algorithm, kept as the reference baseline
    engine: str = "cached"
    # past max_context: "exact" recomputes the slid window each step (matches "recompute");
    # "rolling" keeps a ring KV cache (approximate: deeper layers keep context from dropped tokens)
    sliding: str = "exact"
    # None/"fp32", "bf16" or "fp16" autocast for the networks. The engines agree token for token in
    # float32 only: under bf16 the two attention paths round differently, and near-tied logits can
    # then pick other tokens (measured: 4 of 720 greedy tokens on a tiny model).
    autocast: str | None = None
    # cached engine: torch.compile the one-token trunk step; its shapes never change, so it compiles once
    # per generation shape and never recompiles from step to step (pays off on long horizons and GPUs)
    compile: bool = False

    def __post_init__(self) -> None:
        if int(self.pred_len) < 1:
            raise ValueError(f"pred_len must be >= 1, got {self.pred_len}")
        if int(self.max_context) < 2:
            raise ValueError(f"max_context must be >= 2, got {self.max_context}")
        if int(self.pred_len) > int(self.max_context):
            raise ValueError(f"pred_len={self.pred_len} > max_context={self.max_context}: the tokenizer decodes the "
                             "last max_context tokens, so at most max_context bars can be forecast; raise "
                             "max_context or forecast a shorter horizon")
        if int(self.sample_count) < 1:
            raise ValueError(f"sample_count must be >= 1, got {self.sample_count}")
        if self.engine not in ENGINES:
            raise ValueError(f"engine must be one of {ENGINES}, got {self.engine!r}")
        if self.sliding not in SLIDING_MODES:
            raise ValueError(f"sliding must be one of {SLIDING_MODES}, got {self.sliding!r}")
        if not isinstance(self.compile, bool):
            raise TypeError(f"compile must be True or False, got {self.compile!r}")
        if self.autocast not in AUTOCAST_DTYPES:
            raise ValueError(f"autocast must be one of {list(AUTOCAST_DTYPES)}, got {self.autocast!r}")

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return AUTOCAST_DTYPES[self.autocast]
