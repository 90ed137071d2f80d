"""One qlib.init for the package: defaults, provider checks, re-use of a live session."""
from __future__ import annotations

import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "kronos_quant"


def test_qlib_init_is_called_in_one_module_only():
    callers = sorted(str(path.relative_to(PACKAGE)) for path in PACKAGE.rglob("*.py")
                     if re.search(r"^\s*qlib\.init\(", path.read_text(), flags=re.M))
    assert callers == ["qlib_ext/qlib_setup.py"]


def test_a_folder_without_calendar_is_rejected(tmp_path):
    from kronos_quant.qlib_ext.qlib_setup import init_qlib

    with pytest.raises(ValueError, match="not a Qlib data dir"):
        init_qlib(provider_uri=tmp_path)


def test_reuse_keeps_the_live_session_and_a_new_provider_reinitialises(tiny_market, tmp_path):
    from qlib.config import C

    from kronos_quant.qlib_ext.qlib_setup import current_provider, init_qlib

    init_qlib(provider_uri=tiny_market, reuse=True)
    assert current_provider() == Path(tiny_market).resolve()
    C["kronos_marker"] = 1  # survives only if qlib.init is not called again
    init_qlib(provider_uri=tiny_market, reuse=True)
    assert C.get("kronos_marker") == 1
    init_qlib(tracking_uri=f"file:{tmp_path / 'mlruns'}", reuse=True)  # any provider is fine here
    assert C.get("kronos_marker") == 1
    init_qlib(provider_uri=tiny_market)  # reuse=False: a fresh session
    assert C.get("kronos_marker") is None
    assert C["kernels"] == 1 and C["expression_cache"] is None

