"""Typed, frozen configs for the two Kronos networks, saved as ``config.json``.

The field names are the official constructor keyword arguments, so an official
``config.json`` loads unchanged and a saved one loads in the reference code.
"""
from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

ConfigT = TypeVar("ConfigT", bound="_JsonConfig")


class _JsonConfig:
    """JSON round-trip shared by the configs: unknown keys are an error, never ignored."""

    @classmethod
    def from_dict(cls: type[ConfigT], values: dict[str, Any]) -> ConfigT:
        if not isinstance(values, dict):
            raise TypeError(f"{cls.__name__} expects a dict of keyword arguments, got {type(values).__name__}")
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - known)
        if unknown:
            raise ValueError(
                f"{cls.__name__}: unknown config keys {unknown}; valid keys are {sorted(known)}. "
                "Is this config.json for the other network (tokenizer vs predictor)?"
            )
        _check_field_types(cls, values)
        return cls(**values)

    @classmethod
    def from_json(cls: type[ConfigT], path: str | Path) -> ConfigT:
        """Read a config.json; invalid JSON or wrong values are a ValueError naming the file."""
        try:
            with open(path, encoding="utf-8") as handle:
                values = json.load(handle)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise ValueError(f"{path} is not valid JSON ({err}); re-download the checkpoint or re-save it "
                             "with save_pretrained") from None
        try:
            return cls.from_dict(values)
        except (TypeError, ValueError) as err:
            raise type(err)(f"{path}: {err}") from None

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def save_json(self, path: str | Path) -> None:
        with open(path, "w", encoding="utf-8") as handle:
            json.dump(self.to_dict(), handle, indent=2, sort_keys=True)


_JSON_TYPES = {"int": (int,), "float": (int, float), "bool": (bool,)}


def _check_field_types(cls: type, values: dict[str, Any]) -> None:
    """JSON values must have the field's type (``true`` is not an int, ``"256"`` is not a number)."""
    for item in dataclasses.fields(cls):
        if item.name not in values:
            continue
        allowed, value = _JSON_TYPES.get(str(item.type)), values[item.name]
        if allowed and (not isinstance(value, allowed) or (isinstance(value, bool) and bool not in allowed)):
            raise TypeError(f"{cls.__name__}.{item.name} must be {item.type}, got {value!r} "
                            f"({type(value).__name__}); fix config.json")


def _check_positive(owner: str, **values: float) -> None:
    for name, value in values.items():
        if value <= 0:
            raise ValueError(f"{owner}.{name} must be > 0, got {value}")


def _check_probability(owner: str, **values: float) -> None:
    for name, value in values.items():
        if not 0.0 <= value < 1.0:
            raise ValueError(f"{owner}.{name} must be in [0, 1), got {value}")


@dataclass(frozen=True)
class TokenizerConfig(_JsonConfig):
    """Hyperparameters of :class:`~kronos_quant.model.tokenizer.KronosTokenizer`."""

    d_in: int = 6  # input fields per bar: open, high, low, close, volume, amount
    d_model: int = 256  # transformer width
    n_heads: int = 4  # attention heads in encoder and decoder blocks
    ff_dim: int = 512  # SwiGLU hidden width
    n_enc_layers: int = 4  # the encoder holds n_enc_layers - 1 blocks (official quirk)
    n_dec_layers: int = 4  # the decoder holds n_dec_layers - 1 blocks (official quirk)
    ffn_dropout_p: float = 0.0
    attn_dropout_p: float = 0.0
    resid_dropout_p: float = 0.0
    s1_bits: int = 10  # bits of the coarse token: vocabulary 2**s1_bits
    s2_bits: int = 10  # bits of the fine token: vocabulary 2**s2_bits
    beta: float = 0.05  # commitment weight of the BSQ loss
    gamma0: float = 1.0  # per-sample entropy weight
    gamma: float = 1.1  # codebook entropy weight
    zeta: float = 0.05  # weight of the entropy penalty in the BSQ loss
    group_size: int = 4  # bits per group for the factorised entropy (BSQ paper, arXiv:2406.07548)

    def __post_init__(self) -> None:
        name = type(self).__name__
        _check_positive(name, d_in=self.d_in, d_model=self.d_model, n_heads=self.n_heads, ff_dim=self.ff_dim,
                        n_enc_layers=self.n_enc_layers, n_dec_layers=self.n_dec_layers,
                        s1_bits=self.s1_bits, s2_bits=self.s2_bits, group_size=self.group_size)
        _check_probability(name, ffn_dropout_p=self.ffn_dropout_p, attn_dropout_p=self.attn_dropout_p,
                           resid_dropout_p=self.resid_dropout_p)
        if self.d_model % self.n_heads:
            raise ValueError(f"{name}: d_model={self.d_model} must be divisible by n_heads={self.n_heads}")
        if (self.d_model // self.n_heads) % 2:
            raise ValueError(f"{name}: head_dim=d_model/n_heads must be even for rotary embeddings")
        if (self.s1_bits + self.s2_bits) % self.group_size:
            raise ValueError(f"{name}: s1_bits + s2_bits must be divisible by group_size={self.group_size}")

    @property
    def codebook_dim(self) -> int:
        return self.s1_bits + self.s2_bits


@dataclass(frozen=True)
class KronosConfig(_JsonConfig):
    """Hyperparameters of :class:`~kronos_quant.model.kronos.Kronos`, the decoder-only predictor."""

    s1_bits: int = 10  # must equal the paired tokenizer's s1_bits
    s2_bits: int = 10  # must equal the paired tokenizer's s2_bits
    n_layers: int = 8  # causal transformer blocks in the trunk
    d_model: int = 512  # transformer width
    n_heads: int = 8  # trunk attention heads (the dependency layer always uses 4)
    ff_dim: int = 1024  # SwiGLU hidden width
    ffn_dropout_p: float = 0.0
    attn_dropout_p: float = 0.0
    resid_dropout_p: float = 0.0
    token_dropout_p: float = 0.0  # dropout on the input embeddings
    learn_te: bool = True  # learned time embeddings (the only kind the official checkpoints use)

    def __post_init__(self) -> None:
        name = type(self).__name__
        _check_positive(name, s1_bits=self.s1_bits, s2_bits=self.s2_bits, n_layers=self.n_layers,
                        d_model=self.d_model, n_heads=self.n_heads, ff_dim=self.ff_dim)
        _check_probability(name, ffn_dropout_p=self.ffn_dropout_p, attn_dropout_p=self.attn_dropout_p,
                           resid_dropout_p=self.resid_dropout_p, token_dropout_p=self.token_dropout_p)
        for heads in (self.n_heads, 4):
            if self.d_model % heads or (self.d_model // heads) % 2:
                raise ValueError(f"{name}: d_model={self.d_model} must split into {heads} heads of even size")
        if not self.learn_te:
            raise ValueError(f"{name}: learn_te=False (fixed sinusoidal time embeddings) is not supported; "
                             "every official checkpoint uses learn_te=True")
