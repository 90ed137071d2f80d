"""Shared, session-scoped fixtures: a tiny synthetic market and the read-only shared data.

qlib is never imported here at import time; tests that need it import it themselves.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from kronos_test_helpers import find_shared_dir, shared_subfolder

pytest_plugins = ("repo_guard",)  # the suite must not write into the repository (tests/repo_guard.py)

os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

REPO_ROOT = Path(__file__).resolve().parents[1]

# 40 stocks over ~2.5 years; the `csi300` universe holds 25 of them (plus benchmark SH000300)
TINY_MARKET_KWARGS = dict(seed=7, n_instruments=40, universe_size=25, start="2020-01-02",
                          end="2022-06-30", n_industries=8)


@pytest.fixture(scope="session")
def tiny_market_config():
    """The SynthConfig behind ``tiny_market``."""
    from kronos_quant.data.synth import SynthConfig

    return SynthConfig(**TINY_MARKET_KWARGS)


@pytest.fixture(scope="session")
def tiny_market(tmp_path_factory, tiny_market_config) -> Path:
    """Path to a Qlib provider dir with the tiny synthetic market (universes: all, csi300, index)."""
    from kronos_quant.data.synth import write_synthetic_market

    return write_synthetic_market(tmp_path_factory.mktemp("synth") / "cn_tiny", tiny_market_config)


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    """/work/shared (or $KRONOS_SHARED_DIR); skips when absent. Tests using it are marked ``shared``."""
    path = find_shared_dir()
    if path is None:
        pytest.skip("../shared absent")
    return path


def pytest_collection_modifyitems(config, items):
    """Every test that needs ../shared (the ``shared_dir`` fixture, directly or through another fixture) carries
    the ``shared`` marker, so ``-m "not shared"`` deselects exactly those."""
    for item in items:
        if "shared_dir" in getattr(item, "fixturenames", ()) and item.get_closest_marker("shared") is None:
            item.add_marker(pytest.mark.shared)


@pytest.fixture(scope="session")
def parity_dir(shared_dir) -> Path:
    """Tiny random checkpoints in the official layout + the reference implementation's outputs."""
    return shared_subfolder(shared_dir, "fixtures/kronos_parity")


@pytest.fixture(scope="session")
def official_dir(shared_dir) -> Path:
    """The official config.json files and expected tensor names/shapes."""
    return shared_subfolder(shared_dir, "fixtures/official_checkpoints")


@pytest.fixture(scope="session")
def csi300_provider(shared_dir) -> Path:
    """The real CSI300 Qlib provider in shared/data/qlib_cn_csi300 (a failure naming it when ../shared lacks it)."""
    return shared_subfolder(shared_dir, "data/qlib_cn_csi300")


@pytest.fixture(scope="session")
def init_qlib():
    """Callable ``init_qlib(provider_dir)``: qlib.init on that provider (region cn, one kernel, no caches).

    qlib is process-global; the callable re-initialises only when the provider changes.
    """

    def _init(provider) -> None:
        from kronos_quant.qlib_ext.qlib_setup import init_qlib

        init_qlib(provider_uri=provider, reuse=True)

    return _init
