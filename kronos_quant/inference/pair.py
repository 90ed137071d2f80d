"""A tokenizer and predictor that belong together, loaded onto one device."""
from __future__ import annotations

from typing import NamedTuple

import torch

from kronos_quant.model.kronos import Kronos
from kronos_quant.model.tokenizer import KronosTokenizer


class KronosPair(NamedTuple):
    """A tokenizer and predictor in eval mode on one device."""

    tokenizer: KronosTokenizer
    model: Kronos
    device: torch.device


def check_pair(tokenizer, model, *, where: str = "") -> None:
    """A TypeError unless (tokenizer, model) are a KronosTokenizer and a Kronos; a ValueError unless
    they share s1_bits and s2_bits (were trained together)."""
    if not isinstance(model, Kronos) or not isinstance(tokenizer, KronosTokenizer):
        raise TypeError("pass a Kronos predictor and a KronosTokenizer, in that order: "
                        "KronosPredictor(model, tokenizer)")
    tokenizer_bits = (tokenizer.config.s1_bits, tokenizer.config.s2_bits)
    model_bits = (model.config.s1_bits, model.config.s2_bits)
    if tokenizer_bits != model_bits:
        raise ValueError(f"model and tokenizer disagree on s1_bits/s2_bits (tokenizer {tokenizer_bits}, predictor "
                         f"{model_bits}){where}: they were not trained together; pair matching checkpoints")


def load_pair(tokenizer_path: str, predictor_path: str, device: torch.device) -> KronosPair:
    """Load both checkpoints strictly; a ValueError if they were not trained together."""
    tokenizer = KronosTokenizer.from_pretrained(tokenizer_path, device=device)
    model = Kronos.from_pretrained(predictor_path, device=device)
    check_pair(tokenizer, model, where=f" in {tokenizer_path} and {predictor_path}")
    return KronosPair(tokenizer.eval(), model.eval(), device)
