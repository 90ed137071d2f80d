"""Named configs of the official Kronos architectures (``kronos-large`` is architecture only)."""
from __future__ import annotations

from kronos_quant.model.config import KronosConfig, TokenizerConfig

_TOKENIZER_COMMON = dict(d_in=6, d_model=256, n_heads=4, ff_dim=512, n_enc_layers=4, n_dec_layers=4,
                         s1_bits=10, s2_bits=10, beta=0.05, gamma0=1.0, gamma=1.1, zeta=0.05)

TOKENIZER_PRESETS: dict[str, TokenizerConfig] = {
    "tokenizer-base": TokenizerConfig(**_TOKENIZER_COMMON, group_size=4),
    "tokenizer-2k": TokenizerConfig(**_TOKENIZER_COMMON, group_size=5),
}

# mini pairs with tokenizer-2k (context 2048 tokens); small, base and large with tokenizer-base (512)
PREDICTOR_PRESETS: dict[str, KronosConfig] = {
    "mini": KronosConfig(d_model=256, n_heads=4, n_layers=4, ff_dim=512, ffn_dropout_p=0.2,
                         resid_dropout_p=0.2),
    "small": KronosConfig(d_model=512, n_heads=8, n_layers=8, ff_dim=1024, attn_dropout_p=0.1,
                          ffn_dropout_p=0.25, resid_dropout_p=0.25, token_dropout_p=0.1),
    "base": KronosConfig(d_model=832, n_heads=16, n_layers=12, ff_dim=2048, ffn_dropout_p=0.2,
                         resid_dropout_p=0.2),
    # Kronos-large (499.2M parameters) was never released; 16 heads and ff_dim 3072 are our
    # reading of the published size (18 layers, d_model 1664), which they reproduce.
    "large": KronosConfig(d_model=1664, n_heads=16, n_layers=18, ff_dim=3072, ffn_dropout_p=0.2,
                          resid_dropout_p=0.2),
}


def tokenizer_config(name: str) -> TokenizerConfig:
    if name not in TOKENIZER_PRESETS:
        raise ValueError(f"unknown tokenizer preset {name!r}; choose one of {sorted(TOKENIZER_PRESETS)}")
    return TOKENIZER_PRESETS[name]


def predictor_config(name: str) -> KronosConfig:
    if name not in PREDICTOR_PRESETS:
        raise ValueError(f"unknown predictor preset {name!r}; choose one of {sorted(PREDICTOR_PRESETS)}")
    return PREDICTOR_PRESETS[name]
