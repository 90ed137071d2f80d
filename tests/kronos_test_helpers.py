"""Helpers for the tests (not part of the package): tiny configs and the location of the optional ../shared material."""
from __future__ import annotations

import os
from pathlib import Path

from kronos_quant.model.config import KronosConfig, TokenizerConfig


def find_shared_dir() -> Path | None:
    """$KRONOS_SHARED_DIR when set, else the ``shared`` folder beside the repository; None if absent."""
    configured = os.environ.get("KRONOS_SHARED_DIR")
    candidate = Path(configured) if configured else Path(__file__).resolve().parents[2] / "shared"
    return candidate if candidate.is_dir() else None


def shared_subfolder(shared_dir: Path, relative: str) -> Path:
    """``shared_dir / relative``; a test failure naming it when ../shared exists but lacks that folder.

    A missing ../shared skips (see the ``shared`` marker); a half-copied one is a broken checkout, not a skip.
    """
    import pytest

    path = Path(shared_dir) / relative
    if not path.is_dir():
        pytest.fail(f"{shared_dir} exists but lacks {relative}/ (looked for {path}): restore that folder, or point "
                    "KRONOS_SHARED_DIR at a complete copy of ../shared", pytrace=False)
    return path


def tiny_tokenizer_config(**overrides) -> TokenizerConfig:
    """A tokenizer small enough for CPU unit tests (d_model 32, 2+2 blocks)."""
    values = dict(d_in=6, d_model=32, n_heads=4, ff_dim=64, n_enc_layers=3, n_dec_layers=3, s1_bits=6,
                  s2_bits=6, group_size=4)
    values.update(overrides)
    return TokenizerConfig(**values)


def tiny_predictor_config(**overrides) -> KronosConfig:
    """A predictor small enough for CPU unit tests (d_model 32, 2 layers)."""
    values = dict(s1_bits=6, s2_bits=6, n_layers=2, d_model=32, n_heads=4, ff_dim=64)
    values.update(overrides)
    return KronosConfig(**values)
